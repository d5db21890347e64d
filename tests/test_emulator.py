"""The HeyGen emulator, over a loopback socket and in process: routes, validation, renders, faults, state."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from vidbuild.emulator import Emulator, EmulatorConfig, EmulatorRequest, serve
from vidbuild.emulator import media as emulator_media
from vidbuild.heygen import routes

FAST = EmulatorConfig(speed=0.001)
STRICT = EmulatorConfig(speed=0.001, catalogue="strict")   # unknown IDs get HeyGen's 400
KEY = {"X-Api-Key": "test-key"}
VIDEO_ROUTE = routes.SUBMIT_ROUTES["video"]
AGENT_ROUTE = routes.SUBMIT_ROUTES["agent"]
REQUIRED_AVATARS = {"Daisy-inskirt-20220818", "Mark-costume-1234", "Anna_public_3_20240108",
                    "Tyler-incasualsuit-20220721"}
REQUIRED_VOICES = {"2d5b0e6cf36f460aa7fc47e3eee4ba54", "1bd001e7e50f421d891986aad5158bc8",
                   "131a436c47064f708210df6628ef8f32"}


def video_body(callback_id: str = "job-1", text: str = "Hi Ana, welcome!") -> dict[str, Any]:
    return {
        "video_inputs": [{
            "character": {"type": "avatar", "avatar_id": "Daisy-inskirt-20220818",
                          "avatar_style": "normal"},
            "voice": {"type": "text", "voice_id": "2d5b0e6cf36f460aa7fc47e3eee4ba54",
                      "input_text": text},
            "background": {"type": "color", "value": "#0B1F3A"},
        }],
        "dimension": {"width": 1280, "height": 720},
        "title": "Welcome Ana",
        "callback_id": callback_id,
    }


def agent_body(**extra: Any) -> dict[str, Any]:
    return {"prompt": "A 30-second welcome for Ana.", "duration_sec": 5, **extra}


@contextmanager
def connect(emulator: Emulator, mode: str) -> Iterator[httpx.Client]:
    """A client for ``emulator`` over a loopback socket ("socket") or in process."""
    if mode == "socket":
        with serve(emulator) as server, httpx.Client(base_url=server.url, headers=KEY) as client:
            yield client
    else:
        with httpx.Client(base_url=routes.EMULATOR_BASE_URL, headers=KEY,
                          transport=emulator.transport()) as client:
            yield client


@pytest.fixture(params=["socket", "in_process"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(STRICT) as instance:
        yield instance


@pytest.fixture
def client(emulator: Emulator, mode: str) -> Iterator[httpx.Client]:
    with connect(emulator, mode) as instance:
        yield instance


def submit(client: httpx.Client, body: dict[str, Any], route: str = VIDEO_ROUTE) -> str:
    response = client.post(route, json=body)
    assert response.status_code == 200, response.text
    assert response.json()["error"] is None
    return str(response.json()["data"]["video_id"])


def status(client: httpx.Client, video_id: str) -> dict[str, Any]:
    response = client.get(routes.STATUS_ROUTE, params={"video_id": video_id})
    assert response.status_code == 200, response.text
    payload = response.json()
    assert (payload["code"], payload["message"]) == (100, "Success")
    data: dict[str, Any] = payload["data"]
    return data


def wait_finished(client: httpx.Client, video_id: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        data = status(client, video_id)
        if data["status"] in routes.FINISHED_STATUSES or time.monotonic() > deadline:
            return data
        time.sleep(0.01)


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    payload = response.json()
    assert payload["data"] is None
    return response.status_code, payload["error"]["code"], payload["error"]["message"]


def mp4_boxes(data: bytes) -> list[tuple[bytes, bytes]]:
    """Top-level (type, payload) boxes; fails unless the sizes tile the file exactly."""
    boxes, offset = [], 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        assert size >= 8 and offset + size <= len(data), f"bad box {kind!r} at {offset}"
        boxes.append((kind, data[offset + 8:offset + size]))
        offset += size
    return boxes


# --- the happy path, over both transports ---------------------------------------------------


def test_video_renders_to_downloadable_media(client: httpx.Client, emulator: Emulator) -> None:
    video_id = submit(client, video_body())
    data = wait_finished(client, video_id)
    assert set(data) == {"id", "status", "callback_id", "video_url", "thumbnail_url", "gif_url",
                         "caption_url", "duration", "created_at", "error"}
    assert (data["id"], data["status"], data["callback_id"]) == (video_id, "completed", "job-1")
    assert data["caption_url"] is None and data["error"] is None
    assert isinstance(data["created_at"], int) and abs(data["created_at"] - time.time()) < 60
    assert data["duration"] > 0
    base = str(client.base_url).rstrip("/")
    assert data["video_url"].startswith(f"{base}/files/{video_id}.mp4?Expires=")

    video = client.get(data["video_url"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content[4:8] == b"ftyp"
    kinds = [kind for kind, _ in mp4_boxes(video.content)]
    assert kinds[0] == b"ftyp" and {b"moov", b"mdat"} <= set(kinds)
    assert mp4_boxes(video.content)[-1] == (b"free", f"vidbuild-emulator video_id={video_id}".encode())
    assert client.get(data["video_url"]).content == video.content  # deterministic

    thumbnail = client.get(data["thumbnail_url"])
    assert thumbnail.headers["content-type"] == "image/jpeg"
    assert thumbnail.content[:2] == b"\xff\xd8" and thumbnail.content[-2:] == b"\xff\xd9"
    gif = client.get(data["gif_url"])
    assert gif.headers["content-type"] == "image/gif"
    assert gif.content[:6] == b"GIF89a" and gif.content[-1:] == b"\x3b"


def test_each_video_has_its_own_bytes(client: httpx.Client) -> None:
    first = wait_finished(client, submit(client, video_body("a")))
    second = wait_finished(client, submit(client, video_body("b")))
    for key in ("video_url", "thumbnail_url", "gif_url"):
        assert client.get(first[key]).content != client.get(second[key]).content


def test_head_gives_the_size_without_the_body(client: httpx.Client) -> None:
    data = wait_finished(client, submit(client, video_body()))
    head = client.head(data["video_url"])
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(client.get(data["video_url"]).content)


def test_agent_video_renders(client: httpx.Client) -> None:
    video_id = submit(client, agent_body(), AGENT_ROUTE)
    data = wait_finished(client, video_id)
    assert data["status"] == "completed" and data["duration"] == 5
    assert data["callback_id"] is None
    with_url = submit(client, agent_body(callback_id="agent-2", callback_url="https://e.com/h"),
                      AGENT_ROUTE)
    assert status(client, with_url)["callback_id"] == "agent-2"


def test_status_moves_through_every_stage_with_the_clock() -> None:
    now = [1_000_000.0]
    with Emulator(EmulatorConfig(speed=1.0), clock=lambda: now[0]) as emulator, \
            connect(emulator, "in_process") as client:
        video_id = submit(client, video_body(text="x" * 150))  # 10 s of speech
        render_seconds = 30 + 4 * 10.0
        seen = []
        for fraction in (0.0, 0.1, 0.5, 0.99, 1.0):
            now[0] = 1_000_000.0 + fraction * render_seconds
            seen.append(status(client, video_id)["status"])
        assert seen == ["waiting", "pending", "processing", "processing", "completed"]


def test_longer_scripts_render_longer() -> None:
    now = [1_000_000.0]
    with Emulator(EmulatorConfig(speed=1.0), clock=lambda: now[0]) as emulator, \
            connect(emulator, "in_process") as client:
        short = submit(client, video_body("s", text="x" * 15))
        long = submit(client, video_body("l", text="x" * 1500))
        now[0] += 60
        assert status(client, short)["status"] == "completed"
        assert status(client, long)["status"] not in routes.FINISHED_STATUSES


# --- list and catalogues --------------------------------------------------------------------


def test_list_pages_newest_first_without_callback_ids(client: httpx.Client) -> None:
    created = [submit(client, video_body(f"job-{n}")) for n in range(5)]
    seen, token, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"token": token} if token else {})}
        response = client.get(routes.LIST_ROUTE, params=params)
        payload = response.json()
        assert (response.status_code, payload["code"], payload["message"]) == (200, 100, "Success")
        for item in payload["data"]["videos"]:
            assert set(item) == {"video_id", "video_title", "status", "created_at", "type"}
            assert item["video_title"] == "Welcome Ana" and item["type"] == "GENERATED"
        seen += [item["video_id"] for item in payload["data"]["videos"]]
        pages += 1
        token = payload["data"]["token"]
        if not token:
            break
    assert seen == created[::-1] and pages == 3


@pytest.mark.parametrize("query", [{"limit": "-1"}, {"limit": "101"}, {"limit": "x"},
                                   {"token": "not-a-token"}])
def test_list_rejects_bad_paging(client: httpx.Client, query: dict[str, str]) -> None:
    status_code, code, _ = error_of(client.get(routes.LIST_ROUTE, params=query))
    assert (status_code, code) == (400, "invalid_parameter")


def test_avatar_catalogue(client: httpx.Client) -> None:
    payload = client.get(routes.AVATARS_ROUTE).json()
    assert payload["error"] is None
    avatars = payload["data"]["avatars"]
    assert REQUIRED_AVATARS <= {a["avatar_id"] for a in avatars} and len(avatars) >= 10
    for avatar in avatars:
        assert set(avatar) == {"avatar_id", "avatar_name", "gender", "preview_image_url",
                               "preview_video_url", "premium"}
    photos = payload["data"]["talking_photos"]
    assert "tp-7f2c1d9e" in {p["talking_photo_id"] for p in photos}
    assert set(photos[0]) == {"talking_photo_id", "talking_photo_name", "preview_image_url"}
    preview = client.get(avatars[0]["preview_image_url"])
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"


def test_voice_catalogue(client: httpx.Client) -> None:
    payload = client.get(routes.VOICES_ROUTE).json()
    voices = payload["data"]["voices"]
    assert payload["error"] is None and REQUIRED_VOICES <= {v["voice_id"] for v in voices}
    assert len(voices) >= 12
    for voice in voices:
        assert set(voice) == {"voice_id", "language", "gender", "name", "preview_audio",
                              "support_pause", "emotion_support", "support_interactive_avatar"}
    audio = client.get(voices[0]["preview_audio"])
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/mpeg"


# --- validation and errors ------------------------------------------------------------------


def _with(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    body = video_body()
    change(body)
    return body


def _scene(body: dict[str, Any]) -> dict[str, Any]:
    scene: dict[str, Any] = body["video_inputs"][0]
    return scene


REJECTED = [
    ("unknown avatar", _with(lambda b: _scene(b)["character"].update(avatar_id="Nobody-1")),
     "Avatar Nobody-1 not found or no longer available"),
    ("unknown voice", _with(lambda b: _scene(b)["voice"].update(voice_id="feedface")),
     "Voice feedface not found"),
    ("unknown talking photo", _with(lambda b: _scene(b).update(
        character={"type": "talking_photo", "talking_photo_id": "tp-missing"})),
     "Talking photo tp-missing not found"),
    ("emotion on a plain voice", _with(lambda b: _scene(b)["voice"].update(
        voice_id="1bd001e7e50f421d891986aad5158bc8", emotion="Excited")),
     "Voice 1bd001e7e50f421d891986aad5158bc8 does not support emotion"),
    ("circle colour", _with(lambda b: _scene(b)["character"].update(
        avatar_style="circle", circle_background_color="red")),
     "circle_background_color must be in hex format"),
    ("image without source", _with(lambda b: _scene(b).update(background={"type": "image"})),
     "Either url or image_asset_id needs to be provided"),
    ("audio with both sources", _with(lambda b: _scene(b).update(voice={
        "type": "audio", "audio_url": "https://e.com/a.mp3", "audio_asset_id": "a"})),
     "Either audio_url or audio_asset_id needs to be provided"),
    ("speed", _with(lambda b: _scene(b)["voice"].update(speed=3)),
     "video_inputs[0].voice.speed: 3 is greater than the maximum of 1.5"),
    ("typo", _with(lambda b: b.update(titel="x")),
     "Additional properties are not allowed ('titel' was unexpected)"),
    ("two problems", _with(lambda b: (_scene(b)["voice"].update(speed=3, pitch=99))),
     "video_inputs[0].voice.speed: 3 is greater than the maximum of 1.5 (and 1 more)"),
]


@pytest.mark.parametrize(("body", "message"), [case[1:] for case in REJECTED],
                         ids=[case[0] for case in REJECTED])
def test_invalid_bodies_get_400_and_create_nothing(client: httpx.Client, emulator: Emulator,
                                                   body: dict[str, Any], message: str) -> None:
    assert error_of(client.post(VIDEO_ROUTE, json=body)) == (400, "invalid_parameter", message)
    assert emulator.videos() == []


@pytest.mark.parametrize(("body", "message"), [
    (agent_body(avatar_id="Ghost"), "Avatar Ghost not found or no longer available"),
    (agent_body(config={"avatar_id": "Ghost"}), "Avatar Ghost not found or no longer available"),
    (agent_body(voice_id="feedface"), "Voice feedface not found"),
    ({"prompt": ""}, "prompt: '' should be non-empty"),
])
def test_invalid_agent_bodies_get_400(client: httpx.Client, body: dict[str, Any],
                                      message: str) -> None:
    assert error_of(client.post(AGENT_ROUTE, json=body)) == (400, "invalid_parameter", message)


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]"])
def test_unreadable_bodies_get_400(client: httpx.Client, raw: bytes) -> None:
    response = client.post(VIDEO_ROUTE, content=raw, headers={"Content-Type": "application/json"})
    assert error_of(response)[:2] == (400, "invalid_parameter")


def test_api_key_is_required(emulator: Emulator, mode: str) -> None:
    with connect(emulator, mode) as client:
        response = client.get(routes.AVATARS_ROUTE, headers={"X-Api-Key": ""})
        assert error_of(response)[:2] == (401, "unauthorized")


def test_configured_api_key_must_match() -> None:
    with Emulator(EmulatorConfig(api_key="right")) as emulator, \
            connect(emulator, "in_process") as client:
        assert client.get(routes.VOICES_ROUTE).status_code == 401
        assert client.get(routes.VOICES_ROUTE, headers={"X-Api-Key": "right"}).status_code == 200


def test_unknown_video_and_route_are_404(client: httpx.Client) -> None:
    assert error_of(client.get(routes.STATUS_ROUTE, params={"video_id": "nope"})) == (
        404, "not_found", "Video nope not found")
    assert error_of(client.get(routes.STATUS_ROUTE))[:2] == (400, "invalid_parameter")
    assert error_of(client.get("/v9/videos"))[:2] == (404, "not_found")
    assert error_of(client.get(VIDEO_ROUTE))[:2] == (405, "method_not_allowed")


def test_file_urls_expire_and_resist_tampering(emulator: Emulator, mode: str) -> None:
    with connect(emulator, mode) as client:
        data = wait_finished(client, submit(client, video_body()))
        video_id = data["id"]
        base = str(client.base_url).rstrip("/")
        expired = emulator_media.signed_url(base, video_id, "mp4", int(time.time()) - 1)
        assert client.get(expired).status_code == 403
        assert client.get(data["video_url"].replace("Signature=", "Signature=0")).status_code == 403
        assert client.get(f"{base}/files/{video_id}.mp4").status_code == 403
        unknown = emulator_media.signed_url(base, "0" * 32, "mp4", int(time.time()) + 60)
        assert client.get(unknown).status_code == 404


def test_file_of_an_unfinished_video_is_404() -> None:
    with Emulator(EmulatorConfig(speed=100.0)) as emulator, \
            connect(emulator, "in_process") as client:
        video_id = submit(client, video_body())
        url = emulator_media.signed_url(routes.EMULATOR_BASE_URL, video_id, "mp4",
                                        int(time.time()) + 60)
        assert status(client, video_id)["video_url"] is None
        assert client.get(url).status_code == 404


def test_too_long_video_fails_with_its_code() -> None:
    with Emulator(EmulatorConfig(speed=0.001, max_video_seconds=5)) as emulator, \
            connect(emulator, "in_process") as client:
        data = wait_finished(client, submit(client, video_body(text="x" * 300)))
        assert data["status"] == "failed" and data["error"]["code"] == 40119
        assert data["video_url"] is None and data["duration"] is None


# --- faults ---------------------------------------------------------------------------------


def faulty(spec: str) -> EmulatorConfig:
    return EmulatorConfig.parse(spec, FAST)


def test_no_faults_strike_at_rate_zero(mode: str) -> None:
    spec = ",".join(f"{kind}=0" for kind in ("rate_limit", "quota", "server_error",
                                             "drop_before", "drop_after", "slow", "render_fail"))
    with Emulator(faulty(spec)) as emulator, connect(emulator, mode) as client:
        for n in range(10):
            assert wait_finished(client, submit(client, video_body(f"j{n}")))["status"] == "completed"
        assert {r.fault for r in emulator.requests()} == {None}


def test_rate_limit_fault(mode: str) -> None:
    with Emulator(faulty("rate_limit=1,retry_after=2")) as emulator, \
            connect(emulator, mode) as client:
        for response in (client.post(VIDEO_ROUTE, json=video_body()), client.get(routes.VOICES_ROUTE)):
            assert error_of(response)[:2] == (429, "rate_limit_exceeded")
            assert response.headers["Retry-After"] == "2"
        assert emulator.videos() == []


def test_quota_fault_hits_submissions_only(mode: str) -> None:
    with Emulator(faulty("quota=1")) as emulator, connect(emulator, mode) as client:
        assert error_of(client.post(VIDEO_ROUTE, json=video_body())) == (
            429, "trial_video_limit_exceeded", "You have reached your daily api trial limit.")
        assert client.get(routes.VOICES_ROUTE).status_code == 200
        assert emulator.videos() == []


def test_server_error_fault(mode: str) -> None:
    with Emulator(faulty("server_error=1")) as emulator, connect(emulator, mode) as client:
        assert error_of(client.post(VIDEO_ROUTE, json=video_body()))[:2] == (500, "internal_error")
        assert emulator.videos() == []


def test_drop_before_creates_nothing(mode: str) -> None:
    with Emulator(faulty("drop_before:submit=1")) as emulator, connect(emulator, mode) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(VIDEO_ROUTE, json=video_body())
        assert emulator.videos() == []
        assert client.get(routes.VOICES_ROUTE).status_code == 200  # scoped to submissions


def test_drop_after_creates_the_video_but_loses_the_reply(mode: str) -> None:
    with Emulator(faulty("drop_after:submit=1")) as emulator, connect(emulator, mode) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(VIDEO_ROUTE, json=video_body("lost-reply"))
        assert emulator.callback_counts() == {"lost-reply": 1}
        # The reconciliation the contract describes: list, then ask each candidate's status.
        [listed] = client.get(routes.LIST_ROUTE).json()["data"]["videos"]
        assert status(client, listed["video_id"])["callback_id"] == "lost-reply"
        [record] = [r for r in emulator.requests() if r.path == VIDEO_ROUTE]
        assert (record.status, record.fault, record.body) == (200, "drop_after", video_body("lost-reply"))


def test_slow_fault_delays_or_times_out(mode: str) -> None:
    with Emulator(faulty("slow=1,slow_seconds=0.3")) as emulator, connect(emulator, mode) as client:
        started = time.monotonic()
        assert client.get(routes.VOICES_ROUTE).status_code == 200
        assert time.monotonic() - started >= 0.3
        with pytest.raises(httpx.ReadTimeout):
            client.get(routes.VOICES_ROUTE, timeout=0.05)


@pytest.mark.parametrize(("fault", "codes"), [("render_fail", {500}),
                                               ("render_refuse", {40039, 400105, 400168})])
def test_render_fail_fault(fault: str, codes: set[int]) -> None:
    with Emulator(faulty(f"{fault}=1")) as emulator, connect(emulator, "in_process") as client:
        data = wait_finished(client, submit(client, video_body()))
        assert data["status"] == "failed"
        assert data["error"]["code"] in codes
        assert set(data["error"]) == {"code", "message", "detail"}
        assert (data["video_url"], data["thumbnail_url"], data["gif_url"]) == (None, None, None)


def test_faults_at_a_partial_rate_follow_the_seed() -> None:
    def outcomes(seed: int) -> list[int]:
        with Emulator(faulty(f"server_error=0.5,seed={seed}")) as emulator, \
                connect(emulator, "in_process") as client:
            return [client.get(routes.VOICES_ROUTE).status_code for _ in range(40)]

    first = outcomes(1)
    assert first == outcomes(1) and first != outcomes(2)
    assert 5 < first.count(500) < 35


def test_file_faults_only_when_scoped() -> None:
    with Emulator(faulty("server_error:files=1")) as emulator, \
            connect(emulator, "in_process") as client:
        data = wait_finished(client, submit(client, video_body()))
        assert client.get(data["video_url"]).status_code == 500
    with Emulator(faulty("server_error:status=1")) as emulator, \
            connect(emulator, "in_process") as client:
        assert client.get(routes.STATUS_ROUTE, params={"video_id": "x"}).status_code == 500
        assert client.get(routes.VOICES_ROUTE).status_code == 200


def test_max_concurrent_renders(mode: str) -> None:
    now = [2_000_000.0]
    config = EmulatorConfig.parse("speed=1,max_concurrent=2,retry_after=3")
    with Emulator(config, clock=lambda: now[0]) as emulator, connect(emulator, mode) as client:
        submit(client, video_body("a"))
        submit(client, video_body("b"))
        refused = client.post(VIDEO_ROUTE, json=video_body("c"))
        assert error_of(refused)[:2] == (429, "rate_limit_exceeded")
        assert refused.headers["Retry-After"] == "3"
        now[0] += 3600  # both finished
        submit(client, video_body("c"))
        assert emulator.callback_counts() == {"a": 1, "b": 1, "c": 1}


# --- counters and persistence ---------------------------------------------------------------


def test_requests_and_duplicates_are_counted(client: httpx.Client, emulator: Emulator) -> None:
    submit(client, video_body("once"))
    assert emulator.duplicate_bodies() == []
    submit(client, video_body("twice"))
    submit(client, video_body("twice"))
    assert emulator.callback_counts() == {"once": 1, "twice": 2}
    [duplicate] = emulator.duplicate_bodies()
    assert json.loads(duplicate) == video_body("twice")
    posts = [r for r in emulator.requests() if r.method == "POST"]
    assert [r.body["callback_id"] for r in posts] == ["once", "twice", "twice"]


def test_state_dir_survives_a_restart(tmp_path: Path) -> None:
    config = EmulatorConfig(speed=0.001, state_dir=tmp_path / "emulator")
    with Emulator(config) as first, connect(first, "in_process") as client:
        video_id = submit(client, video_body("persisted"))
    with Emulator(config) as second, connect(second, "socket") as client:
        assert wait_finished(client, video_id)["callback_id"] == "persisted"
        assert [v["video_id"] for v in client.get(routes.LIST_ROUTE).json()["data"]["videos"]] == [
            video_id]
        assert second.callback_counts() == {"persisted": 1}
        assert second.requests()[0].path == VIDEO_ROUTE


def test_two_emulators_on_one_state_dir_share_the_render_cap(tmp_path: Path) -> None:
    config = EmulatorConfig(speed=100.0, max_concurrent=3, state_dir=tmp_path)
    codes: list[int] = []
    with Emulator(config) as left, Emulator(config) as right:
        clients = [connect(left, "in_process"), connect(right, "in_process")]

        def hammer(index: int) -> None:
            with clients[index % 2] as client:
                for n in range(4):
                    codes.append(client.post(VIDEO_ROUTE, json=video_body(f"{index}-{n}")).status_code)

        threads = [threading.Thread(target=hammer, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(codes) == [200] * 3 + [429] * 5
        assert len(left.videos()) == len(right.videos()) == 3


# --- configuration and the command-line server ----------------------------------------------


def test_config_from_string_and_environment(tmp_path: Path) -> None:
    config = EmulatorConfig.parse("rate_limit=0.2, drop_after:submit=0.05, max_concurrent=3,"
                                  "slow_seconds=1.5,seed=7")
    assert dict(config.faults) == {"rate_limit": 0.2, "drop_after:submit": 0.05}
    assert (config.max_concurrent, config.slow_seconds, config.seed) == (3, 1.5, 7)
    assert config.fault_rate("drop_after", "submit") == 0.05
    assert config.fault_rate("drop_after", "status") == 0.0
    assert config.fault_rate("rate_limit", "list") == 0.2
    assert config.fault_rate("rate_limit", "files") == 0.0
    env = {"VIDBUILD_EMULATOR_FAULTS": "quota=1,speed=5", "VIDBUILD_EMULATOR_SPEED": "0.001",
           "VIDBUILD_EMULATOR_STATE_DIR": str(tmp_path), "VIDBUILD_EMULATOR_API_KEY": "k"}
    from_env = EmulatorConfig.from_env(env)
    assert (from_env.speed, from_env.state_dir, from_env.api_key) == (0.001, tmp_path, "k")
    assert dict(from_env.faults) == {"quota": 1.0}
    assert EmulatorConfig.from_env({}) == EmulatorConfig()


@pytest.mark.parametrize(("text", "complaint"), [
    ("rate_limt=0.1", "unknown emulator fault 'rate_limt'"),
    ("rate_limit=2", "outside [0, 1]"),
    ("drop_after:upload=0.1", "unknown fault scope 'upload'"),
    ("quota:status=1", "only applies to submissions"),
    ("rate_limit", "not of the form name=value"),
    ("max_concurrent=two", "needs a whole number"),
    ("speed=fast", "needs a number"),
])
def test_bad_config_strings_are_refused(text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint.replace("[", r"\[")):
        EmulatorConfig.parse(text)


def test_handle_is_pure_and_builds_urls_from_the_request_base() -> None:
    with Emulator(FAST) as emulator:
        reply = emulator.handle(EmulatorRequest("GET", routes.AVATARS_ROUTE, KEY, b"",
                                                "http://example.test:9"))
        assert reply.status == 200 and not reply.drop and reply.delay == 0
        avatar = json.loads(reply.body)["data"]["avatars"][0]
        assert avatar["preview_image_url"].startswith("http://example.test:9/static/avatars/")


def test_importing_the_emulator_loads_neither_httpx_nor_jsonschema() -> None:
    code = ("import sys, vidbuild.emulator; "
            "print(sorted(m for m in ('httpx', 'jsonschema') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_main_serve_announces_and_stops_on_ctrl_c() -> None:
    code = ("from vidbuild.emulator import main_serve, EmulatorConfig; "
            "raise SystemExit(main_serve('127.0.0.1', 0, EmulatorConfig(speed=0.001)))")
    # SIGINT as at a terminal, even when this run is a background job (which ignores it).
    process = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"},
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert process.stderr is not None
        line = process.stderr.readline().strip()
        prefix = "HeyGen emulator listening on http://127.0.0.1:"
        assert line.startswith(prefix) and line[len(prefix):].isdigit()
        url = line.removeprefix("HeyGen emulator listening on ")
        assert httpx.get(f"{url}{routes.VOICES_ROUTE}", headers=KEY).status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
