"""The HeyGen client against the emulator over a real loopback socket, under every fault kind.

test_client.py checks the client against scripted replies and test_emulator.py checks the
emulator with raw httpx; here the two meet as they do in a build, so what the emulator
sends over the wire (and how it breaks) is what the client has to read.
"""

from __future__ import annotations

import hashlib
import logging
import struct
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_clock import Clock

from vidbuild import errors
from vidbuild.emulator import Emulator, EmulatorConfig, RecordedRequest, RunningServer, serve
from vidbuild.emulator import media as emulator_media
from vidbuild.heygen import routes
from vidbuild.heygen.client import ExpiredUrlError, HeyGenClient, VideoStatus

KEY = "hg-LOOPBACK-q7Zx-DISTINCTIVE-5e1f-key"
WRONG_KEY = "hg-WRONG-k3Yv-DISTINCTIVE-0a9b-key"
FAST = EmulatorConfig(speed=0.001, catalogue="strict")   # unknown IDs get HeyGen's 400
VIDEO_ROUTE = routes.SUBMIT_ROUTES["video"]
AGENT_ROUTE = routes.SUBMIT_ROUTES["agent"]
DAISY = "Daisy-inskirt-20220818"
RACHEL = "2d5b0e6cf36f460aa7fc47e3eee4ba54"
START = 1_750_000_000.0


def video_body(callback_id: str = "row-ana", text: str = "Hi Ana, welcome!",
               title: str = "Welcome Ana") -> dict[str, Any]:
    return {
        "video_inputs": [{
            "character": {"type": "avatar", "avatar_id": DAISY, "avatar_style": "normal"},
            "voice": {"type": "text", "voice_id": RACHEL, "input_text": text, "speed": 1.0},
            "background": {"type": "color", "value": "#0B1F3A"},
        }],
        "dimension": {"width": 1280, "height": 720},
        "title": title,
        "callback_id": callback_id,
    }


def agent_body(callback_id: str = "agent-ana") -> dict[str, Any]:
    # With a callback_url, so the emulator's strict reading of the contract echoes callback_id.
    return {"prompt": "A 5-second welcome for Ana, friendly tone.",
            "avatar_id": DAISY, "duration_sec": 5, "orientation": "landscape",
            "callback_id": callback_id, "callback_url": "https://hooks.example.test/heygen"}


@dataclass
class Loopback:
    emulator: Emulator
    server: RunningServer
    client: HeyGenClient

    def recorded(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.emulator.requests() if r.path == path]

    def file_requests(self) -> list[RecordedRequest]:
        return [r for r in self.emulator.requests() if r.path.startswith("/files/")]

    def failed_attempts(self) -> int:
        """Requests a fault made fail (a slow reply inside the timeout is still a reply)."""
        return sum(bool(set(r.fault.split(",")) - {"slow"}) for r in self.emulator.requests()
                   if r.fault)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def start(sleeps: list[float]) -> Iterator[Callable[..., Loopback]]:
    """Serve a fresh emulator on 127.0.0.1:<free port> with a client for it; all closed after."""
    with ExitStack() as stack:

        def start(spec: str = "", *, clock: Callable[[], float] = time.time,
                  key: str = KEY, **options: Any) -> Loopback:
            emulator = stack.enter_context(Emulator(EmulatorConfig.parse(spec, FAST), clock=clock))
            server = stack.enter_context(serve(emulator, port=0))
            options.setdefault("sleep", sleeps.append)
            options.setdefault("random", lambda: 0.5)  # no jitter unless a test asks for it
            client = stack.enter_context(HeyGenClient(server.url, key, **options))
            return Loopback(emulator, server, client)

        yield start


def wait_finished(client: HeyGenClient, video_id: str, clock: Clock | None = None) -> VideoStatus:
    """Poll until the render ends; with ``clock``, each poll moves it on by a second instead
    of waiting, so the number of requests (and so a seeded fault pattern) is the same every run."""
    deadline = time.monotonic() + 5.0
    while True:
        status = client.status(video_id)
        if status.finished:
            return status
        assert time.monotonic() < deadline, f"{video_id} still {status.status}"
        if clock is None:
            time.sleep(0.005)
        else:
            clock.advance(1.0)


def first_box(data: bytes) -> tuple[int, bytes, bytes]:
    """Size, type and major brand of an MP4's first box."""
    size, kind = struct.unpack(">I4s", data[:8])
    return size, kind, data[8:12]


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --- the happy path ------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "body", "duration"), [
    ("video", video_body(), 16 / 15),
    ("agent", agent_body(), 5.0),
], ids=["video", "agent"])
def test_submit_polls_to_completed_and_downloads_exactly_the_served_bytes(
        start: Callable[..., Loopback], tmp_path: Path, kind: str, body: dict[str, Any],
        duration: float) -> None:
    clock = Clock(START)
    rig = start("speed=1", clock=clock)
    video_id = rig.client.submit(kind, body)
    assert [v.video_id for v in rig.emulator.videos()] == [video_id]

    seen: list[str] = []
    status = rig.client.status(video_id)
    while not status.finished:
        if not seen or seen[-1] != status.status:
            seen.append(status.status)
        clock.advance(1.0)
        status = rig.client.status(video_id)
    assert [*seen, status.status] == ["waiting", "pending", "processing", "completed"]
    assert (status.video_id, status.callback_id, status.error) == (video_id, body["callback_id"],
                                                                   None)
    assert status.duration == pytest.approx(duration, abs=0.001)
    assert status.created_at == int(START)
    assert status.video_url is not None and status.thumbnail_url is not None
    assert status.video_url.startswith(f"{rig.server.url}/files/{video_id}.mp4?Expires=")

    served = httpx.get(status.video_url).content
    result = rig.client.download(status.video_url, tmp_path / "out" / "ana.mp4")
    data = result.path.read_bytes()
    assert data == served and result.path == tmp_path / "out" / "ana.mp4"
    assert (result.size, result.sha256) == (len(served), hashlib.sha256(served).hexdigest())
    size, box, brand = first_box(data)
    assert box == b"ftyp" and 16 <= size < len(data) and brand.isalnum()
    assert data.endswith(f"video_id={video_id}".encode())  # this video's copy, not any clip

    thumbnail = rig.client.download(status.thumbnail_url, tmp_path / "out" / "ana.jpg")
    assert thumbnail.path.read_bytes() == httpx.get(status.thumbnail_url).content
    assert thumbnail.path.read_bytes()[:2] == b"\xff\xd8"
    assert leftovers(tmp_path / "out") == ["ana.jpg", "ana.mp4"]  # no temp files left behind


def test_list_pages_newest_first_and_iter_videos_stops_at_created_after(
        start: Callable[..., Loopback]) -> None:
    clock = Clock(START)
    rig = start(clock=clock)
    created = []
    for n in range(7):
        created.append(rig.client.submit("video", video_body(f"row-{n}", title=f"Video {n}")))
        clock.advance(10)

    pages, token = [], None
    while True:
        page = rig.client.list_videos(limit=3, token=token)
        pages.append([v.video_id for v in page.videos])
        token = page.token
        if token is None:
            break
    assert pages == [created[:3:-1], created[3:0:-1], created[:1]]
    newest = rig.client.list_videos(limit=1).videos[0]
    assert (newest.title, newest.status, newest.created_at) == ("Video 6", "completed",
                                                                START + 60)

    assert [v.video_id for v in rig.client.iter_videos()] == created[::-1]
    assert [v.video_id for v in rig.client.iter_videos(created_after=START + 30)] == \
        created[:2:-1]
    assert list(rig.client.iter_videos(created_after=START + 61)) == []


def test_iter_videos_follows_the_emulators_page_tokens(start: Callable[..., Loopback]) -> None:
    rig = start()
    created = [rig.client.submit("video", video_body(f"row-{n}")) for n in range(103)]
    assert [v.video_id for v in rig.client.iter_videos()] == created[::-1]
    lists = rig.recorded(routes.LIST_ROUTE)
    assert [("token" in r.query, r.query["limit"]) for r in lists] == [(False, "100"),
                                                                       (True, "100")]


def test_catalogues_read_through_the_client(start: Callable[..., Loopback]) -> None:
    rig = start()
    catalogue = rig.client.avatars()
    assert {"Daisy-inskirt-20220818", "Mark-costume-1234", "Anna_public_3_20240108",
            "Tyler-incasualsuit-20220721"} <= {a["avatar_id"] for a in catalogue.avatars}
    for avatar in catalogue.avatars:
        assert set(avatar) == {"avatar_id", "avatar_name", "gender", "preview_image_url",
                               "preview_video_url", "premium"}
        assert avatar["preview_image_url"].startswith(f"{rig.server.url}/static/avatars/")
    assert {"talking_photo_id", "talking_photo_name", "preview_image_url"} == set(
        catalogue.talking_photos[0])
    voices = rig.client.voices()
    assert RACHEL in {v["voice_id"] for v in voices} and len(voices) >= 12
    for voice in voices:
        assert set(voice) == {"voice_id", "language", "gender", "name", "preview_audio",
                              "support_pause", "emotion_support", "support_interactive_avatar"}
    preview = httpx.get(voices[0]["preview_audio"])
    assert preview.status_code == 200 and preview.headers["content-type"] == "audio/mpeg"


def _without_input_text(body: dict[str, Any]) -> dict[str, Any]:
    del body["video_inputs"][0]["voice"]["input_text"]
    return body


def _speed(body: dict[str, Any]) -> dict[str, Any]:
    body["video_inputs"][0]["voice"]["speed"] = 3
    return body


def _unknown_avatar(body: dict[str, Any]) -> dict[str, Any]:
    body["video_inputs"][0]["character"]["avatar_id"] = "Nobody-20990101"
    return body


@pytest.mark.parametrize(("kind", "body", "message"), [
    ("video", _unknown_avatar(video_body()),
     "Avatar Nobody-20990101 not found or no longer available"),
    ("video", _without_input_text(video_body()),
     "video_inputs[0].voice: 'input_text' is a required property"),
    ("video", _speed(video_body()),
     "video_inputs[0].voice.speed: 3 is greater than the maximum of 1.5"),
    ("agent", {**agent_body(), "avatar_id": "Ghost"},
     "Avatar Ghost not found or no longer available"),
], ids=["unknown-avatar", "missing-input-text", "speed-3", "agent-unknown-avatar"])
def test_emulator_400s_are_invalid_request_errors(start: Callable[..., Loopback],
                                                  sleeps: list[float], kind: str,
                                                  body: dict[str, Any], message: str) -> None:
    rig = start()
    with pytest.raises(errors.InvalidRequestError) as caught:
        rig.client.submit(kind, body)
    error = caught.value
    route = routes.SUBMIT_ROUTES[kind]
    assert (error.status, error.code, error.api_message) == (400, "invalid_parameter", message)
    assert str(error) == f"POST {route} HTTP 400 invalid_parameter: {message}"
    assert len(rig.recorded(route)) == 1 and sleeps == []
    assert rig.emulator.videos() == []


def test_unknown_video_id_is_not_found(start: Callable[..., Loopback]) -> None:
    rig = start()
    with pytest.raises(errors.NotFoundError) as caught:
        rig.client.status("0" * 32)
    assert type(caught.value) is errors.NotFoundError
    assert (caught.value.status, caught.value.code, caught.value.api_message) == (
        404, "not_found", f"Video {'0' * 32} not found")
    assert caught.value.path == routes.STATUS_ROUTE
    assert len(rig.recorded(routes.STATUS_ROUTE)) == 1


def test_wrong_key_is_an_auth_error_and_a_missing_one_never_leaves(
        start: Callable[..., Loopback]) -> None:
    rig = start(f"api_key={KEY}", key=WRONG_KEY)
    for call in (lambda: rig.client.voices(), lambda: rig.client.submit("video", video_body())):
        with pytest.raises(errors.AuthError) as caught:
            call()
        assert (caught.value.status, caught.value.code) == (401, "unauthorized")
    assert [r.status for r in rig.emulator.requests()] == [401, 401]  # not retried
    assert rig.emulator.videos() == []

    with pytest.raises(errors.AuthError, match="HEYGEN_API_KEY is not set"):
        HeyGenClient.from_env({"HEYGEN_API_BASE": rig.server.url, "HEYGEN_API_KEY": "  "})
    with HeyGenClient.from_env({"HEYGEN_API_BASE": rig.server.url, "HEYGEN_API_KEY": KEY}) as good:
        assert good.voices()
    assert [r.status for r in rig.emulator.requests()] == [401, 401, 200]


# --- rate limits, quota and the render cap ---------------------------------------------------


@pytest.mark.parametrize("call", ["submit", "voices", "status", "list"])
def test_rate_limit_is_retried_after_retry_after_then_raised(
        start: Callable[..., Loopback], sleeps: list[float], call: str) -> None:
    rig = start("rate_limit=1,retry_after=7", max_attempts=3)
    calls: dict[str, Callable[[], object]] = {
        "submit": lambda: rig.client.submit("video", video_body()),
        "voices": rig.client.voices,
        "status": lambda: rig.client.status("any"),
        "list": rig.client.list_videos,
    }
    with pytest.raises(errors.RateLimitError) as caught:
        calls[call]()
    assert (caught.value.status, caught.value.code, caught.value.retry_after) == (
        429, "rate_limit_exceeded", 7.0)
    assert sleeps == [7.0, 7.0]
    assert [(r.status, r.fault) for r in rig.emulator.requests()] == [(429, "rate_limit")] * 3
    assert rig.emulator.videos() == []


def test_rate_limited_submits_are_resent_and_create_each_video_once(
        start: Callable[..., Loopback], sleeps: list[float]) -> None:
    rig = start("rate_limit:submit=0.6,retry_after=0.25,seed=5", max_attempts=30)
    for n in range(10):
        rig.client.submit("video", video_body(f"row-{n}"))
    posts = rig.recorded(VIDEO_ROUTE)
    limited = [r for r in posts if r.fault == "rate_limit"]
    assert len(limited) >= 5 and len(posts) == 10 + len(limited)
    assert sleeps == [0.25] * len(limited)  # every wait is the server's Retry-After
    assert rig.emulator.callback_counts() == {f"row-{n}": 1 for n in range(10)}


def test_quota_is_a_quota_error_without_retry(start: Callable[..., Loopback],
                                              sleeps: list[float]) -> None:
    rig = start("quota=1")
    with pytest.raises(errors.QuotaError) as caught:
        rig.client.submit("video", video_body())
    assert (caught.value.status, caught.value.code, caught.value.api_message) == (
        429, "trial_video_limit_exceeded", "You have reached your daily api trial limit.")
    assert len(rig.recorded(VIDEO_ROUTE)) == 1 and sleeps == []
    assert rig.emulator.videos() == []
    assert rig.client.voices()  # only submissions are refused


def test_render_cap_429_is_retried_and_raised_with_retry_after(
        start: Callable[..., Loopback], sleeps: list[float]) -> None:
    rig = start("speed=100,max_concurrent=2,retry_after=3", max_attempts=3)
    rig.client.submit("video", video_body("a"))
    rig.client.submit("video", video_body("b"))
    with pytest.raises(errors.RateLimitError) as caught:
        rig.client.submit("video", video_body("c"))
    assert (caught.value.status, caught.value.code, caught.value.retry_after) == (
        429, "rate_limit_exceeded", 3.0)
    assert sleeps == [3.0, 3.0]
    assert [r.status for r in rig.recorded(VIDEO_ROUTE)] == [200, 200, 429, 429, 429]
    assert rig.emulator.callback_counts() == {"a": 1, "b": 1}


def test_render_cap_frees_up_while_the_client_waits(start: Callable[..., Loopback],
                                                    sleeps: list[float]) -> None:
    clock = Clock(START)

    def sleep(seconds: float) -> None:  # waiting moves the emulator's clock, as time would
        sleeps.append(seconds)
        clock.advance(seconds)

    rig = start("speed=1,max_concurrent=1,retry_after=40", clock=clock, sleep=sleep)
    rig.client.submit("video", video_body("a"))  # renders in about 34 s
    rig.client.submit("video", video_body("b"))
    assert sleeps == [40.0]
    assert rig.emulator.callback_counts() == {"a": 1, "b": 1}


# --- server errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["server_error=1", "server_error:status=1"])
def test_server_error_on_get_backs_off_then_raises(start: Callable[..., Loopback],
                                                   sleeps: list[float], spec: str) -> None:
    rig = start(spec, max_attempts=4)
    with pytest.raises(errors.ServerError) as caught:
        rig.client.status("any")
    assert (caught.value.status, caught.value.code) == (500, "internal_error")
    assert sleeps == [1.0, 2.0, 4.0]
    assert [r.fault for r in rig.recorded(routes.STATUS_ROUTE)] == ["server_error"] * 4


def test_server_error_on_post_is_uncertain_after_exactly_one_request(
        start: Callable[..., Loopback], sleeps: list[float]) -> None:
    rig = start("server_error:submit=1")
    with pytest.raises(errors.UncertainSubmitError) as caught:
        rig.client.submit("video", video_body())
    assert (caught.value.status, caught.value.code) == (500, "internal_error")
    assert "not resent" in str(caught.value)
    assert [(r.status, r.fault) for r in rig.recorded(VIDEO_ROUTE)] == [(500, "server_error")]
    assert sleeps == []
    assert rig.client.voices()  # scoped: other routes still answer


def test_polling_rides_out_seeded_server_errors(start: Callable[..., Loopback],
                                               sleeps: list[float]) -> None:
    clock = Clock(START)
    rig = start("speed=1,server_error:status=0.5,seed=3", clock=clock, max_attempts=20)
    video_id = rig.client.submit("video", video_body())
    assert wait_finished(rig.client, video_id, clock).status == "completed"
    struck = [r for r in rig.recorded(routes.STATUS_ROUTE) if r.fault == "server_error"]
    assert struck and len(sleeps) == len(struck)


# --- dropped connections ---------------------------------------------------------------------


def test_drop_after_a_submit_is_uncertain_and_the_video_was_created(
        start: Callable[..., Loopback], sleeps: list[float]) -> None:
    rig = start("drop_after:submit=1")
    with pytest.raises(errors.UncertainSubmitError) as caught:
        rig.client.submit("video", video_body("lost-reply"))
    assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)
    assert caught.value.status is None and sleeps == []
    # The emulator did the work and was not asked twice.
    assert [(r.status, r.fault) for r in rig.recorded(VIDEO_ROUTE)] == [(200, "drop_after")]
    assert rig.emulator.callback_counts() == {"lost-reply": 1}


def test_drop_before_a_submit_is_uncertain_too_and_reconciling_clears_a_resend(
        start: Callable[..., Loopback], tmp_path: Path) -> None:
    # Over a socket, a connection closed before the reply can't say whether the server acted:
    # the client reports it as uncertain and does not resend (the brief expected a retry).
    state = f"state_dir={tmp_path / 'account'}"
    dropping = start(f"drop_before:submit=1,{state}")
    claimed_at = time.time()
    with pytest.raises(errors.UncertainSubmitError):
        dropping.client.submit("video", video_body("row-1"))
    assert [(r.status, r.fault) for r in dropping.recorded(VIDEO_ROUTE)] == [(None, "drop_before")]

    # Later, the same account without the fault: nothing carries row-1, so sending is safe.
    later = start(state)
    candidates = list(later.client.iter_videos(created_after=claimed_at - 300))
    assert candidates == []
    video_id = later.client.submit("video", video_body("row-1"))
    assert later.client.status(video_id).callback_id == "row-1"
    assert later.emulator.callback_counts() == {"row-1": 1}
    assert len(later.recorded(VIDEO_ROUTE)) == 2


def test_lost_submissions_are_found_by_callback_id(start: Callable[..., Loopback]) -> None:
    rig = start("drop_after:submit=1")
    claimed_at = time.time()
    for n in range(3):
        with pytest.raises(errors.UncertainSubmitError):
            rig.client.submit("video", video_body(f"hash-{n}"))

    def find(callback_id: str) -> list[str]:
        # As the build engine does: list since the claim (with a margin), then ask each status.
        return [summary.video_id
                for summary in rig.client.iter_videos(created_after=claimed_at - 300)
                if rig.client.status(summary.video_id).callback_id == callback_id]

    found = {callback_id: find(callback_id) for callback_id in ("hash-0", "hash-1", "hash-2")}
    by_callback = {v.callback_id: v.video_id for v in rig.emulator.videos()}
    assert found == {callback_id: [video_id] for callback_id, video_id in by_callback.items()}
    assert find("hash-never-sent") == []
    assert len(rig.recorded(VIDEO_ROUTE)) == 3  # finding them sent nothing


@pytest.mark.parametrize("drop", ["drop_before", "drop_after"])
@pytest.mark.parametrize(("scope", "route", "call"), [
    ("status", routes.STATUS_ROUTE, lambda client: client.status("any")),
    ("list", routes.LIST_ROUTE, lambda client: client.list_videos()),
    ("catalogue", routes.AVATARS_ROUTE, lambda client: client.avatars()),
], ids=["status", "list", "catalogue"])
def test_drops_on_get_are_retried_then_raised_as_transport_errors(
        start: Callable[..., Loopback], sleeps: list[float], drop: str, scope: str, route: str,
        call: Callable[[HeyGenClient], object]) -> None:
    rig = start(f"{drop}:{scope}=1", max_attempts=3)
    with pytest.raises(errors.TransportError) as caught:
        call(rig.client)
    assert type(caught.value) is errors.TransportError
    assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)
    assert sleeps == [1.0, 2.0]
    assert [r.fault for r in rig.recorded(route)] == [drop] * 3


def test_polling_rides_out_seeded_drops(start: Callable[..., Loopback],
                                        sleeps: list[float]) -> None:
    clock = Clock(START)
    rig = start("speed=1,drop_before:status=0.3,drop_after:status=0.3,seed=8", clock=clock,
                max_attempts=20)
    video_id = rig.client.submit("video", video_body())
    assert wait_finished(rig.client, video_id, clock).status == "completed"
    faults = Counter(r.fault for r in rig.recorded(routes.STATUS_ROUTE))
    assert faults["drop_before"] and faults["drop_after"]
    assert len(sleeps) == rig.failed_attempts()


# --- slow replies ----------------------------------------------------------------------------

SHORT_READ = httpx.Timeout(5.0, read=0.1)


def test_slow_submit_past_the_read_timeout_is_uncertain_and_was_created(
        start: Callable[..., Loopback], sleeps: list[float]) -> None:
    rig = start("slow:submit=1,slow_seconds=0.4", timeout=SHORT_READ)
    with pytest.raises(errors.UncertainSubmitError) as caught:
        rig.client.submit("video", video_body("slow-row"))
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert sleeps == [] and len(rig.recorded(VIDEO_ROUTE)) == 1
    assert rig.emulator.callback_counts() == {"slow-row": 1}


def test_slow_get_past_the_read_timeout_is_a_transport_error_at_once(
        start: Callable[..., Loopback], sleeps: list[float]) -> None:
    # Not retried by the client: the caller retries without holding up its other work.
    rig = start("slow:catalogue=1,slow_seconds=0.4", timeout=SHORT_READ, max_attempts=2)
    with pytest.raises(errors.TransportError) as caught:
        rig.client.voices()
    assert type(caught.value) is errors.TransportError
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert sleeps == [] and len(rig.recorded(routes.VOICES_ROUTE)) == 1


def test_slow_replies_inside_the_timeout_are_just_slow(start: Callable[..., Loopback],
                                                       sleeps: list[float]) -> None:
    rig = start("slow=1,slow_seconds=0.05", timeout=httpx.Timeout(5.0, read=2.0))
    began = time.monotonic()
    video_id = rig.client.submit("video", video_body())
    assert rig.client.status(video_id).video_id == video_id
    assert time.monotonic() - began >= 0.1 and sleeps == []


# --- failed renders --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["video", "agent"])
def test_render_fail_is_a_failed_status_with_code_and_message(
        start: Callable[..., Loopback], sleeps: list[float], kind: str) -> None:
    rig = start("render_fail=1,seed=4")
    body = video_body() if kind == "video" else agent_body()
    status = wait_finished(rig.client, rig.client.submit(kind, body))
    assert status.status == "failed" and status.finished
    assert status.error is not None
    [video] = rig.emulator.videos()
    assert video.error is not None
    assert status.error.code == str(video.error["code"])
    assert status.error.code == "500"   # a server fault (render_refuse gives the content codes)
    assert (status.error.message, status.error.detail) == (video.error["message"],
                                                           video.error["detail"])
    assert status.error.message and status.error.detail
    assert (status.video_url, status.thumbnail_url, status.duration) == (None, None, None)
    assert sleeps == []


# --- file downloads --------------------------------------------------------------------------


def _completed(rig: Loopback) -> VideoStatus:
    return wait_finished(rig.client, rig.client.submit("video", video_body()))


@pytest.mark.parametrize(("spec", "kind", "fault"), [
    ("server_error:files=1", errors.ServerError, "server_error"),
    ("rate_limit:files=1", errors.RateLimitError, "rate_limit"),
    ("drop_before:files=1", errors.TransportError, "drop_before"),
    ("drop_after:files=1", errors.TransportError, "drop_after"),
])
def test_file_faults_are_retried_then_raised_leaving_nothing(
        start: Callable[..., Loopback], sleeps: list[float], tmp_path: Path, spec: str,
        kind: type[errors.ApiError], fault: str) -> None:
    rig = start(f"{spec},retry_after=1", max_attempts=3)
    status = _completed(rig)  # API routes are not hit by a files-scoped fault
    assert status.video_url is not None
    with pytest.raises(kind) as caught:
        rig.client.download(status.video_url, tmp_path / "ana.mp4")
    assert type(caught.value) is kind
    assert "Signature" not in str(caught.value)
    waits = [1.0, 1.0] if fault == "rate_limit" else [1.0, 2.0]  # Retry-After, or backoff
    assert sleeps == waits
    assert [r.fault for r in rig.file_requests()] == [fault] * 3
    assert leftovers(tmp_path) == []


def test_download_rides_out_seeded_file_faults(start: Callable[..., Loopback],
                                               sleeps: list[float], tmp_path: Path) -> None:
    # previews=off: the shipped clip, whose stamped bytes this test can name.
    rig = start("server_error:files=0.4,drop_after:files=0.4,seed=2,previews=off", max_attempts=20)
    status = _completed(rig)
    assert status.video_url is not None
    # What the emulator serves for this video (a direct GET would meet the faults too).
    served = emulator_media.stamped(status.video_id, "mp4")
    for n in range(4):
        result = rig.client.download(status.video_url, tmp_path / f"take-{n}.mp4")
        assert result.path.read_bytes() == served
        assert result.sha256 == hashlib.sha256(served).hexdigest()
    assert len(sleeps) == rig.failed_attempts() > 0
    assert leftovers(tmp_path) == [f"take-{n}.mp4" for n in range(4)]


def test_expired_url_is_expired_url_error_and_a_fresh_status_fixes_it(
        start: Callable[..., Loopback], sleeps: list[float], tmp_path: Path) -> None:
    clock = Clock(START)
    rig = start("url_ttl=60", clock=clock)
    video_id = rig.client.submit("video", video_body())
    clock.advance(5)
    stale = rig.client.status(video_id).video_url
    assert stale is not None
    clock.advance(61)
    with pytest.raises(ExpiredUrlError) as caught:
        rig.client.download(stale, tmp_path / "ana.mp4")
    assert isinstance(caught.value, errors.NotFoundError) and caught.value.status == 403
    assert caught.value.path.endswith(f"/files/{video_id}.mp4")
    assert "Signature" not in str(caught.value)
    assert leftovers(tmp_path) == [] and sleeps == []

    fresh = rig.client.status(video_id).video_url
    assert fresh is not None and fresh != stale
    assert rig.client.download(fresh, tmp_path / "ana.mp4").size == len(httpx.get(fresh).content)

    gone = emulator_media.signed_url(rig.server.url, "f" * 32, "mp4", int(clock.now) + 60)
    with pytest.raises(ExpiredUrlError) as caught:
        rig.client.download(gone, tmp_path / "gone.mp4")
    assert caught.value.status == 404
    assert leftovers(tmp_path) == ["ana.mp4"]


# --- everything at once ----------------------------------------------------------------------


def test_a_whole_batch_comes_through_seeded_mixed_faults(start: Callable[..., Loopback],
                                                         sleeps: list[float],
                                                         tmp_path: Path) -> None:
    spec = ("rate_limit=0.25,server_error:status=0.2,drop_before:status=0.15,"
            "drop_after:status=0.1,drop_after:list=0.5,drop_before:catalogue=0.3,"
            "server_error:files=0.3,"
            "slow:catalogue=1,slow_seconds=0.01,retry_after=0.5,seed=11")
    clock = Clock(START)
    rig = start(spec, clock=clock, max_attempts=25)
    ids = {f"row-{n}": rig.client.submit("video", video_body(f"row-{n}")) for n in range(5)}
    for callback_id, video_id in ids.items():
        status = wait_finished(rig.client, video_id, clock)
        assert (status.status, status.callback_id) == ("completed", callback_id)
        assert status.video_url is not None
        result = rig.client.download(status.video_url, tmp_path / f"{callback_id}.mp4")
        assert result.path.read_bytes().endswith(f"video_id={video_id}".encode())
    assert {v.video_id for v in rig.client.iter_videos()} == set(ids.values())
    assert rig.client.voices() and rig.client.avatars().avatars

    assert rig.emulator.callback_counts() == {callback_id: 1 for callback_id in ids}
    struck = Counter(kind for r in rig.emulator.requests() if r.fault
                     for kind in r.fault.split(","))
    assert set(struck) == {"rate_limit", "server_error", "drop_before", "drop_after", "slow"}
    assert len(sleeps) == rig.failed_attempts()
    assert leftovers(tmp_path) == sorted(f"{callback_id}.mp4" for callback_id in ids)


# --- the key never leaks ---------------------------------------------------------------------


def test_the_key_never_appears_in_errors_reprs_logs_or_the_request_log(
        start: Callable[..., Loopback], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    scenarios: list[tuple[str, Callable[[HeyGenClient], object]]] = [
        ("rate_limit:catalogue=1", lambda c: c.voices()),
        ("server_error:submit=1", lambda c: c.submit("video", video_body())),
        ("drop_after:submit=1", lambda c: c.submit("agent", agent_body())),
        ("drop_before:status=1", lambda c: c.status("any")),
        ("quota=1", lambda c: c.submit("video", video_body())),
        ("", lambda c: c.submit("video", _speed(video_body()))),
        ("", lambda c: c.status("unknown")),
        ("server_error:list=1", lambda c: list(c.iter_videos())),
    ]
    seen: list[str] = []
    rigs: list[Loopback] = []

    def record_failure(rig: Loopback, call: Callable[[HeyGenClient], object]) -> None:
        with pytest.raises(errors.ApiError) as caught:
            call(rig.client)
        error: BaseException | None = caught.value
        while error is not None:
            seen.extend([str(error), repr(error), repr(vars(error))])
            error = error.__cause__ or error.__context__

    for spec, call in scenarios:
        rig = start(f"{spec},api_key={KEY}", max_attempts=2)
        rigs.append(rig)
        record_failure(rig, call)

    slow = start(f"slow:submit=1,slow_seconds=0.3,api_key={KEY}", timeout=SHORT_READ)
    record_failure(slow, lambda c: c.submit("video", video_body()))
    wrong = start(f"api_key={KEY}", key=WRONG_KEY)
    record_failure(wrong, lambda c: c.voices())
    expiring = start(f"api_key={KEY},url_ttl=0")
    url = _completed(expiring).video_url
    assert url is not None
    record_failure(expiring, lambda c: c.download(url, tmp_path / "a.mp4"))
    rigs += [slow, wrong, expiring]

    for rig in rigs:
        requests = rig.emulator.requests()
        assert requests  # the key was sent and accepted or refused, not lost on the way
        seen += [repr(rig.client), repr(requests), *(str(r) for r in requests),
                 repr(rig.emulator.videos()), repr(rig.emulator.config)]
    seen.append(caplog.text)
    assert caplog.records  # httpx and the client did log
    leaks = [text for text in seen if KEY in text or WRONG_KEY in text]
    assert leaks == []
