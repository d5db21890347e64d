"""The emulator's v3 API and its legacy=gone mode, spoken to with raw httpx over a loopback socket.

test_v3_client.py drives the same routes through vidbuild's client; here the wire shapes,
HeyGen's rules and the Idempotency-Key semantics are checked on their own.
"""

from __future__ import annotations

import copy
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_clock import Clock

from vidbuild.emulator import Emulator, EmulatorConfig, serve
from vidbuild.emulator.config import ENV_LEGACY
from vidbuild.heygen import routes

KEY = "emu-v3-KEY-3f9a"
DAISY = "Daisy-inskirt-20220818"  # a studio avatar look
WAYNE = "Wayne_20240711"  # premium: also takes avatar_v
PHOTO = "tp-7f2c1d9e"  # a photo avatar look (talking photo)
RACHEL = "2d5b0e6cf36f460aa7fc47e3eee4ba54"
START = 1_800_000_000.0
DAY = 24 * 3600.0


def avatar_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "avatar", "avatar_id": DAISY, "script": "Hi Ana, welcome!",
                            "voice_id": RACHEL, "title": "Welcome Ana",
                            "background": {"type": "color", "value": "#0B1F3A"}}
    body.update(changes)
    return body


def studio_body() -> dict[str, Any]:
    return {
        "type": "studio", "title": "Tour for Ana", "resolution": "720p", "aspect_ratio": "16:9",
        "scenes": [
            {"type": "avatar_video", "input": {
                "type": "avatar", "avatar_id": DAISY, "script": "Hi Ana!", "voice_id": RACHEL,
                "voice_settings": {"speed": 1.1}, "background": {"type": "color", "color": "#112233"}}},
            {"type": "image", "source": {"type": "url", "url": "https://cdn.example.test/a.png"},
             "duration": 3},
            {"type": "image", "source": {"type": "asset_id", "asset_id": "asset-1"},
             "script": "Here is our office.", "voice_id": RACHEL},
            {"type": "video", "source": {"type": "url", "url": "https://cdn.example.test/b.mp4"},
             "playback": {"volume": 0.5, "mute": False}},
            {"type": "avatar_video", "input": {"type": "avatar", "avatar_id": PHOTO,
                                               "audio_url": "https://cdn.example.test/c.mp3",
                                               "expressiveness": "high"}},
        ],
    }


Start = Callable[..., httpx.Client]


@pytest.fixture
def start() -> Iterator[Start]:
    """An emulator behind a loopback socket, and an httpx client for it carrying the key."""
    with ExitStack() as stack:

        def start(spec: str = "", *, clock: Callable[[], float] | None = None,
                  state_dir: Path | None = None) -> httpx.Client:
            config = EmulatorConfig.parse(spec, EmulatorConfig(speed=0.001, state_dir=state_dir))
            emulator = stack.enter_context(Emulator(config, clock=clock or Clock(START)))
            server = stack.enter_context(serve(emulator))
            client = httpx.Client(base_url=server.url, headers={"x-api-key": KEY}, timeout=5)
            client.emulator = emulator  # type: ignore[attr-defined]
            return stack.enter_context(client)

        yield start


def emulator_of(client: httpx.Client) -> Emulator:
    emulator: Emulator = client.emulator  # type: ignore[attr-defined]
    return emulator


def base(client: httpx.Client) -> str:
    return str(client.base_url).rstrip("/")


def create(client: httpx.Client, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(routes.V3_VIDEOS_ROUTE, json=body, headers=headers)


def created_id(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["status"], data["output_format"]) == ("waiting", "mp4")
    video_id: str = data["video_id"]
    return video_id


def error_of(response: httpx.Response) -> tuple[int, str, str | None]:
    error = response.json()["error"]
    assert set(error) == {"code", "message", "param", "doc_url"}
    assert error["doc_url"].startswith("https://developers.heygen.com/docs/error-codes#")
    return response.status_code, error["code"], error["param"]


# --- creating and reading ---------------------------------------------------------------------


def test_avatar_video_renders_and_reads_back_through_detail_statuses_and_list(start: Start) -> None:
    clock = Clock(START)
    client = start("speed=1", clock=clock)
    video_id = created_id(create(client, avatar_body()))

    seen = []
    while True:
        detail = client.get(f"/v3/videos/{video_id}").json()["data"]
        bulk = client.get(routes.V3_STATUSES_ROUTE, params={"video_ids": video_id}).json()["data"]
        seen.append((detail["status"], bulk[0]["status"]))
        if detail["status"] == "completed":
            break
        clock.advance(1.0)
    assert list(dict.fromkeys(seen)) == [("pending", "queued"), ("processing", "processing"),
                                         ("completed", "completed")]
    assert "callback_id" not in detail
    assert (detail["id"], detail["title"], detail["created_at"]) == (video_id, "Welcome Ana",
                                                                    int(START))
    assert detail["completed_at"] >= detail["created_at"] and detail["duration"] > 0
    assert detail["video_url"].startswith(f"{base(client)}/files/{video_id}.mp4?Expires=")
    assert client.get(detail["video_url"]).content.endswith(f"video_id={video_id}".encode())
    page = client.get(detail["video_page_url"])
    assert page.status_code == 200 and "Welcome Ana" in page.text
    assert client.get(routes.V3_VIDEOS_ROUTE).json()["data"][0]["id"] == video_id


def test_studio_with_every_scene_kind_is_accepted_and_nulls_count_as_absent(start: Start) -> None:
    client = start()
    created_id(create(client, studio_body()))
    with_nulls = avatar_body(caption=None, engine=None, callback_id=None, audio_url=None)
    created_id(create(client, with_nulls))
    assert len(emulator_of(client).videos()) == 2


def _studio_with(path: list[Any], value: Any) -> dict[str, Any]:
    body = studio_body()
    target: Any = body
    for step in path[:-1]:
        target = target[step]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


_DELETE = object()

REFUSED = [
    ("avatar scene over an image",
     _studio_with(["scenes", 0, "input", "background"], {"type": "image", "url": "https://x.test/i.png"}),
     "invalid_parameter", "scenes[0].input.background.type"),
    ("avatar scene colour as v2 writes it",
     _studio_with(["scenes", 0, "input", "background"], {"type": "color", "value": "#112233"}),
     "invalid_parameter", "scenes[0].input.background.color"),
    ("no scenes", _studio_with(["scenes"], []), "invalid_parameter", "scenes"),
    ("51 scenes", _studio_with(["scenes"], [studio_body()["scenes"][1]] * 51),
     "invalid_parameter", "scenes"),
    ("silent image also narrated", _studio_with(["scenes", 1, "script"], "Hello"),
     "invalid_parameter", "scenes[1].duration"),
    ("image neither silent nor narrated", _studio_with(["scenes", 1, "duration"], _DELETE),
     "invalid_parameter", "scenes[1].script"),
    ("image held too long", _studio_with(["scenes", 1, "duration"], 301),
     "invalid_parameter", "scenes[1].duration"),
    ("image script without a voice", _studio_with(["scenes", 2, "voice_id"], _DELETE),
     "invalid_parameter", "scenes[2].voice_id"),
    ("two audio sources", _studio_with(["scenes", 0, "input", "audio_url"], "https://x.test/a.mp3"),
     "invalid_parameter", "scenes[0].input.audio_url"),
    ("avatar scene without audio", _studio_with(["scenes", 0, "input", "script"], _DELETE),
     "invalid_parameter", "scenes[0].input.script"),
    ("unknown avatar", _studio_with(["scenes", 0, "input", "avatar_id"], "Nobody-1"),
     "avatar_not_found", "scenes[0].input.avatar_id"),
    ("unknown voice", _studio_with(["scenes", 2, "voice_id"], "v-unknown"),
     "voice_not_found", "scenes[2].voice_id"),
    ("speed out of range", _studio_with(["scenes", 0, "input", "voice_settings", "speed"], 2.0),
     "invalid_parameter", "scenes[0].input.voice_settings.speed"),
    ("expressiveness on a video avatar",
     _studio_with(["scenes", 0, "input", "expressiveness"], "high"),
     "invalid_parameter", "scenes[0].input.expressiveness"),
    ("engine the look lacks", _studio_with(["scenes", 0, "input", "engine"], {"type": "avatar_v"}),
     "invalid_parameter", "scenes[0].input.engine.type"),
    ("plain http source", _studio_with(["scenes", 1, "source", "url"], "http://x.test/a.png"),
     "invalid_parameter", "scenes[1].source.url"),
    ("unknown scene kind", _studio_with(["scenes", 1, "type"], "text"),
     "invalid_parameter", "scenes[1].type"),
    ("bad resolution", _studio_with(["resolution"], "8k"), "invalid_parameter", "resolution"),
    ("avatar: colour background in studio's shape",
     avatar_body(background={"type": "color", "color": "#000000"}),
     "invalid_parameter", "background.value"),
    ("avatar: image background with url and asset",
     avatar_body(background={"type": "image", "url": "https://x.test/i.png", "asset_id": "a"}),
     "invalid_parameter", "background.url"),
    ("avatar: voice without script", avatar_body(script=None, audio_url="https://x.test/a.mp3"),
     "invalid_parameter", "voice_id"),
    ("avatar: motion prompt on a video avatar on avatar_iv", avatar_body(motion_prompt="wave"),
     "invalid_parameter", "motion_prompt"),
    ("not a video type", {"type": "template"}, "invalid_parameter", "type"),
]


@pytest.mark.parametrize(("body", "code", "param"), [case[1:] for case in REFUSED],
                         ids=[case[0] for case in REFUSED])
def test_bodies_heygen_refuses_get_400_naming_the_field(start: Start, body: dict[str, Any],
                                                        code: str, param: str) -> None:
    client = start("catalogue=strict")  # unknown IDs are refused only under a strict catalogue
    response = create(client, body, key="k-refused")
    assert error_of(response) == (400, code, param)
    assert emulator_of(client).videos() == []
    # A refused request leaves its key unused: the fixed body goes through with it.
    created_id(create(client, studio_body(), key="k-refused"))


def test_engine_motion_and_expressiveness_rules_follow_the_look(start: Start) -> None:
    client = start()
    created_id(create(client, avatar_body(avatar_id=WAYNE, engine={"type": "avatar_v"},
                                          motion_prompt="wave")))
    created_id(create(client, avatar_body(avatar_id=PHOTO, expressiveness="low",
                                          motion_prompt="nod")))
    assert error_of(create(client, avatar_body(avatar_id=PHOTO, engine={"type": "avatar_iii"},
                                               motion_prompt="nod"))) == (
        400, "invalid_parameter", "motion_prompt")


def test_a_body_that_is_not_json_is_refused(start: Start) -> None:
    client = start()
    response = client.post(routes.V3_VIDEOS_ROUTE, content=b"{nope",
                           headers={"Content-Type": "application/json"})
    assert error_of(response) == (400, "invalid_parameter", None)


# --- Idempotency-Key --------------------------------------------------------------------------


def test_same_key_replays_the_first_response_even_for_a_changed_body(start: Start) -> None:
    clock = Clock(START)
    client = start(clock=clock)
    first = create(client, avatar_body(), key="sha256:abc")
    video_id = created_id(first)
    clock.advance(60)
    replay = create(client, avatar_body(title="Changed title"), key="sha256:abc")
    assert (replay.status_code, replay.content) == (200, first.content)
    assert [v.video_id for v in emulator_of(client).videos()] == [video_id]
    assert created_id(create(client, avatar_body(), key="sha256:abd")) != video_id


def test_a_key_is_remembered_for_24_hours_of_emulated_time(start: Start) -> None:
    clock = Clock(START)
    client = start(clock=clock)
    video_id = created_id(create(client, avatar_body(), key="k1"))
    clock.advance(DAY - 1)
    assert created_id(create(client, avatar_body(), key="k1")) == video_id
    clock.advance(2)
    assert created_id(create(client, avatar_body(), key="k1")) != video_id
    assert len(emulator_of(client).videos()) == 2


def test_a_twin_while_the_first_is_in_flight_gets_409(start: Start) -> None:
    clock = Clock(START)  # stands still while the slow reply is on its way
    client = start("slow:submit=1,slow_seconds=0.2", clock=clock)
    video_id = created_id(create(client, avatar_body(), key="k-slow"))
    assert error_of(create(client, avatar_body(), key="k-slow")) == (
        409, "request_in_progress", "Idempotency-Key")
    clock.advance(1.0)
    assert created_id(create(client, avatar_body(), key="k-slow")) == video_id
    assert len(emulator_of(client).videos()) == 1


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "a;b", "a/b", "key,two"])
def test_malformed_keys_are_refused(start: Start, key: str) -> None:
    client = start()
    assert error_of(create(client, avatar_body(), key=key)) == (
        400, "invalid_parameter", "Idempotency-Key")
    assert emulator_of(client).videos() == []


def test_longest_key_is_accepted(start: Start) -> None:
    client = start()
    created_id(create(client, avatar_body(), key="a:b.c_d-" + "9" * 247))


def test_video_agents_take_no_idempotency_key(start: Start) -> None:
    client = start()
    body = {"prompt": "A 20-second welcome for Ana.", "orientation": "landscape"}
    replies = [client.post(routes.V3_AGENTS_ROUTE, json=body, headers={"Idempotency-Key": "same"})
               for _ in range(2)]
    sessions = [reply.json()["data"] for reply in replies]
    assert all(set(s) == {"session_id", "status", "video_id", "created_at"} for s in sessions)
    assert sessions[0]["status"] == "generating" and sessions[0]["created_at"] == int(START)
    assert sessions[0]["video_id"] != sessions[1]["video_id"]
    assert len(emulator_of(client).videos()) == 2


@pytest.mark.parametrize(("body", "param"), [
    ({"prompt": ""}, "prompt"),
    ({"prompt": "x" * 10_001}, "prompt"),
    ({"prompt": "hi", "callback_id": "row-1"}, "callback_id"),
    ({"prompt": "hi", "config": {"duration_sec": 30}}, "config"),
    ({"prompt": "hi", "files": [{"type": "url", "url": "https://x.test/f.pdf"}] * 21}, "files"),
    ({"prompt": "hi", "files": [{"type": "base64", "media_type": "image/png", "data": "%%"}]},
     "files[0].data"),
    ({"prompt": "hi", "avatar_id": "Nobody-1"}, "avatar_id"),
])
def test_agent_bodies_heygen_refuses(start: Start, body: dict[str, Any], param: str) -> None:
    client = start("catalogue=strict")  # unknown IDs are refused only under a strict catalogue
    assert error_of(client.post(routes.V3_AGENTS_ROUTE, json=body))[::2] == (400, param)


# --- reads across generations -----------------------------------------------------------------


V2_BODY = {
    "video_inputs": [{
        "character": {"type": "avatar", "avatar_id": DAISY, "avatar_style": "normal"},
        "voice": {"type": "text", "voice_id": RACHEL, "input_text": "Hi from v2"},
    }],
    "dimension": {"width": 1280, "height": 720}, "title": "Made with v2",
    "callback_id": "row-v2", "folder_id": "folder-7",
}


def test_v2_and_v3_videos_share_one_store(start: Start) -> None:
    client = start()
    v2_id = client.post(routes.SUBMIT_ROUTES["video"], json=V2_BODY).json()["data"]["video_id"]
    v3_id = created_id(create(client, avatar_body()))

    detail = client.get(f"/v3/videos/{v2_id}").json()["data"]
    assert (detail["id"], detail["title"], detail["folder_id"]) == (v2_id, "Made with v2",
                                                                    "folder-7")
    legacy = client.get(routes.STATUS_ROUTE, params={"video_id": v3_id}).json()["data"]
    assert legacy["id"] == v3_id and legacy["callback_id"] is None
    listed = client.get(routes.LIST_ROUTE).json()["data"]["videos"]
    assert [v["video_id"] for v in listed] == [v3_id, v2_id]
    in_folder = client.get(routes.V3_VIDEOS_ROUTE, params={"folder_id": "folder-7"}).json()["data"]
    assert [v["id"] for v in in_folder] == [v2_id]


def test_bulk_statuses_answer_each_id_once_in_order_with_not_found(start: Start) -> None:
    client = start("render_fail:submit=1")
    failed = created_id(create(client, avatar_body()))
    v2_id = client.post(routes.SUBMIT_ROUTES["video"], json=V2_BODY).json()["data"]["video_id"]
    reply = client.get(routes.V3_STATUSES_ROUTE,
                       params={"video_ids": f"nope,{failed}, {v2_id},nope"}).json()
    assert (reply["has_more"], reply["next_token"]) == (False, None)
    assert [(e["video_id"], e["status"]) for e in reply["data"]][::2] == [
        ("nope", "not_found"), (v2_id, "queued")]
    assert reply["data"][1]["video_id"] == failed


def test_bulk_statuses_refuse_more_than_100_ids_or_none(start: Start) -> None:
    client = start()
    ids = ",".join(f"id{n}" for n in range(101))
    assert error_of(client.get(routes.V3_STATUSES_ROUTE, params={"video_ids": ids})) == (
        400, "invalid_parameter", "video_ids")
    assert error_of(client.get(routes.V3_STATUSES_ROUTE)) == (400, "invalid_parameter", "video_ids")
    ok = client.get(routes.V3_STATUSES_ROUTE, params={"video_ids": ids.rsplit(",", 1)[0]})
    assert len(ok.json()["data"]) == 100


def test_failed_render_reads_as_failure_code_and_message(start: Start) -> None:
    clock = Clock(START)
    client = start("render_refuse:submit=1", clock=clock)
    video_id = created_id(create(client, avatar_body()))
    clock.advance(3600)
    detail = client.get(f"/v3/videos/{video_id}").json()["data"]
    assert detail["status"] == "failed" and detail["video_url"] is None
    assert detail["failure_code"] in {"40039", "400105", "400168"} and detail["failure_message"]
    entry = client.get(routes.V3_STATUSES_ROUTE, params={"video_ids": video_id}).json()["data"][0]
    assert entry["status"] == "failed" and entry["error"]["code"] == detail["failure_code"]


def test_unknown_video_is_404_not_found(start: Start) -> None:
    client = start()
    assert error_of(client.get("/v3/videos/nope")) == (404, "not_found", "video_id")
    assert error_of(client.get("/v3/videos/a/b"))[:2] == (404, "not_found")
    assert error_of(client.delete(routes.V3_ME_ROUTE))[:2] == (405, "method_not_allowed")


def test_list_filters_by_title_across_pages_newest_first(start: Start) -> None:
    clock = Clock(START)
    client = start(clock=clock)
    made = []
    for n in range(7):
        title = f"Spring [vb:{n}]" if n % 2 == 0 else f"Other {n}"
        made.append(created_id(create(client, avatar_body(title=title))))
        clock.advance(1)
    pages, token = [], None
    while True:
        params = {"limit": 2, "title": "spring [VB"} | ({"token": token} if token else {})
        reply = client.get(routes.V3_VIDEOS_ROUTE, params=params).json()
        pages.append([v["id"] for v in reply["data"]])
        token = reply["next_token"]
        assert reply["has_more"] is (token is not None)
        if token is None:
            break
    assert pages == [[made[6], made[4]], [made[2], made[0]]]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"limit": "ten"},
                                    {"token": "not-a-token"}])
def test_list_refuses_bad_paging(start: Start, params: dict[str, Any]) -> None:
    assert error_of(start().get(routes.V3_VIDEOS_ROUTE, params=params))[:2] == (
        400, "invalid_parameter")


# --- catalogues and account -------------------------------------------------------------------


def test_looks_page_and_filter_and_photo_avatars_are_talking_photos(start: Start) -> None:
    client = start()
    looks, token = [], None
    while True:
        reply = client.get(routes.V3_LOOKS_ROUTE,
                           params={"limit": 5} | ({"token": token} if token else {})).json()
        looks += reply["data"]
        token = reply["next_token"]
        if token is None:
            break
    ids = [look["id"] for look in looks]
    assert DAISY in ids and PHOTO in ids and len(ids) == len(set(ids)) == 15
    photos = client.get(routes.V3_LOOKS_ROUTE, params={"avatar_type": "photo_avatar"}).json()["data"]
    assert {look["id"] for look in photos} == {"tp-7f2c1d9e", "tp-3a9b0c41", "tp-c5e8d027"}
    assert client.get(routes.V3_LOOKS_ROUTE, params={"ownership": "private"}).json()["data"] == []
    assert error_of(client.get(routes.V3_LOOKS_ROUTE, params={"limit": 51}))[:2] == (
        400, "invalid_parameter")


def test_voices_filter_and_page(start: Start) -> None:
    client = start()
    german = client.get(routes.V3_VOICES_ROUTE, params={"language": "german"}).json()
    assert {v["name"] for v in german["data"]} == {"Lena - Bright", "Jonas - Deep"}
    first = client.get(routes.V3_VOICES_ROUTE, params={"limit": 10}).json()
    second = client.get(routes.V3_VOICES_ROUTE, params={"limit": 10,
                                                     "token": first["next_token"]}).json()
    assert (len(first["data"]), len(second["data"]), second["has_more"]) == (10, 5, False)
    assert set(first["data"][0]) >= {"voice_id", "name", "language", "gender", "type",
                                     "support_pause", "support_locale", "preview_audio_url"}


def test_users_me_counts_credits_used_by_finished_videos(start: Start) -> None:
    clock = Clock(START)
    client = start(clock=clock)

    def remaining() -> int:
        data = client.get(routes.V3_ME_ROUTE).json()["data"]
        assert data["billing_type"] == "subscription"
        credits: int = data["subscription"]["credits"]["premium_credits"]["remaining"]
        return credits

    before = remaining()
    created_id(create(client, avatar_body(script="word " * 400)))  # about 133 s of speech
    assert remaining() == before
    clock.advance(3600)
    assert remaining() == before - 3


# --- auth and faults --------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["x-api-key", "X-API-KEY", "X-Api-Key"])
def test_the_key_header_is_case_insensitive(start: Start, header: str) -> None:
    client = start()
    reply = httpx.get(base(client) + routes.V3_ME_ROUTE, headers={header: KEY})
    assert reply.status_code == 200


def test_missing_key_is_401_in_the_v3_shape(start: Start) -> None:
    client = start()
    reply = httpx.post(base(client) + routes.V3_VIDEOS_ROUTE, json=avatar_body())
    assert error_of(reply)[:2] == (401, "unauthorized")


def test_faults_strike_v3_routes_too(start: Start, tmp_path: Path) -> None:
    limited = start("rate_limit=1,retry_after=3")
    reply = limited.get(routes.V3_ME_ROUTE)
    assert error_of(reply)[:2] == (429, "rate_limit_exceeded")
    assert reply.headers["Retry-After"] == "3"
    assert error_of(start("quota:submit=1").post(routes.V3_VIDEOS_ROUTE, json=avatar_body()))[:2] == (
        429, "trial_video_limit_exceeded")
    assert error_of(start("server_error:status=1").get("/v3/videos/x"))[:2] == (500,
                                                                                 "internal_error")


def test_rendering_cap_answers_429_and_leaves_the_key_unused(start: Start) -> None:
    clock = Clock(START)
    client = start("max_concurrent=1,speed=1", clock=clock)
    created_id(create(client, avatar_body(), key="first"))
    assert error_of(create(client, avatar_body(), key="second"))[:2] == (429, "rate_limit_exceeded")
    clock.advance(3600)
    created_id(create(client, avatar_body(), key="second"))
    assert len(emulator_of(client).videos()) == 2


def test_dropped_reply_then_same_key_on_a_restarted_emulator_replays(start: Start,
                                                                      tmp_path: Path) -> None:
    clock = Clock(START)
    dropping = start("drop_after:submit=1", clock=clock, state_dir=tmp_path)
    with pytest.raises(httpx.RemoteProtocolError):
        create(dropping, avatar_body(), key="row-ana-hash")
    (video,) = emulator_of(dropping).videos()
    healthy = start(clock=clock, state_dir=tmp_path)  # another process on the same account
    assert created_id(create(healthy, avatar_body(), key="row-ana-hash")) == video.video_id
    assert len(emulator_of(healthy).videos()) == 1


# --- legacy=gone ------------------------------------------------------------------------------


LEGACY_READS = [("GET", routes.STATUS_ROUTE), ("GET", routes.LIST_ROUTE), ("GET", routes.AVATARS_ROUTE),
                ("GET", routes.VOICES_ROUTE), ("GET", "/v2/videos"), ("GET", "/v2/videos/abc"),
                ("GET", "/v2/user/remaining_quota"), ("POST", routes.SUBMIT_ROUTES["agent"])]


@pytest.mark.parametrize(("mode", "status"), [("gone", 404), ("410", 410)])
def test_legacy_gone_retires_every_v1_v2_route_but_video_generate(start: Start, mode: str,
                                                                  status: int) -> None:
    client = start(f"legacy={mode}")
    for method, path in LEGACY_READS:
        for headers in ({}, {"x-api-key": ""}):  # the key doesn't matter to a missing route
            reply = client.request(method, path, headers=headers, json={})
            assert reply.status_code == status, (method, path)
    generate = client.post(routes.SUBMIT_ROUTES["video"], json=V2_BODY)
    assert generate.status_code == 200
    v2_id = generate.json()["data"]["video_id"]
    assert client.get(f"/v3/videos/{v2_id}").json()["data"]["title"] == "Made with v2"


def test_legacy_mode_comes_from_the_environment_and_is_checked() -> None:
    assert EmulatorConfig.from_env({ENV_LEGACY: "GONE"}).legacy == "gone"
    assert EmulatorConfig.parse("legacy=410").legacy == "410"
    assert EmulatorConfig().legacy == "served"
    with pytest.raises(ValueError, match="legacy must be one of served, gone, 410"):
        EmulatorConfig.parse("legacy=off")


def test_cli_emulator_serves_v3_with_legacy_gone(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, ENV_LEGACY: "gone", "VIDBUILD_EMULATOR_SPEED": "0.001"}
    server = subprocess.Popen([sys.executable, "-m", "vidbuild", "emulator", "--port", str(port)],
                              env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        assert f"listening on http://127.0.0.1:{port}" in server.stderr.readline()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"x-api-key": KEY}) as client:
            assert client.get(routes.STATUS_ROUTE, params={"video_id": "x"}).status_code == 404
            assert client.post(routes.SUBMIT_ROUTES["video"], json=V2_BODY).status_code == 200
            video_id = created_id(create(client, copy.deepcopy(studio_body()), key="cli-key"))
            assert created_id(create(client, studio_body(), key="cli-key")) == video_id
            deadline = time.monotonic() + 10
            while client.get(f"/v3/videos/{video_id}").json()["data"]["status"] != "completed":
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        server.terminate()
        server.wait(timeout=10)
