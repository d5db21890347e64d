"""The HTTP client for HeyGen's API: submit, poll, list, catalogues and downloads, over httpx.

Every failure is one of ``vidbuild.errors``, chained from the httpx exception if any:

    reply or exception                              error                    retried
    400, other 4xx                                  InvalidRequestError      no
    401, 403                                        AuthError                no
    404 (API), the route answering otherwise        NotFoundError            no
    410; or 404 where the generation's list route   RouteGoneError           no
      (GET /v1/video.list or /v3/videos, limit=1)
      answers 404/410 too (never a legacy POST)
    409 request_in_progress (Idempotency-Key twin)  RequestInProgressError   no
    403, 404 (signed file URL)                      ExpiredUrlError          no
    402; 429 quota (code with "limit", "quota",     QuotaError               no
      "credit"; message with "daily", "quota",
      "credit"); insufficient_credit or
      trial_video_limit_exceeded at any status
    429 rate_limit_exceeded (or no quota hint)      RateLimitError           yes, any method
    500/502/503/504 on GET                          ServerError              yes
    other 5xx on GET                                ServerError              no
    any 5xx on POST                                 UncertainSubmitError     no
    ConnectError, ConnectTimeout, PoolTimeout,      TransportError           yes, any method
      ProxyError (nothing was sent)
    InvalidURL, UnsupportedProtocol                 TransportError           no
    any other httpx exception on POST               UncertainSubmitError     no
    ReadTimeout, WriteTimeout on GET                TransportError           no (the caller's turn)
    other transport/decoding error on GET           TransportError           yes
    other httpx exception on GET                    TransportError           no
    2xx without readable data on POST               UncertainSubmitError     no
    2xx without readable data on GET                ApiError                 no
    file body shorter than its Content-Length       TransportError           yes
    downloaded file not whole (MP4 boxes, JPEG      DamagedDownloadError     no (a fresh URL)
      markers) although the body looked complete

Every string of a reply's ``data`` has the API key scrubbed out (``ApiKeyAuth.scrub_data``)
before anything reads it, as have error messages and codes.

An unknown video id on ``video_status.get`` is 404 on current deployments and 400
(InvalidRequestError) on older ones; the client does not guess which one it meant.
Retries wait ``Retry-After`` (seconds or an HTTP date, clamped to [0, 120]) when the
reply has one, else 1, 2, 4 … s capped at 30 s with ±25 % jitter; ``max_attempts``
counts every request, the first included. Timeouts are per kind of request (see
``Timeouts``): 45 s to read a create call's reply, 15 s for API reads, 30 s between two
reads of a file and 15 minutes for the whole file.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random as random_module
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import httpx

from vidbuild.checksum import feed
from vidbuild.errors import (
    AuthError,
    DamagedDownloadError,
    ExpiredUrlError,
    UncertainSubmitError,
    UsageError,
)
from vidbuild.heygen import routes
from vidbuild.heygen.choice import BackendChoice
from vidbuild.heygen.client._auth import ApiKeyAuth
from vidbuild.heygen.client._http import (
    DEFAULT_TIMEOUT,
    RetryEvent,
    Session,
    Timeouts,
    file_location,
    user_agent,
)
from vidbuild.heygen.client._media import jpeg_problem, mp4_problem
from vidbuild.heygen.client._replies import (
    KNOWN_STATUSES,
    AvatarCatalogue,
    DownloadResult,
    RemainingQuota,
    VideoFailure,
    VideoPage,
    VideoStatus,
    VideoSummary,
    catalogue_list,
    remaining_quota,
    video_page,
    video_status,
)
from vidbuild.heygen.client._v3_replies import (
    Account,
    AgentSession,
    CreatedVideo,
    DetailPage,
    VideoDetail,
)
from vidbuild.heygen.client.v3 import V3Api

__all__ = [
    "DEFAULT_TIMEOUT",
    "Account",
    "AgentSession",
    "AvatarCatalogue",
    "CreatedVideo",
    "DamagedDownloadError",
    "DetailPage",
    "DownloadResult",
    "ExpiredUrlError",
    "HeyGenClient",
    "RemainingQuota",
    "RetryEvent",
    "Timeouts",
    "V3Api",
    "VideoDetail",
    "VideoFailure",
    "VideoPage",
    "VideoStatus",
    "VideoSummary",
]

log = logging.getLogger("vidbuild.heygen.client")

CHUNK_SIZE = 1 << 20
# How a downloaded file of each kind is checked to be whole before it is kept.
MEDIA_CHECKS: dict[str, Callable[[Path], str | None]] = {"mp4": mp4_problem, "jpeg": jpeg_problem}


class HeyGenClient:
    """HeyGen's endpoints as typed calls; the only code that knows routes and speaks HTTP.

    The key is sent, in ``X-Api-Key`` only, to URLs built from ``base_url``; file
    downloads go to signed URLs on other hosts and never carry it. The client owns
    ``transport`` and closes it with itself. Safe to share between threads. ``timeout``:
    None for the per-kind ``Timeouts`` (HeyGen's latencies), or one value for every request.

    The methods here speak HeyGen's legacy v1/v2 routes; ``v3`` (a ``V3Api``) speaks v3
    over the same session. A 404 on a read raises RouteGoneError when the route itself
    is not served (see ``_gone.py``), NotFoundError when only the video is unknown.
    """

    def __init__(self, base_url: str, api_key: str, *,
                 transport: httpx.BaseTransport | None = None,
                 timeout: float | httpx.Timeout | None = None, max_attempts: int = 5,
                 sleep: Callable[[float], None] = time.sleep,
                 random: Callable[[], float] = random_module.random,
                 on_retry: Callable[[RetryEvent], None] | None = None) -> None:
        if not api_key or not all(33 <= ord(char) <= 126 for char in api_key):
            # Checked here because httpx would otherwise quote the bad header value in its error.
            raise AuthError("the API key is empty or holds characters a header can't carry")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._base_url = _checked_base_url(base_url)
        timeouts = Timeouts() if timeout is None else Timeouts.uniform(timeout)
        self._http = httpx.Client(transport=transport, timeout=timeouts.read, follow_redirects=False,
                                  headers={"User-Agent": user_agent()})
        self._session = Session(self._http, self._base_url, ApiKeyAuth(api_key),
                                max_attempts=max_attempts, sleep=sleep, random=random,
                                on_retry=on_retry, timeouts=timeouts)
        self._unknown_statuses: set[str] = set()
        self.v3 = V3Api(self._session)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ,
                 transport: httpx.BaseTransport | None = None, *,
                 on_retry: Callable[[RetryEvent], None] | None = None) -> HeyGenClient:
        """A client for ``HEYGEN_API_KEY`` at ``HEYGEN_API_BASE`` (default: HeyGen itself)."""
        choice = BackendChoice.from_env(environ)
        if not choice.api_key:
            raise AuthError("HEYGEN_API_KEY is not set")
        return cls(choice.api_base or routes.DEFAULT_BASE_URL, choice.api_key, transport=transport,
                   on_retry=on_retry)

    def __repr__(self) -> str:
        return f"HeyGenClient(base_url={self._base_url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def submit(self, kind: str, body: Mapping[str, Any]) -> str:
        """Create one video of job kind "video" or "agent" and return its id.

        Never resent once it may have reached the server: then UncertainSubmitError
        says to reconcile by ``callback_id`` (``iter_videos`` + ``status``).
        """
        if kind not in routes.SUBMIT_ROUTES:
            known = ", ".join(sorted(routes.SUBMIT_ROUTES))
            raise ValueError(f"unknown job kind {kind!r}; expected one of {known}")
        path = routes.SUBMIT_ROUTES[kind]
        data = self._session.call("POST", path, json=dict(body))
        video_id = data.get("video_id") if isinstance(data, dict) else None
        if not isinstance(video_id, str) or not video_id:
            raise UncertainSubmitError("success reply carries no video_id; the video may exist",
                                       status=200, method="POST", path=path)
        return video_id

    def status(self, video_id: str) -> VideoStatus:
        """The render's state now; URLs in it are fresh for a while (ask again when expired)."""
        data = self._session.call("GET", routes.STATUS_ROUTE, params={"video_id": video_id})
        result = video_status(data, video_id, routes.STATUS_ROUTE)
        if result.status not in KNOWN_STATUSES and result.status not in self._unknown_statuses:
            self._unknown_statuses.add(result.status)
            log.debug("unknown video status %r, treated as still running", result.status)
        return result

    def list_videos(self, limit: int = routes.LIST_PAGE_LIMIT, token: str | None = None) -> VideoPage:
        """One page of the account's videos, newest first: ``limit`` (1 to 100) per page,
        ``token`` from the previous page. HeyGen's reference names no other size parameter."""
        if not 1 <= limit <= routes.LIST_PAGE_LIMIT:
            raise ValueError(f"limit must be between 1 and {routes.LIST_PAGE_LIMIT}, got {limit}")
        params: dict[str, str | int] = {"limit": limit}
        if token:
            params["token"] = token
        return video_page(self._session.call("GET", routes.LIST_ROUTE, params=params), routes.LIST_ROUTE)

    def iter_videos(self, created_after: float | None = None) -> Iterator[VideoSummary]:
        """Every video, newest first, until one is older than ``created_after`` (Unix seconds).

        Videos without a creation time are yielded. Callers comparing with a local clock
        should allow a margin for skew against the server's.
        """
        token: str | None = None
        seen_tokens: set[str] = set()
        while True:
            page = self.list_videos(token=token)
            for video in page.videos:
                if created_after is not None and video.created_at is not None \
                        and video.created_at < created_after:
                    return
                yield video
            if not page.token or page.token in seen_tokens:  # a repeated token would loop forever
                return
            seen_tokens.add(page.token)
            token = page.token

    def remaining_quota(self) -> RemainingQuota:
        """What the account has left (GET /v2/user/remaining_quota), in seconds of video."""
        return remaining_quota(self._session.call("GET", routes.QUOTA_ROUTE), routes.QUOTA_ROUTE)

    def avatars(self) -> AvatarCatalogue:
        """The account's avatars and talking photos, as the API's dicts."""
        data = self._session.call("GET", routes.AVATARS_ROUTE)
        return AvatarCatalogue(catalogue_list(data, "avatars"),
                               catalogue_list(data, "talking_photos"))

    def voices(self) -> list[dict[str, Any]]:
        """The account's voices, as the API's dicts (look up by ``voice_id``)."""
        return catalogue_list(self._session.call("GET", routes.VOICES_ROUTE), "voices")

    def download(self, url: str, dest: Path, media: Literal["mp4", "jpeg"] | None = None
                 ) -> DownloadResult:
        """Fetch a signed file URL to ``dest`` atomically: complete, checked and synced, or not there.

        A body shorter than its Content-Length is fetched again from the same URL; a file that
        fails its ``media`` check (see ``_media``: an MP4's boxes must tile it, with ``ftyp``, a
        whole ``moov`` and an ``mdat``; None: no check) raises DamagedDownloadError, since a
        body cut off without Content-Length can't be told from a whole one any other way.
        ExpiredUrlError (403/404) means: ask ``status`` again for a fresh URL. Local disk errors
        are raised as the OSError they are.
        """
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        # A hidden sibling, so the rename stays on one filesystem; created with open() rather
        # than mkstemp so the finished file gets the usual umask permissions, not 0600.
        # The name is one run.files.TEMPORARY_NAME knows, so a build killed meanwhile leaves
        # nothing the next build won't clean.
        temp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
        temp.open("xb").close()
        try:
            size, digest = self._session.fetch(url, lambda chunks: _write(temp, chunks))
            problem = MEDIA_CHECKS[media](temp) if media else None
            if problem:
                raise DamagedDownloadError(f"the downloaded {media} file is not whole: {problem}",
                                           method="GET", path=file_location(url))
            os.replace(temp, dest)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _sync_directory(dest.parent)
        return DownloadResult(dest, size, digest)


def _write(path: Path, chunks: Iterator[bytes]) -> tuple[int, str]:
    """Write one attempt's bytes over ``path`` and sync them; return size and sha256."""
    digest = hashlib.sha256()
    with path.open("wb") as file:
        size = feed(digest, chunks, also=file.write)
        file.flush()
        os.fsync(file.fileno())
    return size, digest.hexdigest()


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable; not every platform can open a directory."""
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _checked_base_url(base_url: str) -> str:
    url = routes.normalize_base_url(base_url)
    try:
        httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise UsageError(f"the API base URL is not a URL: {exc}") from exc
    return url
