"""The emulated API's endpoints (submit, status, list, catalogues, media files) as pure functions."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from vidbuild.emulator import catalogue, library, media, render
from vidbuild.emulator.config import EmulatorConfig
from vidbuild.emulator.messages import (
    EmulatorRequest,
    EmulatorResponse,
    api_error,
    file_refused,
    file_response,
    invalid,
    v1_ok,
    v2_ok,
)
from vidbuild.emulator.preview import Previews
from vidbuild.emulator.store import Video, VideoStore
from vidbuild.emulator.validation import as_sent_unset, check_submission, unknown_ids

# GET /v1/video.list pages by `limit` (0 to 100 per HeyGen's reference) and knows no other size
# parameter; the reference gives no default page, so the emulator takes a small one (as GET
# /v2/videos has), which makes a client that asks by another name visibly get short pages.
DEFAULT_PAGE_SIZE: Final = 10
MAX_PAGE_SIZE: Final = 100
_TOKEN_PREFIX: Final = "vidbuild-emulator-page:"

# Decides whether a named submit fault strikes this request; the Emulator owns the RNG.
Strikes = Callable[[str], bool]
# Stands for the parsed body when it is empty or not JSON.
NO_BODY: Final = object()
# A page of videos, newest first, and the token of the next page (None: the last).
_Page = tuple[list[Video], str | None]


@dataclass(frozen=True)
class _Refused:
    """A query parameter the list endpoints refuse, and why."""

    parameter: str
    message: str


class Endpoints:
    """Answers each route from the store; the caller has already applied auth and request faults."""

    def __init__(self, config: EmulatorConfig, store: VideoStore,
                 pick: Callable[[tuple[Any, ...]], Any],
                 accepted_unknown: Callable[[list[str]], None] = lambda ids: None) -> None:
        self._config = config
        self._store = store
        self._pick = pick
        self._accepted_unknown = accepted_unknown
        self.previews = Previews(config.previews, store)

    def retry_after_headers(self) -> dict[str, str]:
        seconds = self._config.retry_after
        # Whole seconds as HTTP has it; a fraction only when a test asked for one.
        text = str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"
        return {"Retry-After": text}

    def submit(self, kind: str, body: object, now: float, strikes: Strikes) -> EmulatorResponse:
        """POST /v2/video/generate and /v1/video_agent/generate."""
        if body is NO_BODY:
            return invalid("Request body must be valid JSON")
        body = as_sent_unset(body)
        strict = self._config.strict_catalogue
        problem = check_submission(kind, body, strict_catalogue=strict)
        if problem or not isinstance(body, dict):  # the schema already requires an object
            return invalid(problem or "Request body must be a JSON object")
        unknown = [] if strict else unknown_ids(kind, body)
        if strikes("quota"):
            return api_error(429, "trial_video_limit_exceeded",
                             "You have reached your daily api trial limit.")
        failure = render.drawn_failure(strikes, self._pick)
        video = self._new_video(kind, body, now, failure)
        stored = self._store.add_video(video, max_rendering=self._config.max_concurrent, now=now)
        if stored is None:
            return api_error(429, "rate_limit_exceeded",
                             "Too many videos are rendering at once; retry later.",
                             self.retry_after_headers())
        if unknown:
            self._accepted_unknown(unknown)
        self.previews.created(stored)
        return v2_ok({"video_id": stored.video_id})

    def _new_video(self, kind: str, body: dict[str, Any], now: float,
                   failure: tuple[int, str, str] | None) -> Video:
        plan = render.plan_render(kind, body, speed=self._config.speed, failure=failure,
                                  max_video_seconds=self._config.max_video_seconds)
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return Video(
            video_id=secrets.token_hex(16), kind=kind, title=body.get("title"),
            # Validation refused an agent callback_id without a callback_url: every one is echoed.
            callback_id=body.get("callback_id"), callback_echoed=True, created_at=now,
            finishes_at=now + plan.render_seconds, duration=plan.duration, error=plan.error,
            body_hash=hashlib.sha256(canonical.encode()).hexdigest(), body=canonical)

    def status(self, request: EmulatorRequest, now: float) -> EmulatorResponse:
        """GET /v1/video_status.get?video_id=ID."""
        video_id = request.query.get("video_id", "")
        if not video_id:
            return invalid("video_id is required")
        video = self._store.video(video_id)
        if video is None:
            return api_error(404, "not_found", f"Video {video_id} not found")
        return v1_ok(self._status_data(video, request.base_url, now))

    def render_status(self, video: Video, now: float) -> str:
        """The video's status at ``now``; a stalled render stays "processing" while the fault is on."""
        status = render.status_at(video.created_at, video.finishes_at, video.error is not None, now)
        if status in ("completed", "failed") and self.stalled(video):
            return "processing"
        return status

    def stalled(self, video: Video) -> bool:
        """Whether ``render_stall`` holds this video: chosen by its body and the seed, so the same
        body stalls again if it is resubmitted, and lifting the fault lets it finish."""
        rate = self._config.fault_rate("render_stall", "submit")
        if rate <= 0.0:
            return False
        digest = hashlib.sha256(f"{self._config.seed}:{video.body_hash}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2.0**64 < rate

    def _status_data(self, video: Video, base_url: str, now: float) -> dict[str, Any]:
        status = self.render_status(video, now)
        data: dict[str, Any] = {
            "id": video.video_id, "status": status,
            "callback_id": video.callback_id if video.callback_echoed else None,
            "video_url": None, "thumbnail_url": None, "gif_url": None, "caption_url": None,
            "duration": None, "created_at": int(video.created_at), "error": None,
        }
        if status == "completed":
            # Fresh signed URLs on every call, as HeyGen gives.
            expires = int(now + self._config.url_ttl)
            data["video_url"] = media.signed_url(base_url, video.video_id, "mp4", expires)
            data["thumbnail_url"] = media.signed_url(base_url, video.video_id, "jpg", expires)
            data["gif_url"] = media.signed_url(base_url, video.video_id, "gif", expires)
            data["duration"] = video.duration
        elif status == "failed":
            data["error"] = video.error
        return data

    def list(self, request: EmulatorRequest, now: float) -> EmulatorResponse:
        """GET /v1/video.list?limit=N&token=T, newest first; an unknown ``page_size`` is ignored."""
        page = self._page(request, now, minimum=0)
        if isinstance(page, _Refused):
            return invalid(page.message)
        videos, next_token = page
        return v1_ok({"videos": [self._list_item(v, now) for v in videos], "token": next_token})

    def videos(self, request: EmulatorRequest, now: float) -> EmulatorResponse:
        """GET /v2/videos?limit=N&token=T&title=TEXT&folder_id=F, newest first."""
        if request.query.get("folder_id"):
            return library.list_response([], None, request, self._config, now)  # no folders here
        page = self._page(request, now, minimum=1, title_contains=request.query.get("title") or None)
        if isinstance(page, _Refused):
            return library.standard_error(400, "invalid_parameter", page.message, page.parameter)
        return library.list_response(*page, request, self._config, now)

    def video_detail(self, request: EmulatorRequest, now: float) -> EmulatorResponse:
        """GET /v2/videos/{video_id}."""
        return library.detail_response(request, self._config, self._store, now)

    def remaining_quota(self) -> EmulatorResponse:
        """GET /v2/user/remaining_quota."""
        return library.remaining_quota(self._config, self._store)

    def _list_item(self, video: Video, now: float) -> dict[str, Any]:
        # No callback_id here: the real list doesn't carry it, which is why reconciliation
        # has to ask video_status.get about each candidate.
        return {
            "video_id": video.video_id,
            "video_title": video.title,
            "status": self.render_status(video, now),
            "created_at": int(video.created_at),
            "type": "GENERATED",
        }

    def _page(self, request: EmulatorRequest, now: float, *, minimum: int, title_contains: str | None = None
              ) -> _Page | _Refused:
        """One page of videos, newest first, by the ``limit`` and ``token`` query parameters (an
        empty value counts as unset, as a JSON null does), or why they are refused."""
        text = request.query.get("limit") or ""
        try:
            limit = int(text) if text else DEFAULT_PAGE_SIZE
        except ValueError:
            return _Refused("limit", "'limit' must be an integer.")
        if not minimum <= limit <= MAX_PAGE_SIZE:
            return _Refused("limit", f"'limit' must be between {minimum} and {MAX_PAGE_SIZE}.")
        limit = limit or DEFAULT_PAGE_SIZE   # 0 asks for the server's default page
        token = request.query.get("token")
        before = _token_seq(token) if token else None
        if token and before is None:
            return _Refused("token", "token is invalid")
        # One extra video tells whether another page follows; a lagging list hasn't seen the newest.
        videos = self._store.videos(limit=limit + 1, before_seq=before, title_contains=title_contains,
                                    created_by=now - self._config.list_lag)
        page = videos[:limit]
        return page, _seq_token(page[-1].seq) if len(videos) > limit else None

    def avatars(self, request: EmulatorRequest) -> EmulatorResponse:
        return v2_ok(catalogue.avatars_payload(request.base_url))

    def voices(self, request: EmulatorRequest) -> EmulatorResponse:
        return v2_ok(catalogue.voices_payload(request.base_url))

    def video_file(self, request: EmulatorRequest, now: float) -> EmulatorResponse:
        """GET /files/<video_id>.<mp4|jpg|gif>?Expires=...&Signature=..."""
        video_id, _, extension = request.path.rsplit("/", 1)[-1].partition(".")
        if extension not in media.VIDEO_FILES:
            return file_refused(404, "The specified key does not exist.")
        problem = media.url_problem(video_id, extension, request.query, now)
        if problem:
            return file_refused(403, problem)
        video = self._store.video(video_id)
        if video is None or self.render_status(video, now) != "completed":
            return file_refused(404, "The specified key does not exist.")
        content_type = media.VIDEO_FILES[extension][1]
        data = self.previews.file(video, extension)
        return file_response(media.stamped(video_id, extension, data), content_type,
                             head=request.method == "HEAD")

    def static_file(self, request: EmulatorRequest) -> EmulatorResponse:
        """GET /static/<avatars|talking_photos|voices>/<id>.<ext>: catalogue previews."""
        parts = request.path.split("/")
        if len(parts) != 4 or parts[2] not in media.STATIC_GROUPS:
            return file_refused(404, "The specified key does not exist.")
        item_id, _, extension = parts[3].rpartition(".")
        known = {"avatars": catalogue.AVATAR_IDS, "talking_photos": catalogue.TALKING_PHOTO_IDS,
                 "voices": catalogue.VOICES_BY_ID.keys()}[parts[2]]
        if item_id not in known or extension not in media.STATIC_FILES:
            return file_refused(404, "The specified key does not exist.")
        name, content_type = media.STATIC_FILES[extension]
        return file_response(media.shipped(name), content_type, head=request.method == "HEAD")


def _seq_token(seq: int) -> str:
    return base64.urlsafe_b64encode(f"{_TOKEN_PREFIX}{seq}".encode()).decode()


def _token_seq(token: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not text.startswith(_TOKEN_PREFIX) or not text[len(_TOKEN_PREFIX):].isdigit():
        return None
    return int(text[len(_TOKEN_PREFIX):])
