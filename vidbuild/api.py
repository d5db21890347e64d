"""What vidbuild knows of HeyGen's routes: the one place that names endpoints.

The build engine speaks of a job's *kind* ("video" or "agent"); the client turns a
kind into a route, and the content hash names the route so that the same body sent
to another endpoint (or a later API generation) is a different piece of work.
"""

from __future__ import annotations

from typing import Final, Literal

DEFAULT_BASE_URL: Final = "https://api.heygen.com"
# The in-process emulator answers at this address; it is never resolved over a network.
EMULATOR_BASE_URL: Final = "http://emulator.vidbuild.invalid"

JobKind = Literal["video", "agent"]

SUBMIT_ROUTES: Final[dict[str, str]] = {
    "video": "/v2/video/generate",
    "agent": "/v1/video_agent/generate",
}
STATUS_ROUTE: Final = "/v1/video_status.get"
LIST_ROUTE: Final = "/v1/video.list"
AVATARS_ROUTE: Final = "/v2/avatars"
VOICES_ROUTE: Final = "/v2/voices"

# Request-body schemas in schemas/, by job kind.
REQUEST_SCHEMAS: Final[dict[str, str]] = {
    "video": "heygen/video_generate.request.schema.json",
    "agent": "heygen/video_agent_generate.request.schema.json",
}

# Statuses video_status.get reports; anything else is treated as still running.
FINISHED_STATUSES: Final = frozenset({"completed", "failed"})


def endpoint_id(kind: str) -> str:
    """The method and route a job of this kind is submitted to, e.g. 'POST /v2/video/generate'."""
    return f"POST {SUBMIT_ROUTES[kind]}"
