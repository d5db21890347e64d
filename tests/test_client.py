"""Unit tests of the HeyGen client over httpx.MockTransport: replies, errors, retries, downloads."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from vidbuild import errors
from vidbuild.heygen import routes
from vidbuild.heygen.client import (
    DEFAULT_TIMEOUT,
    ExpiredUrlError,
    HeyGenClient,
    RetryEvent,
    VideoFailure,
)
from vidbuild.heygen.client._http import backoff

KEY = "kq-7Zp1-DISTINCTIVE-test-key-0x5eed"
BASE = "https://api.heygen.test"
FILE_URL = "https://files.example.test/v/abc.mp4?Expires=1&Signature=s1gn"
BODY = {"video_inputs": [{"voice": {"type": "silence"}}], "callback_id": "row-1"}

Reply = httpx.Response | Exception


class Script:
    """A MockTransport handler that plays replies in order and records every request."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        return reply


def ok(data: Any, **kwargs: Any) -> httpx.Response:
    return httpx.Response(200, json={"error": None, "data": data}, **kwargs)


def fail(status: int, code: str | None = "some_code", message: str = "nope",
         headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}, "data": None},
                          headers=headers)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make(sleeps: list[float]) -> Iterator[Callable[..., tuple[HeyGenClient, Script]]]:
    clients: list[HeyGenClient] = []

    def make(*replies: Reply, **options: Any) -> tuple[HeyGenClient, Script]:
        script = Script(*replies)
        options.setdefault("random", lambda: 0.5)  # no jitter unless a test asks for it
        client = HeyGenClient(BASE, KEY, transport=httpx.MockTransport(script),
                              sleep=sleeps.append, **options)
        clients.append(client)
        return client, script

    yield make
    for client in clients:
        client.close()


# --- endpoints -------------------------------------------------------------------------------

def test_submit_posts_the_body_with_the_key_and_returns_the_video_id(make: Any) -> None:
    client, script = make(ok({"video_id": "v1"}))
    assert client.submit("video", BODY) == "v1"
    (request,) = script.requests
    assert (request.method, request.url.path) == ("POST", "/v2/video/generate")
    assert request.headers["X-Api-Key"] == KEY
    assert json.loads(request.content) == BODY


def test_submit_maps_agent_kind_to_its_route_and_rejects_unknown_kinds(make: Any) -> None:
    client, script = make(ok({"video_id": "v2"}))
    assert client.submit("agent", {"prompt": "hi"}) == "v2"
    assert script.requests[0].url.path == routes.SUBMIT_ROUTES["agent"]
    with pytest.raises(ValueError, match="unknown job kind 'film'"):
        client.submit("film", {})
    assert len(script.requests) == 1


def test_status_reads_a_completed_video(make: Any) -> None:
    data = {"id": "v1", "status": "completed", "callback_id": "row-1", "video_url": "https://f/v.mp4",
            "thumbnail_url": "https://f/t.jpg", "gif_url": None, "caption_url": None,
            "duration": 12.5, "created_at": 1732000000, "error": None}
    reply = httpx.Response(200, json={"code": 100, "message": "Success", "data": data})
    client, script = make(reply)
    status = client.status("v1")
    assert script.requests[0].url.params["video_id"] == "v1"
    assert (status.status, status.finished, status.callback_id) == ("completed", True, "row-1")
    assert (status.video_url, status.gif_url, status.duration, status.created_at) == (
        "https://f/v.mp4", None, 12.5, 1732000000.0)
    assert status.error is None


def test_status_reads_a_failure(make: Any) -> None:
    error = {"code": 400144, "message": "avatar not found", "detail": "no such look"}
    client, _ = make(ok({"id": "v1", "status": "failed", "error": error, "video_url": None}))
    status = client.status("v1")
    assert status.finished
    assert status.error == VideoFailure("400144", "avatar not found", "no such look")


def test_unknown_status_is_kept_running_and_logged_once(make: Any,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="vidbuild.heygen.client")
    client, _ = make(ok({"id": "v1", "status": "rendering_hd"}))
    assert [client.status("v1").finished for _ in range(3)] == [False] * 3
    assert client.status("v1").status == "rendering_hd"
    assert sum("rendering_hd" in r.getMessage() for r in caplog.records) == 1


def test_list_videos_sends_paging_and_reads_the_page(make: Any) -> None:
    videos = [{"video_id": "a", "video_title": "Welcome Ana", "status": "completed",
               "created_at": 1732000000, "type": "GENERATED"}, {"video_title": "no id"}]
    client, script = make(ok({"videos": videos, "token": None}))
    page = client.list_videos(limit=10, token="t1")
    assert dict(script.requests[0].url.params) == {"limit": "10", "token": "t1"}
    assert [(v.video_id, v.title, v.status, v.created_at) for v in page.videos] == [
        ("a", "Welcome Ana", "completed", 1732000000.0)]
    assert page.token is None


def test_iter_videos_walks_pages_until_older_than_created_after(make: Any) -> None:
    def video(video_id: str, created_at: int) -> dict[str, Any]:
        return {"video_id": video_id, "status": "completed", "created_at": created_at}

    client, script = make(ok({"videos": [video("a", 300), video("b", 200)], "token": "p2"}),
                          ok({"videos": [video("c", 150), video("d", 50)], "token": "p3"}),
                          ok({"videos": [video("e", 10)], "token": None}))
    assert [v.video_id for v in client.iter_videos(created_after=100)] == ["a", "b", "c"]
    assert [r.url.params.get("token") for r in script.requests] == [None, "p2"]


def test_iter_videos_stops_on_a_repeated_token(make: Any) -> None:
    client, script = make(ok({"videos": [{"video_id": "a"}], "token": "same"}))
    assert [v.video_id for v in client.iter_videos()] == ["a", "a"]
    assert len(script.requests) == 2


def test_catalogues_are_the_api_dicts(make: Any) -> None:
    avatars = {"avatars": [{"avatar_id": "Daisy"}], "talking_photos": [{"talking_photo_id": "tp"}]}
    client, script = make(ok(avatars), ok({"voices": [{"voice_id": "v"}]}))
    catalogue = client.avatars()
    assert (catalogue.avatars, catalogue.talking_photos) == (
        [{"avatar_id": "Daisy"}], [{"talking_photo_id": "tp"}])
    assert client.voices() == [{"voice_id": "v"}]
    assert [r.url.path for r in script.requests] == [routes.AVATARS_ROUTE, routes.VOICES_ROUTE]


# --- error shapes and status mapping ---------------------------------------------------------

@pytest.mark.parametrize(("reply", "code", "message"), [
    (httpx.Response(400, json={"error": {"code": "invalid_parameter", "message": "bad voice"},
                               "data": None}), "invalid_parameter", "bad voice"),
    (httpx.Response(400, json={"error": "voice_id is required"}), None, "voice_id is required"),
    (httpx.Response(400, json={"error": "invalid_parameter"}), "invalid_parameter",
     "invalid_parameter"),
    (httpx.Response(400, json={"code": 400599, "message": "text too long"}), "400599",
     "text too long"),
    (httpx.Response(400, html="<html><body>Bad Request</body></html>"), None,
     "Bad Request (reply without an API error body: text/html)"),
], ids=["nested", "plain-string", "plain-code", "v1-flat", "html"])
def test_every_error_shape_keeps_status_code_and_message(make: Any, reply: httpx.Response,
                                                         code: str | None, message: str) -> None:
    client, _ = make(reply)
    with pytest.raises(errors.InvalidRequestError) as caught:
        client.submit("video", BODY)
    error = caught.value
    assert (error.status, error.code, error.api_message) == (400, code, message)
    assert (error.method, error.path) == ("POST", "/v2/video/generate")
    assert str(error) == " ".join(filter(None, ["POST /v2/video/generate HTTP 400", code])) \
        + f": {message}"


@pytest.mark.parametrize(("status", "kind"), [
    (400, errors.InvalidRequestError), (401, errors.AuthError), (403, errors.AuthError),
    (404, errors.NotFoundError), (402, errors.QuotaError), (409, errors.InvalidRequestError),
    (501, errors.ServerError), (302, errors.ApiError),
])
def test_status_codes_map_to_errors_without_retry(make: Any, status: int,
                                                  kind: type[errors.ApiError]) -> None:
    # A 404 is checked with one probe of the list route; it answers, so the video is unknown.
    client, script = make(fail(status), ok({"videos": []}))
    with pytest.raises(kind) as caught:
        client.status("v1")
    assert type(caught.value) is kind
    assert caught.value.path == routes.STATUS_ROUTE and "video_id" not in str(caught.value)
    probes = [r for r in script.requests if r.url.path == routes.LIST_ROUTE]
    assert (len(script.requests), len(probes)) == ((2, 1) if status == 404 else (1, 0))


@pytest.mark.parametrize(("status", "code", "message"), [
    (429, "trial_video_limit_exceeded", "reached your daily api trial limit"),
    (429, "video_generation_limit", "try again later"),
    (429, None, "You have used up your daily quota"),
    (402, "insufficient_credit", "no credits"),
    (400, "insufficient_credit", "no credits"),
    (429, "plain", "trial_video_limit_exceeded"),
])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_quota_exhaustion_is_never_retried(make: Any, status: int, code: str | None, message: str,
                                           method: str) -> None:
    reply = fail(status, code, message, headers={"Retry-After": "1"})
    if code == "plain":
        reply = httpx.Response(status, json={"error": message}, headers={"Retry-After": "1"})
    client, script = make(reply)
    with pytest.raises(errors.QuotaError):
        client.submit("video", BODY) if method == "POST" else client.voices()
    assert len(script.requests) == 1


def test_success_without_data_is_uncertain_for_a_submit(make: Any) -> None:
    client, script = make(httpx.Response(200, text="<html>portal</html>"),
                          ok({"not_video_id": 1}))
    for _ in range(2):
        with pytest.raises(errors.UncertainSubmitError):
            client.submit("video", BODY)
    assert len(script.requests) == 2


def test_success_without_data_on_get_is_an_api_error(make: Any) -> None:
    client, _ = make(httpx.Response(200, json={"code": 100, "message": "Success"}))
    with pytest.raises(errors.ApiError, match="no data"):
        client.voices()


# --- retries ---------------------------------------------------------------------------------

def test_rate_limit_on_post_waits_retry_after_seconds_then_succeeds(make: Any,
                                                                    sleeps: list[float]) -> None:
    events: list[RetryEvent] = []
    client, script = make(fail(429, "rate_limit_exceeded", headers={"Retry-After": "3"}),
                          ok({"video_id": "v1"}), on_retry=events.append)
    assert client.submit("video", BODY) == "v1"
    assert len(script.requests) == 2 and sleeps == [3.0]
    assert events == [RetryEvent(1, 3.0, "rate limited", "POST", "/v2/video/generate")]


@pytest.mark.parametrize(("retry_after", "wait"), [
    ("Wed, 21 Oct 2026 07:28:07 GMT", 7.0),  # against the reply's own Date header
    ("Wed, 21 Oct 2026 09:00:00 GMT", 120.0),  # clamped
    ("Wed, 21 Oct 2026 07:00:00 GMT", 0.0),  # in the past
    ("-5", 0.0),
    ("999", 120.0),
    ("soon", 1.0),  # unusable: falls back to backoff
])
def test_retry_after_as_number_or_http_date_is_clamped(make: Any, sleeps: list[float],
                                                       retry_after: str, wait: float) -> None:
    headers = {"Retry-After": retry_after, "Date": "Wed, 21 Oct 2026 07:28:00 GMT"}
    client, _ = make(fail(429, "rate_limit_exceeded", headers=headers), ok({"voices": []}))
    client.voices()
    assert sleeps == [wait]


def test_rate_limit_raises_with_retry_after_when_attempts_run_out(make: Any,
                                                                  sleeps: list[float]) -> None:
    client, script = make(fail(429, "rate_limit_exceeded", headers={"Retry-After": "2"}),
                          max_attempts=3)
    with pytest.raises(errors.RateLimitError) as caught:
        client.submit("video", BODY)
    assert caught.value.retry_after == 2.0 and caught.value.status == 429
    assert len(script.requests) == 3 and sleeps == [2.0, 2.0]


def test_server_errors_on_get_back_off_exponentially_then_raise(make: Any,
                                                                sleeps: list[float]) -> None:
    client, script = make(fail(502, None, "bad gateway"), max_attempts=7)
    with pytest.raises(errors.ServerError) as caught:
        client.status("v1")
    assert caught.value.status == 502
    assert len(script.requests) == 7
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_error_on_get_is_retried_until_success(make: Any, status: int) -> None:
    client, script = make(fail(status), ok({"voices": [{"voice_id": "v"}]}))
    assert client.voices() == [{"voice_id": "v"}]
    assert len(script.requests) == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_error_on_post_is_uncertain_and_never_resent(make: Any, sleeps: list[float],
                                                            status: int) -> None:
    client, script = make(fail(status, "internal", "oops"), ok({"video_id": "twin"}))
    with pytest.raises(errors.UncertainSubmitError) as caught:
        client.submit("video", BODY)
    assert (caught.value.status, caught.value.code) == (status, "internal")
    assert "not resent" in str(caught.value)
    assert len(script.requests) == 1 and sleeps == []


@pytest.mark.parametrize("exc", [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"),
                                 httpx.PoolTimeout("busy")])
def test_failures_before_sending_are_retried_even_for_post(make: Any, exc: Exception) -> None:
    client, script = make(exc, ok({"video_id": "v1"}))
    assert client.submit("video", BODY) == "v1"
    assert len(script.requests) == 2


def test_connect_errors_on_post_exhaust_as_plain_transport_errors(make: Any) -> None:
    client, script = make(httpx.ConnectError("refused"), max_attempts=3)
    with pytest.raises(errors.TransportError) as caught:
        client.submit("video", BODY)
    assert type(caught.value) is errors.TransportError
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert len(script.requests) == 3


@pytest.mark.parametrize("exc", [httpx.ReadTimeout("read"), httpx.WriteTimeout("write"),
                                 httpx.WriteError("write"), httpx.ReadError("read"),
                                 httpx.RemoteProtocolError("dropped")])
def test_failures_after_sending_a_post_are_uncertain_after_one_request(
        make: Any, sleeps: list[float], exc: Exception) -> None:
    client, script = make(exc, ok({"video_id": "twin"}))
    with pytest.raises(errors.UncertainSubmitError) as caught:
        client.submit("video", BODY)
    assert caught.value.__cause__ is exc
    assert len(script.requests) == 1 and sleeps == []


def test_transport_errors_on_get_are_retried_then_raised(make: Any, sleeps: list[float]) -> None:
    client, script = make(httpx.ReadError("read"))
    with pytest.raises(errors.TransportError) as caught:
        client.status("v1")
    assert type(caught.value) is errors.TransportError
    assert len(script.requests) == 5 and sleeps == [1.0, 2.0, 4.0, 8.0]


def test_max_attempts_one_means_no_retry(make: Any, sleeps: list[float]) -> None:
    client, script = make(fail(503), max_attempts=1)
    with pytest.raises(errors.ServerError):
        client.voices()
    assert len(script.requests) == 1 and sleeps == []
    with pytest.raises(ValueError, match="max_attempts"):
        HeyGenClient(BASE, KEY, max_attempts=0)


@pytest.mark.parametrize("attempt", range(1, 10))
def test_jitter_stays_within_a_quarter_and_under_the_cap(attempt: int) -> None:
    nominal = min(30.0, 2.0 ** (attempt - 1))
    low, high = backoff(attempt, lambda: 0.0), backoff(attempt, lambda: 0.999999)
    assert low == pytest.approx(0.75 * nominal)
    assert high == pytest.approx(min(30.0, 1.25 * nominal), rel=1e-5)
    assert low < backoff(attempt, lambda: 0.5) == nominal


def test_injected_random_drives_the_waits(make: Any, sleeps: list[float]) -> None:
    rolls = iter([0.0, 1.0, 0.5])
    client, _ = make(fail(500), max_attempts=4, random=lambda: next(rolls))
    with pytest.raises(errors.ServerError):
        client.voices()
    assert sleeps == [0.75, 2.5, 4.0]


# --- every httpx exception family ------------------------------------------------------------

def _httpx_exception_classes() -> list[type[Exception]]:
    found: list[type[Exception]] = []
    pending: list[type[Exception]] = [httpx.HTTPError, httpx.InvalidURL, httpx.CookieConflict,
                                      httpx.StreamError]
    while pending:
        cls = pending.pop()
        if cls.__module__.startswith("httpx") and cls not in found:
            found.append(cls)
            pending.extend(cls.__subclasses__())
    return sorted(found, key=lambda cls: cls.__name__)


def _instance(cls: type[Exception]) -> Exception:
    request = httpx.Request("GET", "https://x.test/")
    if issubclass(cls, httpx.HTTPStatusError):
        return cls("boom", request=request, response=httpx.Response(500, request=request))
    try:
        return cls("boom")
    except TypeError:
        return cls()


def test_the_walk_finds_all_httpx_exception_families() -> None:
    names = {cls.__name__ for cls in _httpx_exception_classes()}
    assert {"ReadTimeout", "ProxyError", "DecodingError", "TooManyRedirects", "HTTPStatusError",
            "InvalidURL", "CookieConflict", "StreamConsumed", "RequestNotRead"} <= names
    assert len(names) >= 28


@pytest.mark.parametrize("cls", _httpx_exception_classes(), ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_every_httpx_exception_maps_to_a_vidbuild_error(make: Any, cls: type[Exception],
                                                        method: str) -> None:
    exc = _instance(cls)
    client, script = make(exc, max_attempts=2)
    with pytest.raises(errors.TransportError) as caught:
        client.submit("video", BODY) if method == "POST" else client.status("v1")
    assert caught.value.__cause__ is exc
    assert caught.value.method == method
    certainly_unsent = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout,
                        httpx.ProxyError, httpx.InvalidURL, httpx.UnsupportedProtocol)
    if method == "POST" and not isinstance(exc, certainly_unsent):
        assert isinstance(caught.value, errors.UncertainSubmitError)
        assert len(script.requests) == 1
    else:
        assert not isinstance(caught.value, errors.UncertainSubmitError)


# --- downloads -------------------------------------------------------------------------------

VIDEO = b"\x00\x00\x00\x18ftypmp42" * 1000


def _chunks(*parts: bytes | Exception) -> Iterator[bytes]:
    for part in parts:
        if isinstance(part, Exception):
            raise part
        yield part


def test_download_writes_the_file_and_never_sends_the_key(make: Any, tmp_path: Path) -> None:
    client, script = make(httpx.Response(200, content=VIDEO))
    dest = tmp_path / "out" / "ana.mp4"
    result = client.download(FILE_URL, dest)
    assert (result.path, result.size) == (dest, len(VIDEO))
    assert result.sha256 == hashlib.sha256(VIDEO).hexdigest()
    assert dest.read_bytes() == VIDEO
    assert sorted(p.name for p in dest.parent.iterdir()) == ["ana.mp4"]
    (request,) = script.requests
    assert "x-api-key" not in request.headers and request.url == httpx.URL(FILE_URL)


@pytest.mark.parametrize("status", [403, 404])
def test_expired_file_url_is_its_own_not_found_error(make: Any, tmp_path: Path,
                                                     status: int) -> None:
    client, script = make(httpx.Response(status, text="<Error>AccessDenied</Error>"))
    with pytest.raises(ExpiredUrlError) as caught:
        client.download(FILE_URL, tmp_path / "a.mp4")
    assert isinstance(caught.value, errors.NotFoundError) and caught.value.status == status
    assert caught.value.path == "files.example.test/v/abc.mp4"
    assert "s1gn" not in str(caught.value)
    assert len(script.requests) == 1 and list(tmp_path.iterdir()) == []


def test_download_cut_mid_stream_leaves_no_file_and_no_litter(make: Any, tmp_path: Path) -> None:
    dest = tmp_path / "a.mp4"
    dest.write_bytes(b"previous complete file")
    client, script = make(
        *[httpx.Response(200, content=_chunks(VIDEO[:100], httpx.ReadError("reset")))
          for _ in range(3)], max_attempts=3)
    with pytest.raises(errors.TransportError) as caught:
        client.download(FILE_URL, dest)
    assert isinstance(caught.value.__cause__, httpx.ReadError)
    assert len(script.requests) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["a.mp4"]
    assert dest.read_bytes() == b"previous complete file"


def test_download_retry_after_a_cut_starts_the_file_afresh(make: Any, tmp_path: Path) -> None:
    client, _ = make(httpx.Response(200, content=_chunks(VIDEO[:100], httpx.ReadError("reset"))),
                     httpx.Response(503), httpx.Response(200, content=_chunks(VIDEO)))
    result = client.download(FILE_URL, tmp_path / "a.mp4")
    assert result.path.read_bytes() == VIDEO and result.size == len(VIDEO)
    assert [p.name for p in tmp_path.iterdir()] == ["a.mp4"]


def test_download_shorter_than_content_length_is_an_error(make: Any, tmp_path: Path) -> None:
    client, script = make(httpx.Response(200, content=VIDEO[:10],
                                         headers={"Content-Length": str(len(VIDEO))}),
                          max_attempts=2)
    with pytest.raises(errors.TransportError, match=f"received 10 bytes of {len(VIDEO)}"):
        client.download(FILE_URL, tmp_path / "a.mp4")
    assert len(script.requests) == 2 and list(tmp_path.iterdir()) == []


# --- the key never leaks ---------------------------------------------------------------------

def test_the_key_never_appears_in_errors_reprs_or_logs(make: Any, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    echo = f"<html>proxy saw X-Api-Key: {KEY}</html>"
    scenarios: list[tuple[Reply, Callable[[HeyGenClient], object]]] = [
        (httpx.Response(502, text=echo), lambda c: c.submit("video", BODY)),
        (httpx.Response(400, json={"error": {"code": KEY, "message": echo}}), lambda c: c.voices()),
        (httpx.Response(429, json={"message": echo}), lambda c: c.status("v1")),
        (httpx.Response(200, text=echo), lambda c: c.avatars()),
        (httpx.ReadTimeout(f"timed out sending {KEY}"), lambda c: c.submit("agent", BODY)),
        (httpx.ConnectError(KEY), lambda c: c.list_videos()),
        (httpx.Response(403, text=echo), lambda c: c.download(FILE_URL, tmp_path / "a.mp4")),
    ]
    seen: list[str] = []
    for reply, call in scenarios:
        client, _ = make(reply, max_attempts=2)
        seen.append(repr(client))
        with pytest.raises(errors.ApiError) as caught:
            call(client)
        error: BaseException | None = caught.value
        assert caught.value.api_message  # something useful is still said
        while error is not None and not isinstance(error, httpx.HTTPError):
            seen += [str(error), repr(error), repr(vars(error))]
            error = error.__cause__
    seen.append(caplog.text)
    assert not [text for text in seen if KEY in text]


@pytest.mark.parametrize("bad_key", ["", "two words", f"{KEY}\r\nX-Evil: 1", "clé"])
def test_a_key_no_header_can_carry_is_refused_without_echoing_it(bad_key: str) -> None:
    with pytest.raises(errors.AuthError) as caught:
        HeyGenClient(BASE, bad_key)
    assert str(caught.value) == "the API key is empty or holds characters a header can't carry"


# --- construction ----------------------------------------------------------------------------

def test_from_env_reads_key_and_base() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok({"voices": []})

    environ = {"HEYGEN_API_KEY": f" {KEY} ", "HEYGEN_API_BASE": "http://127.0.0.1:8123/heygen/"}
    with HeyGenClient.from_env(environ, transport=httpx.MockTransport(handler)) as client:
        client.voices()
        assert repr(client) == "HeyGenClient(base_url='http://127.0.0.1:8123/heygen')"
    assert str(seen[0].url) == "http://127.0.0.1:8123/heygen/v2/voices"
    assert seen[0].headers["X-Api-Key"] == KEY


def test_from_env_defaults_to_heygen_and_needs_a_key() -> None:
    with HeyGenClient.from_env({"HEYGEN_API_KEY": KEY}) as client:
        assert repr(client) == f"HeyGenClient(base_url={routes.DEFAULT_BASE_URL!r})"
    with pytest.raises(errors.AuthError, match="HEYGEN_API_KEY is not set"):
        HeyGenClient.from_env({})


@pytest.mark.parametrize("base", ["ftp://api.test", "not a url", "https://user:pw@routes.test",
                                  "https://api.test/?k=1"])
def test_unusable_base_urls_are_usage_errors(base: str) -> None:
    with pytest.raises(errors.UsageError):
        HeyGenClient(base, KEY)


def test_every_timeout_is_set() -> None:
    assert None not in (DEFAULT_TIMEOUT.connect, DEFAULT_TIMEOUT.read, DEFAULT_TIMEOUT.write,
                        DEFAULT_TIMEOUT.pool)


def test_close_closes_the_transport() -> None:
    closed: list[bool] = []

    class Transport(httpx.MockTransport):
        def close(self) -> None:
            closed.append(True)

    with HeyGenClient(BASE, KEY, transport=Transport(lambda r: ok({}))):
        pass
    assert closed == [True]
