"""What a reply means: the ``data`` of a success, or which of ``vidbuild.errors`` a failure is.

The status and error-code table is the one in the client package's docstring; the three shapes
of HeyGen's error bodies are those /work/shared/heygen-api.md records.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from vidbuild.errors import (
    ApiError,
    AuthError,
    InvalidRequestError,
    NotFoundError,
    QuotaError,
    RateLimitError,
    RequestInProgressError,
    RouteGoneError,
    ServerError,
    UncertainSubmitError,
)
from vidbuild.heygen.client._auth import ApiKeyAuth

UNCERTAIN_HINT = "the request may have reached the server, so it was not resent"
CODE_PATTERN = re.compile(r"[a-z][a-z0-9_]*")


def error_kind(status: int, code: str | None, message: str, method: str) -> type[ApiError]:
    """Which error a failed reply is; see the table in the package docstring."""
    if is_quota(status, code, message):
        return QuotaError
    if status == 429:
        return RateLimitError
    if status in (401, 403):
        return AuthError
    if status == 404:
        return NotFoundError
    if status == 410:
        return RouteGoneError
    if status == 409 and (code or "").lower() == "request_in_progress":
        # Nothing was created by this request; the twin with the same key still runs.
        return RequestInProgressError
    if 400 <= status < 500:
        return InvalidRequestError
    if status >= 500:
        # A POST that got a 5xx may still have created (and billed) a video.
        return ServerError if method == "GET" else UncertainSubmitError
    return ApiError


def is_quota(status: int, code: str | None, message: str) -> bool:
    """Out of credits or daily quota: 402, or a 429 that is not the plain rate limit."""
    code = (code or "").lower()
    if status == 402 or code in ("insufficient_credit", "trial_video_limit_exceeded"):
        return True
    if status != 429 or code == "rate_limit_exceeded":
        return False
    text = message.lower()
    return "limit" in code or "quota" in code or "credit" in code or any(
        word in text for word in ("daily", "quota", "credit"))


def read_error(response: httpx.Response) -> tuple[str | None, str]:
    """The API's error code and message, from any of the three shapes seen, or from non-JSON."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and (error.get("message") or error.get("code")):
            message = str(error.get("message") or response.reason_phrase)
            param = _text(error.get("param"))  # v3 names the offending field apart
            if param and param not in message:
                message = f"{param}: {message}"
            return _text(error.get("code")), message
        if isinstance(error, str) and error:
            # A bare identifier such as "trial_video_limit_exceeded" is a code, not prose.
            return (error if CODE_PATTERN.fullmatch(error) else None), error
        if body.get("message") or body.get("code") is not None:  # v1 flat shape
            return _text(body.get("code")), str(body.get("message") or response.reason_phrase)
    kind = response.headers.get("Content-Type", "no content type").split(";")[0]
    reason = response.reason_phrase or "error"
    return None, f"{reason} (reply without an API error body: {kind})"


def read_data(response: httpx.Response, method: str, path: str, auth: ApiKeyAuth, *,
              envelope: bool = False) -> Any:
    """The ``data`` of a successful reply (the whole object with ``envelope``).

    A POST whose reply can't be read is uncertain.
    """
    kind = ApiError if method == "GET" else UncertainSubmitError
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("data") is not None:
        # Every text of HeyGen's that vidbuild shows or stores passes here: scrubbed once, for all.
        return auth.scrub_data(body if envelope else body["data"])
    code, message = read_error(response) if isinstance(body, dict) else (None, "reply is not JSON")
    message = auth.scrub(f"success status but no data: {message}")
    code = auth.scrub(code) if code is not None else None
    if kind is UncertainSubmitError:
        message = f"{message}; {UNCERTAIN_HINT}"
    raise kind(message, status=response.status_code, code=code, method=method, path=path)


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)
