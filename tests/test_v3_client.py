"""HeyGenClient.v3 and the route-gone check: against the emulator over loopback, and MockTransport.

The emulator tests (test_v3_emulator.py) pin the wire; here the typed calls the build
engine will use are checked end to end: idempotent creation, lost replies, 409 while in
flight, bulk statuses, details, the title filter, catalogues, and telling a retired
route from an unknown video whatever a server sends with its 404.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_clock import Clock

from vidbuild import errors
from vidbuild.emulator import Emulator, EmulatorConfig, RecordedRequest, serve
from vidbuild.heygen import routes
from vidbuild.heygen.client import HeyGenClient, VideoDetail, VideoFailure, VideoStatus

KEY = "hg-V3-LOOPBACK-8c1d-DISTINCTIVE-key"
DAISY = "Daisy-inskirt-20220818"
RACHEL = "2d5b0e6cf36f460aa7fc47e3eee4ba54"
START = 1_800_000_000.0
HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def avatar_body(title: str = "Welcome Ana", script: str = "Hi Ana, welcome!") -> dict[str, Any]:
    return {"type": "avatar", "avatar_id": DAISY, "script": script, "voice_id": RACHEL,
            "title": title, "background": {"type": "color", "value": "#0B1F3A"}}


V2_BODY = {
    "video_inputs": [{"character": {"type": "avatar", "avatar_id": DAISY},
                      "voice": {"type": "text", "voice_id": RACHEL, "input_text": "Hi from v2"}}],
    "dimension": {"width": 1280, "height": 720}, "title": "Made with v2", "callback_id": "row-v2",
}


class Rig:
    def __init__(self, emulator: Emulator, client: HeyGenClient) -> None:
        self.emulator = emulator
        self.client = client

    def recorded(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.emulator.requests() if r.path == path]


Start = Callable[..., Rig]


@pytest.fixture
def start() -> Iterator[Start]:
    """An emulator on 127.0.0.1:<free port> and a client for it; all closed afterwards."""
    with ExitStack() as stack:

        def start(spec: str = "", *, clock: Callable[[], float] | None = None,
                  state_dir: Path | None = None, **options: Any) -> Rig:
            config = EmulatorConfig.parse(spec, EmulatorConfig(speed=0.001, state_dir=state_dir))
            emulator = stack.enter_context(Emulator(config, clock=clock or Clock(START)))
            server = stack.enter_context(serve(emulator))
            options.setdefault("sleep", lambda seconds: None)
            client = stack.enter_context(HeyGenClient(server.url, KEY, **options))
            return Rig(emulator, client)

        yield start


def finish(rig: Rig, clock: Clock, video_id: str) -> VideoDetail:
    for _ in range(10_000):
        detail = rig.client.v3.video(video_id)
        if detail.finished:
            return detail
        clock.advance(1.0)
    raise AssertionError(f"{video_id} never finished")


# --- creating, polling, downloading -----------------------------------------------------------


def test_create_poll_read_detail_and_download(start: Start, tmp_path: Path) -> None:
    clock = Clock(START)
    rig = start(clock=clock)
    created = rig.client.v3.create_video(avatar_body(), idempotency_key=HASH)
    assert (created.status, created.output_format) == ("waiting", "mp4")
    (request,) = rig.recorded(routes.V3_VIDEOS_ROUTE)
    assert request.body == avatar_body()

    assert rig.client.v3.statuses([created.video_id])[created.video_id].status == "queued"
    detail = finish(rig, clock, created.video_id)
    assert isinstance(detail, VideoStatus)  # the engine can treat it as a legacy status
    assert (detail.status, detail.title, detail.callback_id, detail.error) == (
        "completed", "Welcome Ana", None, None)
    assert detail.duration and detail.completed_at and detail.created_at == START
    assert detail.video_page_url and detail.video_page_url.endswith(f"/share/{created.video_id}")
    assert detail.video_url is not None
    result = rig.client.download(detail.video_url, tmp_path / "ana.mp4")
    assert result.path.read_bytes().endswith(f"video_id={created.video_id}".encode())


def test_same_key_gives_the_same_video_and_pays_once(start: Start) -> None:
    rig = start()
    first = rig.client.v3.create_video(avatar_body(), idempotency_key=HASH)
    again = rig.client.v3.create_video(avatar_body(title="Welcome Ana!"), idempotency_key=HASH)
    other = rig.client.v3.create_video(avatar_body(), idempotency_key=HASH[:-1] + "9")
    assert again == first and other.video_id != first.video_id
    assert [r.status for r in rig.recorded(routes.V3_VIDEOS_ROUTE)] == [200, 200, 200]
    assert len(rig.emulator.videos()) == 2


@pytest.mark.parametrize("key", ["", "with space", "x" * 256, "slash/key"])
def test_a_malformed_key_is_refused_before_sending(start: Start, key: str) -> None:
    rig = start()
    with pytest.raises(ValueError, match="Idempotency-Key"):
        rig.client.v3.create_video(avatar_body(), idempotency_key=key)
    assert rig.emulator.requests() == []


def test_lost_reply_is_uncertain_and_resending_with_the_key_is_safe(start: Start,
                                                                    tmp_path: Path) -> None:
    clock = Clock(START)
    lossy = start("drop_after:submit=1", clock=clock, state_dir=tmp_path)
    with pytest.raises(errors.UncertainSubmitError, match="same Idempotency-Key") as caught:
        lossy.client.v3.create_video(avatar_body(), idempotency_key=HASH)
    assert isinstance(caught.value.__cause__, errors.UncertainSubmitError)
    assert len(lossy.recorded(routes.V3_VIDEOS_ROUTE)) == 1  # never resent on its own
    # A rerun (another process, same account) resends with the same key.
    rerun = start(clock=clock, state_dir=tmp_path)
    created = rerun.client.v3.create_video(avatar_body(), idempotency_key=HASH)
    assert [v.video_id for v in rerun.emulator.videos()] == [created.video_id]


def test_twin_in_flight_raises_request_in_progress_then_replays(start: Start,
                                                                tmp_path: Path) -> None:
    clock = Clock(START)  # emulated time stands still until the test moves it
    slow = start("slow:submit=1,slow_seconds=1", clock=clock, state_dir=tmp_path,
                 timeout=httpx.Timeout(5, read=0.2))
    with pytest.raises(errors.UncertainSubmitError):
        slow.client.v3.create_video(avatar_body(), idempotency_key=HASH)
    twin = start(clock=clock, state_dir=tmp_path)
    with pytest.raises(errors.RequestInProgressError) as caught:
        twin.client.v3.create_video(avatar_body(), idempotency_key=HASH)
    assert (caught.value.status, caught.value.code) == (409, "request_in_progress")
    assert len(twin.recorded(routes.V3_VIDEOS_ROUTE)) == 2  # not retried by the client
    clock.advance(2.0)
    created = twin.client.v3.create_video(avatar_body(), idempotency_key=HASH)
    assert [v.video_id for v in twin.emulator.videos()] == [created.video_id]


def test_refused_studio_body_is_an_invalid_request_naming_the_field(start: Start) -> None:
    rig = start()
    body = {"type": "studio", "scenes": [{"type": "avatar_video", "input": {
        "type": "avatar", "avatar_id": DAISY, "script": "Hi", "voice_id": RACHEL,
        "background": {"type": "image", "url": "https://cdn.example.test/office.png"}}}]}
    with pytest.raises(errors.InvalidRequestError) as caught:
        rig.client.v3.create_video(body, idempotency_key=HASH)
    error = caught.value
    assert (error.status, error.code, error.method, error.path) == (
        400, "invalid_parameter", "POST", routes.V3_VIDEOS_ROUTE)
    assert error.api_message.startswith("scenes[0].input.background.type: 'image' is not supported")
    assert rig.emulator.videos() == []


def test_agent_video_and_its_session(start: Start) -> None:
    rig = start()
    session = rig.client.v3.create_agent_video({"prompt": "A short welcome for Ana."})
    assert session.status == "generating" and session.created_at == START
    assert session.video_id is not None
    assert rig.client.v3.video(session.video_id).status == "pending"


# --- bulk statuses, details, list -------------------------------------------------------------


def test_bulk_statuses_cost_one_request_per_100_ids_and_flag_not_found(start: Start) -> None:
    clock = Clock(START)
    rig = start("render_fail:submit=1", clock=clock)
    failed = rig.client.v3.create_video(avatar_body(), idempotency_key="k-1").video_id
    v2_id = rig.client.submit("video", V2_BODY)
    unknown = [f"gone-{n:03d}" for n in range(150)]
    clock.advance(3600)

    result = rig.client.v3.statuses([unknown[0], failed, v2_id, *unknown, failed])
    assert list(result) == [unknown[0], failed, v2_id, *unknown[1:]]
    requests = rig.recorded(routes.V3_STATUSES_ROUTE)
    assert [len(r.query["video_ids"].split(",")) for r in requests] == [100, 52]
    assert result[failed].finished and isinstance(result[failed].error, VideoFailure)
    assert result[v2_id].finished and not result[v2_id].not_found  # made by v2, read by v3
    assert all(result[i].not_found and not result[i].finished for i in unknown)


def test_detail_reads_v2_videos_and_unknown_ids_are_not_found_not_gone(start: Start) -> None:
    clock = Clock(START)
    rig = start(clock=clock)
    v2_id = rig.client.submit("video", V2_BODY)
    detail = finish(rig, clock, v2_id)
    assert (detail.title, detail.status, detail.callback_id) == ("Made with v2", "completed", None)
    with pytest.raises(errors.NotFoundError) as caught:
        rig.client.v3.video("no-such-video")
    assert type(caught.value) is errors.NotFoundError
    assert [r.path for r in rig.emulator.requests()][-2:] == ["/v3/videos/no-such-video",
                                                              routes.V3_VIDEOS_ROUTE]
    with pytest.raises(errors.NotFoundError):
        rig.client.status("no-such-video")  # legacy routes served: unknown, not gone


def test_title_filter_finds_videos_across_pages(start: Start) -> None:
    clock = Clock(START)
    rig = start(clock=clock)
    made = {}
    for n in range(250):
        title = f"spring {n} [vb:{HASH[:12]}]" if n % 50 == 0 else f"other {n}"
        made[n] = rig.client.v3.create_video(avatar_body(title=title),
                                             idempotency_key=f"k-{n}").video_id
        clock.advance(1)
    found = list(rig.client.v3.iter_videos(title=f"[VB:{HASH[:12]}]"))
    assert [v.video_id for v in found] == [made[n] for n in (200, 150, 100, 50, 0)]
    page = rig.client.v3.list_videos(limit=2, title="spring")
    second = rig.client.v3.list_videos(limit=2, title="spring", token=page.next_token)
    assert [v.title for v in page.videos + second.videos] == [
        f"spring {n} [vb:{HASH[:12]}]" for n in (200, 150, 100, 50)]
    every = list(rig.client.v3.iter_videos(created_after=START + 245))
    assert len(every) == 5 and len(rig.recorded(routes.V3_VIDEOS_ROUTE)) == 250 + 3 + 1


# --- catalogues and account -------------------------------------------------------------------


def test_looks_voices_and_credits(start: Start) -> None:
    clock = Clock(START)
    rig = start(clock=clock)
    looks = rig.client.v3.avatar_looks()
    assert len(looks) == 15 and len(rig.recorded(routes.V3_LOOKS_ROUTE)) == 1
    photos = rig.client.v3.avatar_looks(avatar_type="photo_avatar")
    assert {look["avatar_type"] for look in photos} == {"photo_avatar"} and len(photos) == 3
    assert len(rig.client.v3.voices()) == 15
    assert [v["name"] for v in rig.client.v3.voices(language="French", gender="male")] == [
        "Louis - Steady"]
    account = rig.client.v3.me()
    assert (account.billing_type, account.remaining_credits) == ("subscription", 600.0)
    rig.client.v3.create_video(avatar_body(script="word " * 200), idempotency_key="long")
    clock.advance(3600)
    assert rig.client.v3.me().remaining_credits == 598.0


@pytest.mark.parametrize(("data", "credits"), [
    ({"billing_type": "wallet", "wallet": {"currency": "credits", "remaining_balance": 42.5}}, 42.5),
    ({"billing_type": "wallet", "wallet": {"currency": "usd", "remaining_balance": 10}}, None),
    ({"billing_type": "usage_based", "usage_based": {"remaining_credits": 7}}, 7.0),
    ({"billing_type": "subscription", "subscription": {"plan": "pro", "credits": {
        "premium_credits": {"remaining": 5}, "add_on_credits": {"remaining": 3}}}}, 8.0),
    ({"billing_type": "subscription", "subscription": {"plan": "pro"}}, None),
    ({"username": "x"}, None),
])
def test_account_credits_for_each_billing_type(data: dict[str, Any], credits: float | None) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"data": data}))
    with HeyGenClient("https://api.heygen.test", KEY, transport=transport) as client:
        assert client.v3.me().remaining_credits == credits


# --- retired routes ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["gone", "410"])
def test_legacy_reads_raise_route_gone_and_generate_still_works(start: Start, mode: str) -> None:
    clock = Clock(START)
    rig = start(f"legacy={mode}", clock=clock)
    video_id = rig.client.submit("video", V2_BODY)  # the Studio API stays
    for read in (lambda: rig.client.status(video_id), lambda: rig.client.list_videos(),
                 rig.client.avatars, rig.client.voices):
        with pytest.raises(errors.RouteGoneError):
            read()
    # A legacy POST keeps its 404, which may name a missing asset; a 410 is gone regardless.
    expected = errors.RouteGoneError if mode == "410" else errors.NotFoundError
    with pytest.raises(expected) as caught:
        rig.client.submit("agent", {"prompt": "hi"})
    assert type(caught.value) is expected
    assert finish(rig, clock, video_id).status == "completed"  # v3 reads it instead


def test_route_gone_is_probed_once_per_client(start: Start) -> None:
    rig = start("legacy=gone")
    for _ in range(3):
        with pytest.raises(errors.RouteGoneError):
            rig.client.status("v-1")
    paths = [r.path for r in rig.emulator.requests()]
    assert paths == [routes.STATUS_ROUTE, routes.LIST_ROUTE, routes.STATUS_ROUTE, routes.STATUS_ROUTE]


ODD_404_BODIES = [
    ("html", b"<html><body><h1>404 Not Found</h1></body></html>", "text/html"),
    ("text", b"Not Found", "text/plain"),
    ("json message", b'{"message":"Not Found"}', "application/json"),
    ("json detail", b'{"detail":"Not Found"}', "application/json"),
    ("heygen shaped", b'{"error":{"code":"not_found","message":"Video not found"}}',
     "application/json"),
    ("empty", b"", "text/plain"),
]


def server_404(body: bytes, content_type: str, *, alive: set[str]) -> httpx.MockTransport:
    """A server that answers 404 with ``body`` to everything but GETs of the paths in ``alive``."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path in alive:
            return httpx.Response(200, json={"code": 100, "data": {"videos": []}}
                                  if request.url.path == routes.LIST_ROUTE
                                  else {"data": [], "has_more": False, "next_token": None})
        return httpx.Response(404, content=body, headers={"Content-Type": content_type})

    return httpx.MockTransport(handle)


@pytest.mark.parametrize(("body", "content_type"), [case[1:] for case in ODD_404_BODIES],
                         ids=[case[0] for case in ODD_404_BODIES])
@pytest.mark.parametrize(("read", "probe"), [
    (lambda client: client.status("v-1"), routes.LIST_ROUTE),
    (lambda client: client.v3.video("v-1"), routes.V3_VIDEOS_ROUTE),
    (lambda client: client.v3.create_video(avatar_body(), idempotency_key=HASH), routes.V3_VIDEOS_ROUTE),
], ids=["legacy status", "v3 detail", "v3 create"])
def test_gone_versus_unknown_holds_whatever_the_404_body(
        body: bytes, content_type: str, read: Callable[[HeyGenClient], object],
        probe: str) -> None:
    gone = server_404(body, content_type, alive=set())
    with HeyGenClient("https://api.heygen.test", KEY, transport=gone) as client, \
            pytest.raises(errors.RouteGoneError) as caught:
        read(client)
    assert caught.value.status == 404 and probe in str(caught.value)
    alive = server_404(body, content_type, alive={probe})
    with HeyGenClient("https://api.heygen.test", KEY, transport=alive) as client, \
            pytest.raises(errors.NotFoundError) as unknown:
        read(client)
    assert type(unknown.value) is errors.NotFoundError and unknown.value.status == 404


def test_410_is_gone_without_a_probe_and_5xx_probe_decides_nothing() -> None:
    requests: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request.url.path)
        if request.url.path == routes.STATUS_ROUTE:
            return httpx.Response(410, text="Gone")
        if request.url.path == "/v3/videos/v-1":
            return httpx.Response(404, text="Not Found")
        return httpx.Response(503, text="Service Unavailable")

    with HeyGenClient("https://api.heygen.test", KEY, transport=httpx.MockTransport(handle),
                      sleep=lambda seconds: None, max_attempts=2) as client:
        with pytest.raises(errors.RouteGoneError):
            client.status("v-1")
        assert requests == [routes.STATUS_ROUTE]
        with pytest.raises(errors.ServerError) as caught:
            client.v3.video("v-1")
        assert errors.NotFoundError in chain(caught.value)
    assert requests[1:] == ["/v3/videos/v-1", routes.V3_VIDEOS_ROUTE, routes.V3_VIDEOS_ROUTE]


def chain(error: BaseException | None) -> list[type[BaseException]]:
    kinds = []
    while error is not None:
        kinds.append(type(error))
        error = error.__cause__ or error.__context__
    return kinds


def test_a_legacy_post_404_is_not_taken_for_a_retired_route() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(
        404, json={"error": {"code": "asset_not_found", "message": "no such asset"}}))
    with HeyGenClient("https://api.heygen.test", KEY, transport=transport) as client, \
            pytest.raises(errors.NotFoundError) as caught:
        client.submit("video", V2_BODY)
    assert type(caught.value) is errors.NotFoundError


def test_v3_requests_carry_the_key_and_idempotency_header_and_parse_params() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            return httpx.Response(200, json={"data": {"video_id": "v9", "status": "waiting"}})
        return httpx.Response(400, json={"error": {"code": "invalid_parameter", "message": "bad",
                                                   "param": "limit", "doc_url": "https://d"}})

    with HeyGenClient("https://api.heygen.test", KEY, transport=httpx.MockTransport(handle)) as client:
        assert client.v3.create_video(avatar_body(), idempotency_key=HASH).output_format is None
        with pytest.raises(errors.InvalidRequestError, match="limit: bad"):
            client.v3.list_videos(limit=5)
    post = seen[0]
    assert (post.headers["X-Api-Key"], post.headers["Idempotency-Key"]) == (KEY, HASH)
    assert json.loads(post.content) == avatar_body()
    assert "Idempotency-Key" not in seen[1].headers and seen[1].url.params["limit"] == "5"
