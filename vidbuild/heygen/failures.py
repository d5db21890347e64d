"""HeyGen's render failures that will fail again: the same body sent again gets the same answer.

From the contract (/work/shared/heygen-api.md, "GET /v1/video_status.get"): a failed render's
``error.code`` (v3: ``failure_code``) is one of 40119 video too long, 400105 blocked words
detected, 400144 avatar not found, 400116 voice not found, 400168 inappropriate content,
40039 invalid text input. Each is a verdict on the body (its content, length or the IDs it
names), so resubmitting it unchanged pays nothing but is refused again; any other code (a
server fault) may succeed on a second try.
"""

from __future__ import annotations

from typing import Final

PERMANENT_RENDER_CODES: Final = frozenset({"40119", "400105", "400144", "400116", "400168", "40039"})


def is_permanent_render_failure(code: str | None) -> bool:
    """Whether a failed render's code (as the client reads it, a string) is a verdict on the body."""
    return code is not None and code.strip() in PERMANENT_RENDER_CODES
