"""The emulated v3 API's routes and endpoints: create (with Idempotency-Key), agents, reads, catalogues.

Routes (HeyGen's v3, see /work/shared/heygen-routes.md and heygen-cli gen/*.go):

    POST /v3/videos                 create, type "avatar" or "studio"; honours Idempotency-Key
    GET  /v3/videos                 list, newest first: limit 1-100 (10), token, title, folder_id
    GET  /v3/videos/statuses        ?video_ids=a,b (at most 100): one entry per id
    GET  /v3/videos/{video_id}      VideoDetail, 404 not_found for an unknown id
    POST /v3/video-agents           prompt to video; no Idempotency-Key (HeyGen's list omits it)
    GET  /v3/avatars/looks          looks: group_id, avatar_type, ownership, limit 1-50 (20), token
    GET  /v3/voices                 voices: type, engine, language, gender, limit 1-100 (20), token
    GET  /v3/users/me               the account and its remaining credits

Videos live in the same store as the v2 ones, so either generation reads the other's.
Idempotency-Key: 1-255 of ``[A-Za-z0-9_:.-]`` (else 400). Within 24 h of emulated time,
a key replays the first response that created a video, whatever the body; while that
request is still in flight (being handled, or its reply delayed by the ``slow`` fault)
the twin gets 409 ``request_in_progress``. A request refused before creating anything
(400, quota, the rendering cap) leaves the key unused. Faults use the legacy scopes:
creates are "submit", status and detail reads "status", the list "list", looks, voices
and users/me "catalogue".
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import math
import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any, Final, Protocol

from vidbuild.emulator import catalogue, render, v3_catalogue
from vidbuild.emulator.config import EmulatorConfig
from vidbuild.emulator.messages import EmulatorRequest, EmulatorResponse, file_refused
from vidbuild.emulator.store import KeyRecord, Video, VideoStore
from vidbuild.emulator.v3_payloads import (
    bulk_status,
    detail,
    folder_id,
    offset_token,
    seq_token,
    token_offset,
    token_seq,
    v3_error,
    v3_ok,
)
from vidbuild.emulator.v3_validation import IdCheck, check_agent, check_video
from vidbuild.errors import EmulatorRefusal
from vidbuild.heygen import routes

CREATE_ENDPOINT: Final = f"POST {routes.V3_VIDEOS_ROUTE}"
# An unfinished claim on a key older than this (emulated seconds) belongs to a dead process.
ABANDONED_CLAIM_SECONDS: Final = 300.0
# A video clip scene without narration plays its clip, whose length the emulator doesn't read.
ASSUMED_CLIP_SECONDS: Final = 5.0

_KEY: Final = re.compile(routes.IDEMPOTENCY_KEY_PATTERN)
_STORE_BATCH: Final = 200
_STALLED_FOR: Final = 3600.0   # how far off a stalled render's end looks to a read


class FaultDraws(Protocol):
    """The faults drawn for one request: call with a fault kind; ``delay`` is how late it answers."""

    delay: float

    def __call__(self, kind: str) -> bool: ...


# An endpoint's answer to (parsed body, now, faults drawn for the request).
Answer = Callable[[object, float, FaultDraws], EmulatorResponse]


class V3Endpoints:
    """Answers the v3 routes from the shared store; auth and request faults come first (app.py)."""

    def __init__(self, config: EmulatorConfig, store: VideoStore,
                 pick: Callable[[tuple[Any, ...]], Any],
                 retry_after_headers: Callable[[], dict[str, str]], no_body: object,
                 accepted_unknown: Callable[[list[str]], None],
                 stalled: Callable[[Video], bool] = lambda video: False,
                 created: Callable[[Video], None] = lambda video: None) -> None:
        self._config = config
        self._created = created   # told of each video stored (previews start on it)
        # Told the IDs outside the catalogue a lenient emulator let through (the v2 routes' note).
        self._accepted_unknown = accepted_unknown
        self._stalled = stalled
        self._store = store
        self._pick = pick
        self._retry_after_headers = retry_after_headers
        self._no_body = no_body

    def route(self, request: EmulatorRequest) -> tuple[str, Answer] | EmulatorResponse:
        """The fault scope and answer for a /v3/ request, or the 404/405 it gets instead."""
        path, method = request.path, request.method
        table: dict[str, dict[str, tuple[str, Answer]]] = {
            routes.V3_VIDEOS_ROUTE: {
                "POST": ("submit", lambda body, now, draws: self.create_video(request, body, now,
                                                                              draws)),
                "GET": ("list", lambda body, now, draws: self.list_videos(request, now))},
            routes.V3_STATUSES_ROUTE: {
                "GET": ("status", lambda body, now, draws: self.statuses(request, now))},
            routes.V3_AGENTS_ROUTE: {
                "POST": ("submit", lambda body, now, draws: self.create_agent(body, now, draws))},
            routes.V3_LOOKS_ROUTE: {"GET": ("catalogue", lambda body, now, draws: self.looks(request))},
            routes.V3_VOICES_ROUTE: {"GET": ("catalogue", lambda body, now, draws: self.voices(request))},
            routes.V3_ME_ROUTE: {"GET": ("catalogue", lambda body, now, draws: self.me(now))},
        }
        video_id = path.removeprefix(routes.V3_VIDEO_ROUTE_PREFIX)
        if path not in table and path.startswith(routes.V3_VIDEO_ROUTE_PREFIX) and video_id \
                and "/" not in video_id:
            table[path] = {"GET": ("status", lambda body, now, draws: self.video(
                request, video_id, now))}
        methods = table.get(path)
        if methods is None:
            return v3_error(404, "not_found", f"No route for {path}")
        if method not in methods:
            return v3_error(405, "method_not_allowed", f"{method} is not allowed on {path}")
        return methods[method]

    # --- creating ---------------------------------------------------------------------------

    def create_video(self, request: EmulatorRequest, body: object, now: float,
                     draws: FaultDraws) -> EmulatorResponse:
        """POST /v3/videos, replaying or refusing a request whose Idempotency-Key was seen."""
        key = request.header("Idempotency-Key")
        if key is None:
            return self._create_video(body, now, draws)
        if not _KEY.fullmatch(key):
            return v3_error(400, "invalid_parameter", "Idempotency-Key must be 1 to 255 characters "
                            "of A-Z, a-z, 0-9, '_', ':', '.' and '-'", param="Idempotency-Key")
        held = self._store.claim_key(CREATE_ENDPOINT, key, now=now,
                                     window=routes.IDEMPOTENCY_WINDOW_SECONDS,
                                     abandoned_after=ABANDONED_CLAIM_SECONDS)
        if held is not None:
            return _replay(held, now)
        try:
            response = self._create_video(body, now, draws)
        except BaseException:
            self._store.release_key(CREATE_ENDPOINT, key)
            raise
        if response.status == 200:
            # Until its reply has gone out, the first request still counts as in flight.
            self._store.finish_key(CREATE_ENDPOINT, key, ready_at=now + draws.delay,
                                   status=response.status, headers=response.headers,
                                   body=response.body)
        else:
            self._store.release_key(CREATE_ENDPOINT, key)
        return response

    def _create_video(self, body: object, now: float, draws: FaultDraws) -> EmulatorResponse:
        judged = self._judge(body, check_video)
        if isinstance(judged, EmulatorResponse):
            return judged
        assert isinstance(body, dict)  # check_video refuses anything else
        created = self._add("video", body, video_seconds(body), now, draws)
        if isinstance(created, EmulatorResponse):
            return created
        self._accepted_unknown(judged.unknown)
        return v3_ok({"video_id": created.video_id, "status": "waiting",
                      "output_format": body.get("output_format") or "mp4"})

    def create_agent(self, body: object, now: float, draws: FaultDraws) -> EmulatorResponse:
        """POST /v3/video-agents: a session whose one video renders like any other."""
        judged = self._judge(body, check_agent)
        if isinstance(judged, EmulatorResponse):
            return judged
        assert isinstance(body, dict)
        seconds = max(5.0, len(body["prompt"]) / render.CHARS_PER_SECOND)
        created = self._add("agent", body, seconds, now, draws)
        if isinstance(created, EmulatorResponse):
            return created
        self._accepted_unknown(judged.unknown)
        return v3_ok({"session_id": f"session-{secrets.token_hex(16)}", "status": "generating",
                      "video_id": created.video_id, "created_at": int(now)})

    def _judge(self, body: object, check: Callable[[object, IdCheck], None]) -> EmulatorResponse | IdCheck:
        """HeyGen's refusal of ``body``, or the catalogue IDs it names that the emulator let through."""
        if body is self._no_body:
            return v3_error(400, "invalid_parameter", "Request body must be valid JSON")
        ids = IdCheck(strict=self._config.strict_catalogue)
        try:
            check(body, ids)
        except EmulatorRefusal as refusal:
            return v3_error(refusal.status, refusal.code, refusal.message, refusal.param)
        return ids

    def _add(self, kind: str, body: dict[str, Any], seconds: float, now: float,
             draws: FaultDraws) -> Video | EmulatorResponse:
        """Store a new video (a quota or rendering-cap answer instead, as for v2)."""
        if draws("quota"):
            return v3_error(429, "trial_video_limit_exceeded",
                            "You have reached your daily api trial limit.")
        failure = render.drawn_failure(draws, self._pick)
        plan = render.plan_for_duration(seconds, speed=self._config.speed, failure=failure,
                                        max_video_seconds=self._config.max_video_seconds)
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        # v3 echoes callback_id in webhooks only, never in a read.
        video = Video(
            video_id=secrets.token_hex(16), kind=kind, title=body.get("title"),
            callback_id=body.get("callback_id"), callback_echoed=False, created_at=now,
            finishes_at=now + plan.render_seconds, duration=plan.duration, error=plan.error,
            body_hash=hashlib.sha256(canonical.encode()).hexdigest(), body=canonical)
        stored = self._store.add_video(video, max_rendering=self._config.max_concurrent, now=now)
        if stored is None:
            return v3_error(429, "rate_limit_exceeded",
                            "Too many videos are rendering at once; retry later.",
                            headers=self._retry_after_headers())
        self._created(stored)
        return stored

    # --- reading ----------------------------------------------------------------------------

    def video(self, request: EmulatorRequest, video_id: str, now: float) -> EmulatorResponse:
        """GET /v3/videos/{video_id}."""
        video = self._store.video(video_id)
        if video is None:
            return v3_error(404, "not_found", f"Video {video_id} not found", param="video_id")
        return v3_ok(detail(self._as_seen(video, now), request.base_url, now, self._config.url_ttl))

    def statuses(self, request: EmulatorRequest, now: float) -> EmulatorResponse:
        """GET /v3/videos/statuses?video_ids=a,b: in the order asked, each id once."""
        if request.query.get("batch_ids"):
            return v3_error(400, "invalid_parameter", "batch_ids: batches are not emulated",
                            param="batch_ids")
        ids = list(dict.fromkeys(part.strip() for part in request.query.get("video_ids", "")
                                 .split(",") if part.strip()))
        if not ids:
            return v3_error(400, "invalid_parameter", "video_ids: at least one id is required",
                            param="video_ids")
        if len(ids) > routes.V3_MAX_STATUS_IDS:
            return v3_error(400, "invalid_parameter", f"video_ids: at most "
                            f"{routes.V3_MAX_STATUS_IDS} ids per request, got {len(ids)}",
                            param="video_ids")
        found = {video_id: self._store.video(video_id) for video_id in ids}
        entries = [bulk_status(video_id, video and self._as_seen(video, now), now)
                   for video_id, video in found.items()]
        return v3_ok(entries, has_more=False, next_token=None)

    def list_videos(self, request: EmulatorRequest, now: float) -> EmulatorResponse:
        """GET /v3/videos: newest first, filtered by title substring and folder."""
        limit = _limit(request, default=10, most=routes.V3_MAX_VIDEO_PAGE)
        if isinstance(limit, EmulatorResponse):
            return limit
        token = request.query.get("token")
        before = token_seq(token) if token else None
        if token and before is None:
            return v3_error(400, "invalid_parameter", "token is invalid", param="token")
        matches = []
        for video in self._matching(before, request.query.get("title"),
                                    request.query.get("folder_id"), now - self._config.list_lag):
            matches.append(video)
            if len(matches) > limit:  # one extra tells whether another page follows
                break
        page = matches[:limit]
        has_more = len(matches) > limit
        return v3_ok([detail(self._as_seen(v, now), request.base_url, now, self._config.url_ttl)
                      for v in page],
                     has_more=has_more, next_token=seq_token(page[-1].seq) if has_more else None)

    def _as_seen(self, video: Video, now: float) -> Video:
        """The video as reads show it: a render the ``render_stall`` fault holds stays processing,
        as on the legacy status route (see ``Endpoints.render_status``)."""
        if not self._stalled(video) or now < video.finishes_at:
            return video
        return dataclasses.replace(video, finishes_at=now + _STALLED_FOR, error=None)

    def _matching(self, before: int | None, title: str | None, folder: str | None,
                  created_by: float) -> Iterator[Video]:
        """Videos newest first, as a list that lags ``list_lag`` seconds behind shows them."""
        while True:
            batch = self._store.videos(limit=_STORE_BATCH, before_seq=before,
                                       title_contains=title or None, created_by=created_by)
            yield from (v for v in batch if not folder or folder_id(v) == folder)
            if len(batch) < _STORE_BATCH:
                return
            before = batch[-1].seq

    def share_page(self, request: EmulatorRequest, now: float) -> EmulatorResponse:
        """GET /share/{video_id}: the page a VideoDetail's ``video_page_url`` points at."""
        video = self._store.video(request.path.removeprefix("/share/"))
        if video is None:
            return file_refused(404, "No such video page.")
        data = detail(video, request.base_url, now, self._config.url_ttl)
        title = html.escape(data["title"] or data["id"])
        player = (f'<video controls src="{html.escape(data["video_url"])}"></video>'
                  if data["video_url"] else f"<p>{html.escape(data['status'])}</p>")
        page = (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>"
                f"<body><h1>{title}</h1>{player}</body></html>").encode()
        headers = {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(len(page))}
        return EmulatorResponse(200, headers, b"" if request.method == "HEAD" else page)

    # --- catalogues and the account ---------------------------------------------------------

    def looks(self, request: EmulatorRequest) -> EmulatorResponse:
        """GET /v3/avatars/looks; every emulated look is public."""
        query = request.query
        for name, choices in (("avatar_type", v3_catalogue.LOOK_TYPES),
                              ("ownership", ("public", "private"))):
            if query.get(name) and query[name] not in choices:
                return v3_error(400, "invalid_parameter", f"{name}: {query[name]!r} is not one of "
                                f"{', '.join(choices)}", param=name)
        looks = [look for look in v3_catalogue.LOOKS
                 if query.get("ownership") != "private"
                 and query.get("avatar_type", look.avatar_type) == look.avatar_type
                 and query.get("group_id", look.group_id) == look.group_id]
        return _offset_page(request, looks, routes.V3_MAX_LOOK_PAGE,
                            lambda look: v3_catalogue.look_payload(look, request.base_url))

    def voices(self, request: EmulatorRequest) -> EmulatorResponse:
        """GET /v3/voices; every emulated voice is public and serves any ``engine``."""
        query = request.query
        kind = query.get("type") or "public"
        if kind not in ("public", "private"):
            return v3_error(400, "invalid_parameter", f"type: {kind!r} is not one of public, "
                            "private", param="type")
        voices = [voice for voice in catalogue.VOICES if kind == "public"
                  and _same(query.get("language"), voice.language)
                  and _same(query.get("gender"), voice.gender)]
        return _offset_page(request, voices, routes.V3_MAX_VOICE_PAGE,
                            lambda voice: v3_catalogue.voice_payload(voice, request.base_url))

    def me(self, now: float) -> EmulatorResponse:
        """GET /v3/users/me: 1 credit per started minute of every completed video, out of the
        account's starting video time (``quota_seconds``, as GET /v2/user/remaining_quota)."""
        seconds = sum(video.duration for video in self._store.videos()
                      if video.error is None and video.finishes_at <= now)
        return v3_ok(v3_catalogue.user_payload(math.ceil(seconds / 60.0),
                                               starting=self._config.quota_seconds / 60.0))


def video_seconds(body: dict[str, Any]) -> float:
    """The length of the video a valid POST /v3/videos body describes, in seconds."""
    if body["type"] == "avatar":
        return max(1.0, _voiced_seconds(body))
    return max(1.0, sum(scene_seconds(scene) for scene in body["scenes"]))


def scene_seconds(scene: dict[str, Any]) -> float:
    """How long one scene of a valid studio body runs, in seconds."""
    if scene["type"] == "avatar_video":
        return _voiced_seconds(scene["input"])
    if scene.get("duration") is not None:
        return float(scene["duration"])
    if any(scene.get(name) for name in ("script", "audio_url", "audio_asset_id")):
        return _voiced_seconds(scene)
    return ASSUMED_CLIP_SECONDS


def _voiced_seconds(holder: dict[str, Any]) -> float:
    script = holder.get("script")
    if not script:
        return render.ASSUMED_AUDIO_SECONDS
    speed = (holder.get("voice_settings") or {}).get("speed") or 1.0
    return render.spoken_seconds(script, float(speed))


def _replay(held: KeyRecord, now: float) -> EmulatorResponse:
    if held.ready_at is None or now < held.ready_at or held.status is None:
        return v3_error(409, "request_in_progress", "A request with this Idempotency-Key is "
                        "still being processed; retry later with the same key.",
                        param="Idempotency-Key")
    return EmulatorResponse(held.status, dict(held.headers or {}), held.body or b"")


def _limit(request: EmulatorRequest, *, default: int, most: int) -> int | EmulatorResponse:
    text = request.query.get("limit")
    try:
        limit = int(text) if text else default
    except ValueError:
        limit = 0
    if not 1 <= limit <= most:
        return v3_error(400, "invalid_parameter", f"limit: must be a whole number from 1 to {most}",
                        param="limit")
    return limit


def _offset_page(request: EmulatorRequest, items: list[Any], most: int,
                 payload: Callable[[Any], dict[str, Any]]) -> EmulatorResponse:
    limit = _limit(request, default=20, most=most)
    if isinstance(limit, EmulatorResponse):
        return limit
    token = request.query.get("token")
    offset = token_offset(token) if token else 0
    if offset is None:
        return v3_error(400, "invalid_parameter", "token is invalid", param="token")
    page = items[offset:offset + limit]
    has_more = offset + limit < len(items)
    return v3_ok([payload(item) for item in page], has_more=has_more,
                 next_token=offset_token(offset + limit) if has_more else None)


def _same(wanted: str | None, value: str) -> bool:
    return not wanted or wanted.lower() == value.lower()
