"""The emulator itself: routes each request, checks the API key, applies the faults, logs it.

Both API generations are served: the legacy v1/v2 routes (``endpoints.py``) and v3
(``v3.py``), over one store of videos. With ``EmulatorConfig.legacy`` set to "gone" (or
"410") the emulator behaves as HeyGen announced for November 1, 2026: every v1/v2 route
answers 404 as for a path it never had (or 410 Gone), before any key check, except
``POST /v2/video/generate``, the Studio API that HeyGen keeps "until a v3 equivalent is
in place". Gone are therefore ``GET /v1/video_status.get``, ``GET /v1/video.list``,
``POST /v1/video_agent/generate`` (replaced by ``POST /v3/video-agents``), the
``/v2/videos`` list and detail, the ``/v2/avatars`` and ``/v2/voices`` catalogues and
``/v2/user/remaining_quota``. Media files (``/files/``, ``/static/``) are not API routes
and stay.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from vidbuild.emulator.config import EmulatorConfig
from vidbuild.emulator.endpoints import NO_BODY, Endpoints
from vidbuild.emulator.messages import EmulatorRequest, EmulatorResponse, api_error
from vidbuild.emulator.store import RecordedRequest, Video, VideoStore
from vidbuild.emulator.v3 import FaultDraws, V3Endpoints
from vidbuild.emulator.v3_payloads import v3_error
from vidbuild.heygen import routes

if TYPE_CHECKING:
    from vidbuild.emulator.transport import EmulatorTransport

# An endpoint's answer to (parsed body, now, the faults drawn for the request).
Answer = Callable[[object, float, FaultDraws], EmulatorResponse]

_API_METHODS: Final = {
    routes.SUBMIT_ROUTES["video"]: "POST",
    routes.SUBMIT_ROUTES["agent"]: "POST",
    routes.STATUS_ROUTE: "GET",
    routes.LIST_ROUTE: "GET",
    routes.AVATARS_ROUTE: "GET",
    routes.VOICES_ROUTE: "GET",
    routes.QUOTA_ROUTE: "GET",
    routes.VIDEOS_ROUTE: "GET",
}
_VIDEO_DETAIL_PREFIX: Final = routes.VIDEOS_ROUTE + "/"
_SUBMIT_KINDS: Final = {route: kind for kind, route in routes.SUBMIT_ROUTES.items()}
_FILE_PREFIXES: Final = ("/files/", "/static/", "/share/")


class Emulator:
    """A HeyGen-compatible API in a box: same routes, envelopes, validation and failure modes.

    ``handle`` is pure request-in, response-out; ``transport()`` plugs it into httpx
    without sockets, and ``vidbuild.emulator.serve`` puts it behind a loopback server.
    The counters (``requests``, ``videos``, ``callback_counts``, ``duplicate_bodies``)
    read the store, so with a ``state_dir`` they cover every process that used it.
    """

    def __init__(self, config: EmulatorConfig | None = None, *,
                 clock: Callable[[], float] = time.time,
                 on_note: Callable[[str], None] | None = None) -> None:
        self.config = config or EmulatorConfig()
        # IDs outside the catalogue that a lenient catalogue let through, each noted once.
        self._unknown_ids: dict[str, None] = {}
        self._unknown_lock = threading.Lock()
        self._on_note = on_note
        # Wall-clock time by default, so renders keep progressing across restarts.
        self._clock = clock
        self._random = random.Random(self.config.seed)
        self._random_lock = threading.Lock()
        self._store = VideoStore(self.config.state_dir)
        self._endpoints = Endpoints(self.config, self._store, self._pick, self._accepted_unknown)
        self._v3 = V3Endpoints(self.config, self._store, self._pick,
                               self._endpoints.retry_after_headers, NO_BODY, self._accepted_unknown,
                               stalled=self._endpoints.stalled, created=self._endpoints.previews.created)

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._endpoints.previews.close()
        self._store.close()

    def transport(self) -> EmulatorTransport:
        """An ``httpx.BaseTransport`` answering from this emulator in process (no sockets)."""
        from vidbuild.emulator.transport import EmulatorTransport

        return EmulatorTransport(self)

    def handle(self, request: EmulatorRequest) -> EmulatorResponse:
        """Answer one request, faults included; the caller acts out ``delay`` and ``drop``."""
        now = self._clock()
        body = _parse_body(request.body)
        route = self._route(request)
        if isinstance(route, EmulatorResponse):
            self._record(request, body, route.status, [], now)
            return route
        scope, answer = route
        strikes = _Draws(lambda kind: self._strikes(kind, scope))
        if strikes("drop_before"):
            self._record(request, body, None, strikes.struck, now)
            return EmulatorResponse(0, {}, b"", drop=True)
        strikes.delay = self.config.slow_seconds if strikes("slow") else 0.0
        response = self._gate(request, scope, strikes) or answer(body, now, strikes)
        if scope == "files" and response.status == 200 and len(response.body) > 1 \
                and strikes("truncate_download"):
            response = self._cut_off(response)
        if scope != "files" and strikes("echo_key"):
            response = _echo_key(response, request.header("X-Api-Key") or "")
        if strikes("drop_after"):
            response = replace(response, drop=True)
        self._record(request, body, response.status, strikes.struck, now)
        return replace(response, delay=strikes.delay)

    def _route(self, request: EmulatorRequest) -> tuple[str, Answer] | EmulatorResponse:
        path, method = request.path, request.method
        if path.startswith(_FILE_PREFIXES):
            if method not in ("GET", "HEAD"):
                return api_error(405, "method_not_allowed", f"{method} is not allowed on {path}")
            if path.startswith("/files/"):
                return "files", lambda body, now, strikes: self._endpoints.video_file(request, now)
            if path.startswith("/share/"):
                return "files", lambda body, now, strikes: self._v3.share_page(request, now)
            return "files", lambda body, now, strikes: self._endpoints.static_file(request)
        if path.startswith("/v3/"):
            return self._v3.route(request)
        if self.config.legacy != "served" and routes.is_legacy_route(path) \
                and path not in routes.LEGACY_ROUTES_KEPT:
            if self.config.legacy == "410":
                return api_error(410, "gone", f"{path} has been retired; use the v3 API")
            return api_error(404, "not_found", f"No route for {path}")
        expected = _API_METHODS.get(path)
        if expected is None and path.startswith(_VIDEO_DETAIL_PREFIX):
            expected = "GET"
        if expected is None:
            return api_error(404, "not_found", f"No route for {path}")
        if method != expected:
            return api_error(405, "method_not_allowed", f"{method} is not allowed on {path}")
        return self._api_answer(request)

    def _api_answer(self, request: EmulatorRequest) -> tuple[str, Answer]:
        endpoints, path = self._endpoints, request.path
        submit_kind = _SUBMIT_KINDS.get(path)
        if submit_kind is not None:
            return "submit", lambda body, now, strikes: endpoints.submit(
                submit_kind, body, now, strikes)
        if path == routes.STATUS_ROUTE:
            return "status", lambda body, now, strikes: endpoints.status(request, now)
        if path == routes.LIST_ROUTE:
            return "list", lambda body, now, strikes: endpoints.list(request, now)
        if path == routes.VIDEOS_ROUTE:
            return "list", lambda body, now, strikes: endpoints.videos(request, now)
        if path.startswith(_VIDEO_DETAIL_PREFIX):
            return "status", lambda body, now, strikes: endpoints.video_detail(request, now)
        if path == routes.QUOTA_ROUTE:
            return "catalogue", lambda body, now, strikes: endpoints.remaining_quota()
        if path == routes.AVATARS_ROUTE:
            return "catalogue", lambda body, now, strikes: endpoints.avatars(request)
        return "catalogue", lambda body, now, strikes: endpoints.voices(request)

    def _gate(self, request: EmulatorRequest, scope: str,
              strikes: Callable[[str], bool]) -> EmulatorResponse | None:
        """The answers that come before an endpoint runs: bad key, rate limit, server fault."""
        error = v3_error if request.path.startswith("/v3/") else api_error
        if scope != "files":
            key = (request.header("X-Api-Key") or "").strip()
            if not key or (self.config.api_key is not None and key != self.config.api_key):
                return error(401, "unauthorized", "Missing or invalid X-Api-Key header")
        if strikes("rate_limit"):
            return error(429, "rate_limit_exceeded", "Too many requests; retry later.",
                         headers=self._endpoints.retry_after_headers())
        if strikes("server_error"):
            return error(500, "internal_error", "Internal server error")
        return None

    def _cut_off(self, response: EmulatorResponse) -> EmulatorResponse:
        """The file's first bytes only, with nothing in the headers that gives the cut away."""
        with self._random_lock:
            keep = self._random.randrange(1, len(response.body))
        headers = {name: value for name, value in response.headers.items()
                   if name.lower() != "content-length"}
        return replace(response, headers=headers, body=response.body[:keep], cut_off=True)

    def _strikes(self, kind: str, scope: str) -> bool:
        rate = self.config.fault_rate(kind, scope)
        if rate <= 0.0:
            return False
        with self._random_lock:
            return self._random.random() < rate

    def _pick(self, options: tuple[Any, ...]) -> Any:
        with self._random_lock:
            return self._random.choice(options)

    def _record(self, request: EmulatorRequest, body: object, status: int | None,
                struck: list[str], now: float) -> None:
        if body is NO_BODY:
            body = request.body.decode("utf-8", "replace") if request.body else None
        fault = ",".join(struck) or None
        self._store.record(RecordedRequest(request.method, request.path, dict(request.query),
                                           body, status, fault, now))

    def _accepted_unknown(self, ids: list[str]) -> None:
        with self._unknown_lock:
            new = [name for name in ids if name not in self._unknown_ids]
            self._unknown_ids.update(dict.fromkeys(new))
        if new and self._on_note is not None:
            self._on_note(unknown_ids_note(new))

    def unknown_ids(self) -> list[str]:
        """The catalogue IDs this emulator accepted without knowing them (``field ID``), in the
        order first seen: a real account may refuse them. Empty with a strict catalogue."""
        with self._unknown_lock:
            return list(self._unknown_ids)

    def requests(self) -> list[RecordedRequest]:
        """Every request the emulator (or any emulator on the same state_dir) has seen, oldest first."""
        return self._store.requests()

    def videos(self) -> list[Video]:
        """Every video created, newest first."""
        return self._store.videos()

    def callback_counts(self) -> dict[str, int]:
        """How many videos each callback_id created; more than 1 means a duplicate submission."""
        return dict(Counter(v.callback_id for v in self._store.videos() if v.callback_id))

    def duplicate_bodies(self) -> list[str]:
        """The canonical JSON of every body that created more than one video."""
        counts = Counter(v.body for v in self._store.videos())
        return sorted(body for body, count in counts.items() if count > 1)


class _Draws:
    """The faults drawn for one request: those that struck, and how late its reply will be."""

    def __init__(self, draw: Callable[[str], bool]) -> None:
        self._draw = draw
        self.struck: list[str] = []
        self.delay = 0.0

    def __call__(self, kind: str) -> bool:
        if self._draw(kind):
            self.struck.append(kind)
            return True
        return False


_ECHOED_FIELDS: Final = frozenset({"message", "detail", "msg", "failure_message"})


def _echo_key(response: EmulatorResponse, key: str) -> EmulatorResponse:
    """The reply with the caller's key appended to each message and detail in it, as a careless
    server that quotes the request's headers back would do."""
    try:
        payload = json.loads(response.body)
    except ValueError:
        return response

    def echo(value: Any) -> Any:
        if isinstance(value, dict):
            return {name: f"{item} (X-Api-Key: {key})" if name in _ECHOED_FIELDS
                    and isinstance(item, str) else echo(item) for name, item in value.items()}
        if isinstance(value, list):
            return [echo(item) for item in value]
        return value

    body = json.dumps(echo(payload)).encode()
    headers = {**response.headers, "Content-Length": str(len(body))}
    return replace(response, headers=headers, body=body)


def unknown_ids_note(ids: list[str]) -> str:
    """The one line naming IDs the emulator accepted without knowing them."""
    return (f"emulator: accepted IDs its catalogue doesn't know: {', '.join(ids)} (a real account "
            f"must hold them; VIDBUILD_EMULATOR_CATALOGUE=strict refuses them)")


def _parse_body(raw: bytes) -> object:
    if not raw.strip():
        return NO_BODY
    try:
        parsed: object = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return NO_BODY
    return parsed
