"""What HeyGen really accepts: agent bodies by its published schema, video.list paging, a lenient emulator."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from buildkit import run_vidbuild, unstamped
from jsonschema import Draft202012Validator

from vidbuild.cli import main
from vidbuild.emulator import Emulator, EmulatorConfig
from vidbuild.heygen import routes
from vidbuild.heygen.client import HeyGenClient
from vidbuild.spec.expand import Job, expand_project
from vidbuild.spec.project import load_project
from vidbuild.spec.validate import body_errors, body_is_valid

REPO = Path(__file__).resolve().parent.parent
# HeyGen's published description of the agent body, as written down in our own schema.
REPO_ROOT = Path(__file__).resolve().parent.parent
PUBLISHED_AGENT_SCHEMA = json.loads(
    (REPO_ROOT / "schemas" / "heygen" / "video_agent_generate.accepted.schema.json").read_text())
AGENT_ROUTE = routes.SUBMIT_ROUTES["agent"]
VIDEO_ROUTE = routes.SUBMIT_ROUTES["video"]
KEY = {"X-Api-Key": "test-key"}
DAISY = "Daisy-inskirt-20220818"
RACHEL = "2d5b0e6cf36f460aa7fc47e3eee4ba54"
# A real account's IDs, unknown to the emulator's small catalogue.
ANGELA = "Angela-inTshirt-20220820"
REAL_VOICE = "0123456789abcdef0123456789abcdef"

AGENT_PROJECT = """\
version: 1
name: agents
kind: agent
data:
  key: "{{ row.id }}"
  rows: [{id: a, seconds: "30"}, {id: b, seconds: "45"}]
agent:
  prompt: "Intro for {{ row.id }}"
  avatar_id: %(avatar)s
  voice_id: %(voice)s
  duration_sec: "{{ row.seconds | int }}"
  orientation: portrait
  files: [{asset_id: "asset-{{ row.id }}"}]
  incognito_mode: true
%(extra)s
output: "out/{{ key }}.mp4"
"""


def agent_project(root: Path, extra: str = "", avatar: str = DAISY, voice: str = RACHEL) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    text = AGENT_PROJECT % {"avatar": avatar, "voice": voice, "extra": textwrap.indent(extra, "  ")}
    (root / "vidbuild.yaml").write_text(text, encoding="utf-8")
    return root


def jobs_of(root: Path) -> list[Job]:
    return list(expand_project(load_project(str(root))))


# --- agent bodies as HeyGen's published description has them ---------------------------------------


def test_agent_fields_are_sent_top_level_with_the_voice(tmp_path: Path) -> None:
    job = jobs_of(agent_project(tmp_path))[1]
    assert job.request_body() == {
        "prompt": "Intro for b", "avatar_id": DAISY, "voice_id": RACHEL, "duration_sec": 45,
        "orientation": "portrait", "files": [{"asset_id": "asset-b"}], "incognito_mode": True}


def test_agent_bodies_satisfy_heygens_published_schema(tmp_path: Path) -> None:
    published = Draft202012Validator(PUBLISHED_AGENT_SCHEMA)
    bodies = [job.request_body() for job in jobs_of(REPO / "projects" / "agent-intro")]
    bodies += [job.request_body() for job in jobs_of(agent_project(tmp_path / "plain"))]
    bodies += [job.request_body() for job in jobs_of(agent_project(
        tmp_path / "hooked", "callback_url: https://hooks.example.test/heygen"))]
    for body in bodies:
        assert [error.message for error in published.iter_errors(body)] == [], body
        assert "config" not in body   # deprecated by HeyGen


def test_agent_requests_carry_callback_id_only_with_a_callback_url(tmp_path: Path) -> None:
    for job in jobs_of(REPO / "projects" / "agent-intro") + jobs_of(agent_project(tmp_path / "p")):
        assert job.callback_id is None and "callback_id" not in job.request_body()
    hooked = jobs_of(agent_project(tmp_path / "h", "callback_url: https://hooks.example.test/h"))
    for job in hooked:
        assert job.request_body()["callback_id"] == job.callback_id == job.hash
        assert job.request_body()["callback_url"] == "https://hooks.example.test/h"


def test_video_requests_always_carry_callback_id() -> None:
    for job in jobs_of(REPO / "projects" / "hello"):
        assert job.request_body()["callback_id"] == job.hash


def test_agent_callback_rule_is_in_the_request_schema() -> None:
    schema = routes.REQUEST_SCHEMAS["agent"]
    body = {"prompt": "p", "callback_id": "c"}
    assert not body_is_valid(body, schema)
    assert list(body_errors(body, schema)) == [((), "'callback_url' is a dependency of 'callback_id'")]
    assert body_is_valid({**body, "callback_url": "https://hooks.example.test/h"}, schema)


def validate_stderr(root: Path, capsys: pytest.CaptureFixture[str],
                    monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.chdir(root)
    code = main(["validate"])
    return code, capsys.readouterr().err


def test_more_than_20_files_and_over_300_seconds_are_refused_where_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    root = agent_project(tmp_path)
    text = (root / "vidbuild.yaml").read_text()
    files = ", ".join(f"{{asset_id: f{n}}}" for n in range(21))
    text = text.replace('files: [{asset_id: "asset-{{ row.id }}"}]', f"files: [{files}]")
    text = text.replace('duration_sec: "{{ row.seconds | int }}"', "duration_sec: 301")
    (root / "vidbuild.yaml").write_text(text)
    code, err = validate_stderr(root, capsys, monkeypatch)
    assert code == 2 and "Traceback" not in err
    lines = err.splitlines()
    assert lines[0] == "vidbuild.yaml:11:17: agent.duration_sec: 301 is greater than the maximum of 300"
    assert lines[1] == "vidbuild.yaml:13:10: agent.files: 21 items, more than the maximum of 20"
    assert lines[-1] == "vidbuild: 2 errors, nothing sent"


def test_validate_online_checks_an_agent_projects_avatar_and_voice(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    root = agent_project(tmp_path, avatar=ANGELA, voice=REAL_VOICE)
    monkeypatch.chdir(root)
    # The emulator's default catalogue takes a real account's IDs (with a note); a strict one doesn't.
    monkeypatch.setenv("VIDBUILD_EMULATOR_CATALOGUE", "strict")
    assert main(["validate", "--online"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[1:] == [
        f"vidbuild.yaml:9:14: agent.avatar_id: unknown avatar ID '{ANGELA}' (used by rows a, b)",
        f"vidbuild.yaml:10:13: agent.voice_id: unknown voice ID '{REAL_VOICE}' (used by rows a, b)",
        "vidbuild: 2 errors, nothing sent"]


# --- the emulator: agent rules, nulls, empty strings --------------------------------------------------


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(speed=0.001)) as instance:
        yield instance


@pytest.fixture
def http(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=routes.EMULATOR_BASE_URL, headers=KEY,
                      transport=emulator.transport()) as client:
        yield client


def test_emulator_refuses_an_agent_callback_id_without_callback_url(http: httpx.Client,
                                                                     emulator: Emulator) -> None:
    refused = http.post(AGENT_ROUTE, json={"prompt": "Hi", "callback_id": "c1"})
    assert refused.status_code == 400
    assert refused.json()["error"] == {"code": "invalid_parameter",
                                       "message": "callback_id requires callback_url"}
    assert emulator.videos() == []
    for body in ({"prompt": "Hi", "callback_id": None},
                 {"prompt": "Hi", "callback_id": "c2", "callback_url": "https://hooks.example.test/h"}):
        assert http.post(AGENT_ROUTE, json=body).status_code == 200


def test_emulator_refuses_21_files_and_accepts_20(http: httpx.Client) -> None:
    files = [{"asset_id": f"a{n}"} for n in range(21)]
    refused = http.post(AGENT_ROUTE, json={"prompt": "Hi", "files": files})
    assert refused.status_code == 400 and refused.json()["error"]["message"].startswith("files: [")
    assert http.post(AGENT_ROUTE, json={"prompt": "Hi", "files": files[:20]}).status_code == 200


def test_emulator_takes_null_for_every_optional_field_and_still_refuses_a_null_requirement(
        http: httpx.Client) -> None:
    assert http.post(AGENT_ROUTE, json=AGENT_ALL_NULL).status_code == 200
    assert http.post(VIDEO_ROUTE, json=VIDEO_ALL_NULL).status_code == 200
    refused = http.post(AGENT_ROUTE, json={**AGENT_ALL_NULL, "prompt": None})
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "'prompt' is a required property"


def test_vidbuilds_own_check_of_its_bodies_stays_strict_about_null() -> None:
    for kind, body in (("agent", AGENT_ALL_NULL), ("video", VIDEO_ALL_NULL)):
        assert not body_is_valid(body, routes.REQUEST_SCHEMAS[kind])
        assert list(body_errors(body, routes.REQUEST_SCHEMAS[kind]))


def test_strict_catalogue_refuses_unknown_ids_and_lenient_names_them_once() -> None:
    body = {"prompt": "Hi", "avatar_id": ANGELA, "voice_id": REAL_VOICE}
    strict = EmulatorConfig.from_env({"VIDBUILD_EMULATOR_CATALOGUE": "strict"},
                                     base=EmulatorConfig(speed=0.001))
    assert strict.catalogue == "strict"
    with Emulator(strict) as emulator, HeyGenClient(routes.EMULATOR_BASE_URL, "k",
                                                    transport=emulator.transport()) as client:
        with pytest.raises(Exception, match=f"Avatar {ANGELA} not found or no longer available"):
            client.submit("agent", body)
        assert emulator.unknown_ids() == []
    notes: list[str] = []
    with Emulator(EmulatorConfig(speed=0.001), on_note=notes.append) as emulator, \
            HeyGenClient(routes.EMULATOR_BASE_URL, "k", transport=emulator.transport()) as client:
        client.submit("agent", body)
        client.submit("agent", {**body, "prompt": "Again"})
        assert emulator.unknown_ids() == [f"avatar_id {ANGELA}", f"voice_id {REAL_VOICE}"]
    assert len(notes) == 1 and ANGELA in notes[0] and REAL_VOICE in notes[0]


def test_a_bad_catalogue_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="catalogue must be one of lenient, strict"):
        EmulatorConfig.parse("catalogue=loose")


# --- paging of GET /v1/video.list ---------------------------------------------------------------


def make_videos(http: httpx.Client, count: int, title: str = "Video") -> list[str]:
    created = []
    for n in range(count):
        reply = http.post(VIDEO_ROUTE, json=video_body(f"{title} {n}"))
        assert reply.status_code == 200, reply.text
        created.append(reply.json()["data"]["video_id"])
    return created


def test_client_pages_by_limit_and_reads_every_video_in_one_page(emulator: Emulator,
                                                                  http: httpx.Client) -> None:
    created = make_videos(http, 12)
    with HeyGenClient(routes.EMULATOR_BASE_URL, "k", transport=emulator.transport()) as client:
        page = client.list_videos()
        assert [v.video_id for v in page.videos] == created[::-1] and page.token is None
        with pytest.raises(ValueError, match="limit must be between 1 and 100"):
            client.list_videos(limit=101)
    (listed,) = [r for r in emulator.requests() if r.path == routes.LIST_ROUTE]
    assert listed.query == {"limit": "100"}


@pytest.mark.parametrize(("query", "count", "more"), [
    ({"page_size": "100"}, 10, True),   # a size parameter HeyGen doesn't know: the default page
    ({"limit": "3"}, 3, True),
    ({"limit": "0"}, 10, True),
    ({"limit": ""}, 10, True),          # an empty value is unset
    ({"limit": "100", "page_size": "2"}, 12, False),
])
def test_emulator_list_honours_limit_and_ignores_page_size(http: httpx.Client, query: dict[str, str],
                                                           count: int, more: bool) -> None:
    make_videos(http, 12)
    data = http.get(routes.LIST_ROUTE, params=query).json()["data"]
    assert (len(data["videos"]), data["token"] is not None) == (count, more)


# --- GET /v2/videos, /v2/videos/{id}, /v2/user/remaining_quota ---------------------------------------


def test_v2_videos_filters_by_title_and_pages_by_token(http: httpx.Client) -> None:
    welcome = make_videos(http, 3, "Welcome")
    make_videos(http, 2, "Goodbye")
    first = http.get(routes.VIDEOS_ROUTE, params={"title": "elcom", "limit": 2}).json()
    assert [v["id"] for v in first["data"]] == welcome[:0:-1] and first["has_more"] is True
    rest = http.get(routes.VIDEOS_ROUTE, params={"title": "elcom", "token": first["next_token"]}).json()
    assert [v["id"] for v in rest["data"]] == welcome[:1]
    assert (rest["has_more"], rest["next_token"]) == (False, None)
    assert len(http.get(routes.VIDEOS_ROUTE).json()["data"]) == 5
    assert http.get(routes.VIDEOS_ROUTE, params={"folder_id": "f1"}).json()["data"] == []
    refused = http.get(routes.VIDEOS_ROUTE, params={"limit": 0})
    assert refused.status_code == 400 and refused.json() == {"error": {
        "code": "invalid_parameter", "message": "'limit' must be between 1 and 100.",
        "param": "limit", "doc_url": None}}


def test_v2_video_detail(http: httpx.Client) -> None:
    (video_id,) = make_videos(http, 1, "Welcome")
    detail = wait_detail(http, video_id)
    assert detail["id"] == video_id and detail["title"] == "Welcome 0"
    assert detail["video_url"].startswith(f"{routes.EMULATOR_BASE_URL}/files/{video_id}.mp4")
    assert detail["completed_at"] >= detail["created_at"] and "callback_id" not in detail
    missing = http.get(f"{routes.VIDEOS_ROUTE}/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_remaining_quota_counts_down_with_videos_made(emulator: Emulator, http: httpx.Client) -> None:
    with HeyGenClient(routes.EMULATOR_BASE_URL, "k", transport=emulator.transport()) as client:
        before = client.remaining_quota()
        assert (before.seconds, before.credits) == (36000, 600)
        assert before.details["api"] == 36000
        http.post(AGENT_ROUTE, json={"prompt": "Hi", "duration_sec": 60})
        assert client.remaining_quota().seconds == 35940


# --- HeyGen's own clients against `vidbuild emulator` (a real socket) ---------------------------------

# Bodies in the shapes HeyGen's own clients send: its MCP server (heygen-com/heygen-mcp,
# VideoGenerateRequest dumped with its defaults), its n8n node (heygen-com/n8n-integration-heygen-node,
# createAvatarVideoApi and the video agent body) and its Postman example as quoted in the contract.
MCP_VIDEO = {
    "title": "",
    "video_inputs": [{"character": {"type": "avatar", "avatar_id": DAISY, "avatar_style": "normal",
                                    "scale": 1.0},
                      "voice": {"type": "text", "input_text": "Hello from the MCP server.",
                                "voice_id": RACHEL}}],
    "test": False, "callback_id": None, "dimension": {"width": 1280, "height": 720},
    "aspect_ratio": None, "caption": False,
}
N8N_TALKING_PHOTO = {
    "caption": False, "test": False, "title": "n8n video", "dimension": {"width": 1280, "height": 720},
    "video_inputs": [{"character": {"type": "talking_photo", "talking_photo_id": "tp-7f2c1d9e",
                                    "scale": 1.0, "talking_photo_style": "",
                                    "offset": {"x": 0.0, "y": 0.0}, "talking_style": "stable",
                                    "expression": "default"},
                      "voice": {"type": "text", "voice_id": RACHEL, "input_text": "Hello from n8n.",
                                "speed": 1.0},
                      "background": {"type": "color", "value": "#f6f6fc"}}],
}
N8N_AVATAR = {
    "caption": False, "test": False, "dimension": {"width": 1280, "height": 720},
    "video_inputs": [{"character": {"type": "avatar", "avatar_id": DAISY, "scale": 1.0,
                                    "avatar_style": "normal", "offset": {"x": 0.0, "y": 0.0}},
                      "voice": {"type": "silence", "duration": 1.0}}],
}
N8N_AGENT = {"prompt": "A short welcome.", "duration_sec": 30, "orientation": "landscape",
             "avatar_id": DAISY}
POSTMAN_VIDEO = {
    "video_inputs": [{
        "character": {"type": "avatar", "avatar_id": DAISY, "avatar_style": "normal"},
        "voice": {"type": "text", "input_text": "Welcome to the HeyGen API!", "voice_id": RACHEL},
    }],
    "dimension": {"width": 1280, "height": 720}, "aspect_ratio": None, "callback_id": None,
}
VIDEO_ALL_NULL = {
    "video_inputs": [{"character": {"type": "avatar", "avatar_id": DAISY, "avatar_style": None,
                                    "scale": None, "offset": None, "matting": None},
                      "voice": {"type": "text", "input_text": "All unset.", "voice_id": RACHEL,
                                "speed": None, "pitch": None, "emotion": None, "locale": None},
                      "background": None}],
    "dimension": None, "title": None, "caption": None, "callback_id": None, "callback_url": None,
    "test": None,
}
AGENT_ALL_NULL = {"prompt": "A short welcome.", "avatar_id": None, "voice_id": None,
                  "orientation": None, "duration_sec": None, "config": None, "files": None,
                  "callback_url": None, "callback_id": None, "incognito_mode": False}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Callable[[], str]]]:
    """`vidbuild emulator` in a subprocess: its URL, and a function returning its stderr once stopped."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEYGEN_", "VIDBUILD_"))}
    env["VIDBUILD_EMULATOR_SPEED"] = "0.001"
    process = subprocess.Popen([sys.executable, "-m", "vidbuild", "emulator", "--port", str(port)],
                               env=env, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    first = process.stderr.readline()
    assert "listening on" in first, first

    def stop() -> str:
        process.terminate()
        _, err = process.communicate(timeout=10)
        return err

    try:
        yield f"http://127.0.0.1:{port}", stop
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_heygens_own_clients_bodies_and_reads_against_vidbuild_emulator(
        served: tuple[str, Callable[[], str]]) -> None:
    url, stop = served
    with httpx.Client(base_url=url, headers={"X-Api-Key": "any"}) as http:
        made = []
        for route, body in ((VIDEO_ROUTE, MCP_VIDEO), (VIDEO_ROUTE, N8N_TALKING_PHOTO),
                            (VIDEO_ROUTE, N8N_AVATAR), (VIDEO_ROUTE, POSTMAN_VIDEO),
                            (VIDEO_ROUTE, VIDEO_ALL_NULL), (AGENT_ROUTE, N8N_AGENT),
                            (AGENT_ROUTE, AGENT_ALL_NULL)):
            reply = http.post(route, json=body)
            assert reply.status_code == 200, (body, reply.text)
            made.append(mcp_video_id(reply.json()))
        for video_id in made:
            assert wait_detail(http, video_id)["status"] == "completed"
            mcp_status(http.get(routes.STATUS_ROUTE, params={"video_id": video_id}).json())
        assert mcp_credits(http.get(routes.QUOTA_ROUTE).json()) > 0
        voices = mcp_voices(http.get(routes.VOICES_ROUTE).json())
        assert any(voice["support_interactive_avatar"] for voice in voices)
        listed = http.get(routes.LIST_ROUTE, params={"limit": 100}).json()["data"]
        assert {v["video_id"] for v in listed["videos"]} == set(made) and listed["token"] is None
        unknown = {"prompt": "Hi", "avatar_id": ANGELA}
        assert http.post(AGENT_ROUTE, json=unknown).status_code == 200
        assert http.post(AGENT_ROUTE, json=unknown).status_code == 200
    notes = [line for line in stop().splitlines() if ANGELA in line]
    assert notes == [f"emulator: accepted IDs its catalogue doesn't know: avatar_id {ANGELA} (a real "
                     "account must hold them; VIDBUILD_EMULATOR_CATALOGUE=strict refuses them)"]


# How HeyGen's MCP server reads the replies (the types its response models require).

def mcp_video_id(payload: dict[str, Any]) -> str:
    assert payload["error"] is None or isinstance(payload["error"], str)
    video_id = payload["data"].get("video_id")
    assert isinstance(video_id, str) and video_id
    return video_id


def mcp_status(payload: dict[str, Any]) -> None:
    assert isinstance(payload["code"], int) and isinstance(payload["message"], str)
    data = payload["data"]
    assert isinstance(data["id"], str) and isinstance(data["status"], str)
    assert data["created_at"] is None or isinstance(data["created_at"], int)
    assert data["duration"] is None or isinstance(data["duration"], int | float)
    assert data["error"] is None or isinstance(data["error"], dict)


def mcp_credits(payload: dict[str, Any]) -> int:
    data = payload["data"]
    assert isinstance(data["remaining_quota"], int)
    details = data["details"]
    for name in ("api", "streaming_avatar", "streaming_avatar_instance_quota", "seat"):
        assert isinstance(details[name], int), name
    return int(data["remaining_quota"] / 60)


def mcp_voices(payload: dict[str, Any]) -> list[dict[str, Any]]:
    voices: list[dict[str, Any]] = payload["data"]["voices"]
    for voice in voices:
        for name in ("voice_id", "language", "gender", "name"):
            assert isinstance(voice[name], str), name
        assert str(voice["preview_audio"]).startswith("http")
        for name in ("support_pause", "emotion_support", "support_interactive_avatar"):
            assert isinstance(voice[name], bool), name
    return voices


# --- a project written for a real account builds offline ------------------------------------------


REAL_ACCOUNT_PROJECT = f"""\
version: 1
name: real-account
data:
  key: "{{{{ row.id }}}}"
  rows: [{{id: ana, name: Ana}}, {{id: ben, name: Ben}}]
defaults:
  avatar: {{avatar_id: {ANGELA}}}
  voice: {{voice_id: {REAL_VOICE}}}
scenes:
  - voice: {{text: "Hi {{{{ row.name }}}}!"}}
output: "out/{{{{ key }}}}.mp4"
"""


def test_a_real_account_project_builds_offline_with_one_note(tmp_path: Path) -> None:
    (tmp_path / "vidbuild.yaml").write_text(REAL_ACCOUNT_PROJECT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEYGEN_", "VIDBUILD_"))}
    env.update(VIDBUILD_EMULATOR_SPEED="0.0005", VIDBUILD_BACKEND="emulator")   # CI asks for it by name
    built = run_vidbuild("build", str(tmp_path), env=env)
    assert built.code == 0, built.stderr
    assert (tmp_path / "out" / "ana.mp4").stat().st_size > 0
    notes = [line for line in unstamped(built.stderr) if ANGELA in line]
    assert notes == [f"emulator: accepted IDs its catalogue doesn't know: avatar_id {ANGELA}, "
                     f"voice_id {REAL_VOICE} (a real account must hold them; "
                     "VIDBUILD_EMULATOR_CATALOGUE=strict refuses them)"]

    strict = run_vidbuild("build", str(tmp_path), "--state-dir", str(tmp_path / "strict-state"),
                          env={**env, "VIDBUILD_EMULATOR_CATALOGUE": "strict"})
    assert strict.code == 1, strict.stderr
    assert re.search(f"FAILED ana: .*Avatar {ANGELA} not found or no longer available", strict.stderr)
    assert "emulator: accepted IDs" not in strict.stderr


def test_a_bad_catalogue_setting_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "vidbuild.yaml").write_text(REAL_ACCOUNT_PROJECT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEYGEN_", "VIDBUILD_"))}
    run = run_vidbuild("build", str(tmp_path), env={**env, "VIDBUILD_EMULATOR_CATALOGUE": "loose",
                                                     "VIDBUILD_BACKEND": "emulator"})
    assert run.code == 2, run.stderr
    assert "catalogue must be one of lenient, strict, got 'loose'" in run.stderr
    assert "internal error" not in run.stderr


# --- helpers -------------------------------------------------------------------------------------


def video_body(title: str) -> dict[str, Any]:
    return {"video_inputs": [{"character": {"type": "avatar", "avatar_id": DAISY},
                              "voice": {"type": "text", "voice_id": RACHEL, "input_text": "Hi"}}],
            "dimension": {"width": 1280, "height": 720}, "title": title}


def wait_detail(http: httpx.Client, video_id: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        detail: dict[str, Any] = http.get(f"{routes.VIDEOS_ROUTE}/{video_id}").json()["data"]
        if detail["status"] in ("completed", "failed") or time.monotonic() > deadline:
            return detail
        time.sleep(0.01)
