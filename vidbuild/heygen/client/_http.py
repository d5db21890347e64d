"""The client's one place that sends a request and retries it where that is safe; what a reply
means is _outcome.py's to say, the key's handling _auth.py's."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn, TypeVar

import httpx

from vidbuild.errors import (
    ApiError,
    ExpiredUrlError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
    UncertainSubmitError,
)
from vidbuild.heygen.client._auth import ApiKeyAuth
from vidbuild.heygen.client._gone import RouteCheck
from vidbuild.heygen.client._outcome import UNCERTAIN_HINT, error_kind, read_data, read_error
from vidbuild.version import __version__

log = logging.getLogger("vidbuild.heygen.client")

T = TypeVar("T")

# HeyGen's create call answers within about 31 s at the 99th percentile (observed); its reads
# answer in well under a second. The build engine is single-threaded, so a request's timeout is
# how long it can hold up every other job: long enough for a slow create (a timeout there costs a
# lookup before any resend), short for reads, and a download gets a deadline for the whole file.
SUBMIT_TIMEOUT = httpx.Timeout(connect=10.0, read=45.0, write=30.0, pool=10.0)
READ_TIMEOUT = httpx.Timeout(connect=10.0, read=15.0, write=15.0, pool=10.0)
FILE_TIMEOUT = httpx.Timeout(connect=10.0, read=30.0, write=15.0, pool=10.0)   # between two reads
DOWNLOAD_DEADLINE = 900.0   # seconds for a whole file: a server trickling bytes can't hold on
DEFAULT_TIMEOUT = READ_TIMEOUT

# Retry practice of HeyGen's own CLI (see /work/shared/heygen-api.md).
BACKOFF_START = 1.0
BACKOFF_CAP = 30.0
JITTER = 0.25
RETRY_AFTER_CAP = 120.0
RETRIED_SERVER_STATUSES = frozenset({500, 502, 503, 504})

# These fail before a single byte of the request leaves, so even a POST may be resent.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
# These also fail before sending, but the same request would fail the same way again.
UNUSABLE = (httpx.InvalidURL, httpx.UnsupportedProtocol)
# Everything httpx raises on purpose; none of these families share a base class.
HTTPX_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.CookieConflict, httpx.StreamError)

EXPIRED_HINT = "the signed file URL has expired or is gone; ask the status for a fresh one"


@dataclass(frozen=True)
class Timeouts:
    """Per kind of request: creating a video, reading the API, fetching a file."""

    submit: httpx.Timeout = field(default_factory=lambda: SUBMIT_TIMEOUT)
    read: httpx.Timeout = field(default_factory=lambda: READ_TIMEOUT)
    file: httpx.Timeout = field(default_factory=lambda: FILE_TIMEOUT)

    @classmethod
    def uniform(cls, timeout: float | httpx.Timeout) -> Timeouts:
        """One timeout for every request (tests, and callers that know their server)."""
        chosen = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        return cls(chosen, chosen, chosen)


@dataclass(frozen=True)
class RetryEvent:
    """What a reporter needs to say "rate limited, retrying in 3 s"."""

    attempt: int  # the attempt that failed, counted from 1
    wait: float  # seconds until the next attempt
    reason: str
    method: str
    path: str


class _Retry(Exception):
    """Raised by one attempt to ask for another; carries the error to raise if none is left."""

    def __init__(self, error: ApiError, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.error = error
        self.reason = reason
        self.retry_after = retry_after


class Session:
    """Sends requests for one client: API calls with the key, file downloads without it."""

    def __init__(self, http: httpx.Client, base_url: str, auth: ApiKeyAuth, *,
                 max_attempts: int, sleep: Callable[[float], None], random: Callable[[], float],
                 on_retry: Callable[[RetryEvent], None] | None, timeouts: Timeouts | None = None) -> None:
        self._http = http
        self._timeouts = timeouts or Timeouts()
        self._base_url = base_url
        self._auth = auth
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._random = random
        self._on_retry = on_retry
        self._routes = RouteCheck(lambda route: self._send("GET", route, params={"limit": 1}))

    def call(self, method: str, path: str, *, params: Mapping[str, str | int] | None = None,
             json: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
             envelope: bool = False) -> Any:
        """Send one API request (retrying where safe) and return the reply's ``data``.

        With ``envelope`` the whole reply object is returned (v3 lists carry ``has_more``
        and ``next_token`` beside ``data``). A 404 is checked against the route itself
        (see ``_gone.py``) and raised as RouteGoneError when the route is not served.
        """
        try:
            return self._send(method, path, params=params, json=json, headers=headers,
                              envelope=envelope)
        except NotFoundError as error:
            classified = self._routes.classify(error, method, path, params)
            if classified is error:
                raise
            raise classified from error

    def _send(self, method: str, path: str, *, params: Mapping[str, str | int] | None = None,
              json: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
              envelope: bool = False) -> Any:
        def attempt() -> Any:
            try:
                response = self._http.request(
                    method, self._base_url + path, params=params, json=json, auth=self._auth,
                    headers={"Accept": "application/json", **(headers or {})},
                    timeout=self._timeouts.read if method == "GET" else self._timeouts.submit)
            except HTTPX_ERRORS as exc:
                self._translate(exc, method, path)
            self._check_status(response, method, path)
            return read_data(response, method, path, self._auth, envelope=envelope)

        return self._retrying(method, path, attempt)

    def fetch(self, url: str, consume: Callable[[Iterator[bytes]], T]) -> T:
        """Stream a file URL into ``consume``, without the key; restarts from scratch on retry."""
        where = file_location(url)

        def attempt() -> T:
            try:
                with self._http.stream("GET", url, follow_redirects=True,
                                       timeout=self._timeouts.file) as response:
                    if response.status_code in (403, 404):
                        raise ExpiredUrlError(EXPIRED_HINT, status=response.status_code,
                                              method="GET", path=where)
                    self._check_status(response, "GET", where)
                    return self._consume_whole(response, consume, where)
            except HTTPX_ERRORS as exc:
                self._translate(exc, "GET", where)

        return self._retrying("GET", where, attempt)

    def _consume_whole(self, response: httpx.Response, consume: Callable[[Iterator[bytes]], T],
                       where: str) -> T:
        """Feed the body to ``consume``, then check it against Content-Length (a cut is retried)."""
        received = 0
        give_up = time.monotonic() + DOWNLOAD_DEADLINE

        def body() -> Iterator[bytes]:
            nonlocal received
            for chunk in response.iter_bytes():
                received += len(chunk)
                if time.monotonic() > give_up:
                    raise TransportError(f"the download took longer than {DOWNLOAD_DEADLINE:.0f} s",
                                         method="GET", path=where)
                yield chunk

        result = consume(body())
        # Content-Length counts the bytes on the wire, before any decompression.
        if response.headers.get("Content-Encoding", "identity") != "identity":
            received = response.num_bytes_downloaded
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and received != int(declared):
            error = TransportError(f"received {received} bytes of {declared}",
                                   status=response.status_code, method="GET", path=where)
            raise _Retry(error, "download cut short")
        return result

    def _retrying(self, method: str, path: str, attempt: Callable[[], T]) -> T:
        for number in range(1, self._max_attempts + 1):
            try:
                return attempt()
            except _Retry as retry:
                if number == self._max_attempts:
                    raise retry.error from retry.__cause__
                wait = retry.retry_after
                if wait is None:
                    wait = backoff(number, self._random)
                log.debug("%s %s: %s; retrying in %.1f s", method, path, retry.reason, wait)
                if self._on_retry is not None:
                    self._on_retry(RetryEvent(number, wait, retry.reason, method, path))
                self._sleep(wait)
        raise AssertionError("max_attempts is at least 1")

    def _check_status(self, response: httpx.Response, method: str, path: str) -> None:
        """Return if the reply is a success; else raise the error, or _Retry where it is safe."""
        if response.is_success:
            return
        response.read()
        error = self._error(response, method, path)
        if isinstance(error, RateLimitError):
            # Nothing was created, whatever the method: the API refused before doing any work.
            raise _Retry(error, "rate limited", error.retry_after)
        if isinstance(error, ServerError) and response.status_code in RETRIED_SERVER_STATUSES:
            raise _Retry(error, f"server error (HTTP {response.status_code})",
                         retry_after_seconds(response))
        raise error

    def _error(self, response: httpx.Response, method: str, path: str) -> ApiError:
        status = response.status_code
        code, message = read_error(response)
        message = self._auth.scrub(message)
        code = self._auth.scrub(code) if code is not None else None
        kind = error_kind(status, code, message, method)
        if kind is UncertainSubmitError:
            message = f"{message}; {UNCERTAIN_HINT}"
        if issubclass(kind, RateLimitError):
            return kind(message, retry_after=retry_after_seconds(response), status=status,
                        code=code, method=method, path=path)
        return kind(message, status=status, code=code, method=method, path=path)

    def _translate(self, exc: Exception, method: str, path: str) -> NoReturn:
        """Raise the vidbuild error for an httpx exception, or _Retry where a retry is safe."""
        name = type(exc).__name__
        detail = self._auth.scrub(str(exc))
        message = f"{name}: {detail}" if detail else name
        if isinstance(exc, NOT_SENT):
            raise _Retry(TransportError(message, method=method, path=path), name) from exc
        if isinstance(exc, UNUSABLE):
            raise TransportError(message, method=method, path=path) from exc
        if method != "GET":
            raise UncertainSubmitError(f"{message}; {UNCERTAIN_HINT}",
                                       method=method, path=path) from exc
        if isinstance(exc, httpx.TimeoutException):
            # Not retried here: a retry loop would hold a single-threaded caller for several
            # timeouts; the build engine retries it later without stopping its other jobs.
            raise TransportError(message, method=method, path=path) from exc
        if isinstance(exc, httpx.TransportError | httpx.DecodingError):
            raise _Retry(TransportError(message, method=method, path=path), name) from exc
        raise TransportError(message, method=method, path=path) from exc


def backoff(attempt: int, random: Callable[[], float]) -> float:
    """Seconds to wait after failed attempt number ``attempt``: 1, 2, 4 … 30, each ±25 %."""
    delay = min(BACKOFF_CAP, BACKOFF_START * 2.0 ** (attempt - 1))
    return min(BACKOFF_CAP, delay * (1 + JITTER * (2 * random() - 1)))


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds in [0, 120], from a number or an HTTP date; None if unusable."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        when = _http_date(value)
        if when is None:
            return None
        # Measured against the server's own clock when it sends one, so clock skew doesn't count.
        now = _http_date(response.headers.get("Date", "")) or datetime.now(UTC)
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


def file_location(url: str) -> str:
    """Host and path of a file URL for messages: its query holds the signature, so it is dropped."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "<invalid URL>"
    return f"{parsed.host}{parsed.path}"


def user_agent() -> str:
    return f"vidbuild/{__version__} httpx/{httpx.__version__}"


def _http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
