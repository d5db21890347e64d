"""HeyGen's v3 envelopes and the v3 views of a stored video: VideoDetail, bulk status, page tokens.

A video is stored once, whichever generation created it, so these views serve v2 videos
through v3 reads as well. Shapes from heygen-cli gen/video.go (VideoGet, VideoList,
VideoStatusesList) and the error envelope of its internal/errors/api_error.go.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Final

from vidbuild.emulator import media, render
from vidbuild.emulator.messages import EmulatorResponse
from vidbuild.emulator.store import Video

DOC_URL: Final = "https://developers.heygen.com/docs/error-codes"

# Legacy render states as each v3 read names them.
DETAIL_STATUS: Final = {"waiting": "pending", "pending": "pending", "processing": "processing",
                        "completed": "completed", "failed": "failed"}
BULK_STATUS: Final = {"waiting": "queued", "pending": "queued", "processing": "processing",
                      "completed": "completed", "failed": "failed"}
NOT_FOUND: Final = "not_found"

_SEQ_PREFIX: Final = "vidbuild-emulator-v3-videos:"
_OFFSET_PREFIX: Final = "vidbuild-emulator-v3-offset:"


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> EmulatorResponse:
    body = json.dumps(payload).encode()
    base = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    return EmulatorResponse(status, {**base, **(headers or {})}, body)


def v3_ok(data: Any, **extra: Any) -> EmulatorResponse:
    """200 in the v3 envelope: ``{"data": ...}``; lists add ``has_more`` and ``next_token``."""
    return _json(200, {"data": data, **extra})


def v3_error(status: int, code: str, message: str, param: str | None = None,
             headers: dict[str, str] | None = None) -> EmulatorResponse:
    """A v3 error: ``{"error": {"code", "message", "param", "doc_url"}}``."""
    error = {"code": code, "message": message, "param": param,
             "doc_url": f"{DOC_URL}#{code.replace('_', '-')}"}
    return _json(status, {"error": error}, headers)


def render_status(video: Video, now: float) -> str:
    """The legacy status (waiting … completed/failed) the video has at ``now``."""
    return render.status_at(video.created_at, video.finishes_at, video.error is not None, now)


def detail(video: Video, base_url: str, now: float, url_ttl: float) -> dict[str, Any]:
    """A VideoDetail: no ``callback_id``; once completed, signed URLs valid ``url_ttl`` seconds."""
    status = render_status(video, now)
    finished = status in ("completed", "failed")
    data: dict[str, Any] = {
        "id": video.video_id, "title": video.title, "status": DETAIL_STATUS[status],
        "created_at": int(video.created_at),
        "completed_at": int(video.finishes_at) if finished else None,
        "video_url": None, "thumbnail_url": None, "gif_url": None,
        # Captions aren't rendered by the emulator, so there is no file to point at.
        "captioned_video_url": None, "subtitle_url": None,
        "duration": None, "folder_id": folder_id(video),
        "failure_code": None, "failure_message": None,
        "video_page_url": f"{base_url}/share/{video.video_id}",
    }
    if status == "completed":
        expires = int(now + url_ttl)
        for field, extension in (("video_url", "mp4"), ("thumbnail_url", "jpg"), ("gif_url", "gif")):
            data[field] = media.signed_url(base_url, video.video_id, extension, expires)
        data["duration"] = video.duration
    elif status == "failed" and video.error is not None:
        data["failure_code"] = str(video.error.get("code"))
        data["failure_message"] = str(video.error.get("message"))
    return data


def bulk_status(video_id: str, video: Video | None, now: float) -> dict[str, Any]:
    """One entry of GET /v3/videos/statuses; ``not_found`` for an id the account doesn't hold."""
    if video is None:
        return {"video_id": video_id, "status": NOT_FOUND, "error": None}
    status = render_status(video, now)
    error = None
    if status == "failed" and video.error is not None:
        error = {"code": str(video.error.get("code")), "message": video.error.get("message")}
    return {"video_id": video_id, "status": BULK_STATUS[status], "error": error}


def folder_id(video: Video) -> str | None:
    """A v2 body may name a folder; v3 creation can't, so its videos have none."""
    try:
        body = json.loads(video.body)
    except ValueError:
        return None
    value = body.get("folder_id") if isinstance(body, dict) else None
    return value if isinstance(value, str) and value else None


def seq_token(seq: int) -> str:
    return _encode(f"{_SEQ_PREFIX}{seq}")


def token_seq(token: str) -> int | None:
    return _decode(token, _SEQ_PREFIX)


def offset_token(offset: int) -> str:
    return _encode(f"{_OFFSET_PREFIX}{offset}")


def token_offset(token: str) -> int | None:
    return _decode(token, _OFFSET_PREFIX)


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def _decode(token: str, prefix: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    number = text.removeprefix(prefix)
    if number == text or not number.isdigit():
        return None
    return int(number)
