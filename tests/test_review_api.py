"""Held-out trial of what HeyGen really accepts: bodies its published description allows replayed
against `vidbuild emulator` over loopback, the v3 routes' nulls and unknown IDs, and
`validate --online` without a key on a project written for a real account.

Facts come from HeyGen's published description (heygen-com/heygen-cli: codegen/external-routes.json
before 88b1673, written down in schemas/heygen/video_agent_generate.accepted.schema.json;
gen/video.go and gen/video-agent.go, 2026-07).
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from buildkit import run_vidbuild
from jsonschema import Draft202012Validator

from vidbuild.emulator import Emulator, EmulatorConfig
from vidbuild.heygen import routes
from vidbuild.heygen.v3_bodies import choose_route, v3_body
from vidbuild.spec.expand import expand_project
from vidbuild.spec.project import load_project
from vidbuild.spec.validate import body_is_valid

# HeyGen's published description of the agent body, as written down in our own schema.
REPO_ROOT = Path(__file__).resolve().parent.parent
PUBLISHED_AGENT = Draft202012Validator(json.loads(
    (REPO_ROOT / "schemas" / "heygen" / "video_agent_generate.accepted.schema.json").read_text()))
AGENT_ROUTE = routes.SUBMIT_ROUTES["agent"]
DAISY = "Daisy-inskirt-20220818"
RACHEL = "2d5b0e6cf36f460aa7fc47e3eee4ba54"
ANGELA = "Angela-inTshirt-20220820"          # a real account's IDs, unknown to the emulator
REAL_VOICE = "0123456789abcdef0123456789abcdef"
REAL_PHOTO = "tp-real-account-123"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEYGEN_", "VIDBUILD_"))}
    return {**env, "VIDBUILD_EMULATOR_SPEED": "0.001", **extra}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[httpx.Client, subprocess.Popen[str]]]:
    """`vidbuild emulator --port N` in a subprocess, and a client for it."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "vidbuild", "emulator", "--port", str(port)],
                               env=clean_env(), stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    assert "listening on" in process.stderr.readline()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-Api-Key": "any"}) as http:
            yield http, process
    finally:
        process.terminate()
        process.communicate(timeout=10)


# --- POST /v1/video_agent/generate: what the published description accepts, the emulator accepts ---

ACCEPTED_AGENT_BODIES = {
    # callback_url is `string | null` in the description: no URL format, no scheme.
    "callback_url empty": {"prompt": "Hi", "callback_url": ""},
    "callback_url without scheme": {"prompt": "Hi", "callback_url": "hooks.example.test/h"},
    # files[].asset_id is a plain string.
    "empty asset_id": {"prompt": "Hi", "files": [{"asset_id": ""}]},
    # duration_sec is `integer, minimum 5`, with no maximum, at the top and in `config`.
    "duration 600": {"prompt": "Hi", "duration_sec": 600},
    "config duration 600": {"prompt": "Hi", "config": {"duration_sec": 600}},
}


@pytest.mark.parametrize("name", sorted(ACCEPTED_AGENT_BODIES))
def test_agent_bodies_heygens_description_accepts_are_accepted_over_loopback(
        served: tuple[httpx.Client, subprocess.Popen[str]], name: str) -> None:
    body = ACCEPTED_AGENT_BODIES[name]
    assert list(PUBLISHED_AGENT.iter_errors(body)) == []
    reply = served[0].post(AGENT_ROUTE, json=body)
    assert reply.status_code == 200, reply.text
    assert isinstance(reply.json()["data"]["video_id"], str)


def test_a_null_incognito_mode_is_refused_as_heygen_refuses_it(
        served: tuple[httpx.Client, subprocess.Popen[str]]) -> None:
    # incognito_mode is `boolean, default false`: unlike every other optional field, not nullable.
    body = {"prompt": "Hi", "incognito_mode": None}
    assert list(PUBLISHED_AGENT.iter_errors(body)) != []
    reply = served[0].post(AGENT_ROUTE, json=body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["message"] == "incognito_mode: None is not of type 'boolean'"


# --- the v3 routes: null only where the description says `nullable` ------------------------------

AVATAR_BODY = {"type": "avatar", "avatar_id": DAISY, "script": "Hi", "voice_id": RACHEL}
# Fields gen/video.go and gen/video-agent.go give a default but do not mark `nullable`.
NOT_NULLABLE = {
    "agent incognito_mode": (routes.V3_AGENTS_ROUTE, {"prompt": "Hi", "incognito_mode": None},
                             "incognito_mode"),
    "agent mode": (routes.V3_AGENTS_ROUTE, {"prompt": "Hi", "mode": None}, "mode"),
    "output_format": (routes.V3_VIDEOS_ROUTE, {**AVATAR_BODY, "output_format": None}, "output_format"),
    "voice speed": (routes.V3_VIDEOS_ROUTE, {**AVATAR_BODY, "voice_settings": {"speed": None}},
                    "voice_settings.speed"),
    "voice pitch": (routes.V3_VIDEOS_ROUTE, {**AVATAR_BODY, "voice_settings": {"pitch": None}},
                    "voice_settings.pitch"),
    "caption file_format": (routes.V3_VIDEOS_ROUTE, {**AVATAR_BODY, "caption": {"file_format": None}},
                            "caption.file_format"),
}


@pytest.mark.parametrize("name", sorted(NOT_NULLABLE))
def test_v3_refuses_null_where_the_description_does_not_allow_it(
        served: tuple[httpx.Client, subprocess.Popen[str]], name: str) -> None:
    route, body, param = NOT_NULLABLE[name]
    reply = served[0].post(route, json=body)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_parameter", param)
    assert error["message"] == f"{param}: must not be null"


def test_v3_still_takes_null_for_nullable_fields(served: tuple[httpx.Client, subprocess.Popen[str]]) -> None:
    body = {**AVATAR_BODY, "title": None, "fit": None, "engine": None, "caption": None,
            "voice_settings": {"locale": None}, "callback_url": None}
    assert served[0].post(routes.V3_VIDEOS_ROUTE, json=body).status_code == 200
    agent = {"prompt": "Hi", "avatar_id": None, "files": None, "orientation": None, "style_id": None}
    assert served[0].post(routes.V3_AGENTS_ROUTE, json=agent).status_code == 200


# --- v3 and a real account's IDs: accepted with one note, refused under a strict catalogue --------

def real_account_v3_bodies() -> list[tuple[str, dict[str, Any]]]:
    studio_scene = {"type": "avatar_video", "input": {
        "type": "avatar", "avatar_id": REAL_PHOTO, "script": "Bye", "voice_id": REAL_VOICE,
        "engine": {"type": "avatar_iii"}, "background": {"type": "color", "color": "#000000"}}}
    return [
        (routes.V3_VIDEOS_ROUTE, {"type": "avatar", "avatar_id": ANGELA, "script": "Hi",
                               "voice_id": REAL_VOICE, "engine": {"type": "avatar_iii"}}),
        (routes.V3_VIDEOS_ROUTE, {"type": "studio", "scenes": [studio_scene]}),
        (routes.V3_AGENTS_ROUTE, {"prompt": "Hi", "avatar_id": ANGELA, "voice_id": REAL_VOICE}),
    ]


def test_v3_accepts_a_real_accounts_ids_and_names_them_once(tmp_path: Path) -> None:
    with Emulator(EmulatorConfig(speed=0.001)) as emulator, \
            httpx.Client(base_url=routes.EMULATOR_BASE_URL, headers={"X-Api-Key": "k"},
                         transport=emulator.transport()) as http:
        for route, body in real_account_v3_bodies() * 2:
            reply = http.post(route, json=body)
            assert reply.status_code == 200, reply.text
        assert emulator.unknown_ids() == [f"avatar_id {ANGELA}", f"voice_id {REAL_VOICE}",
                                          f"avatar_id {REAL_PHOTO}"]


def test_v3_under_a_strict_catalogue_refuses_a_real_accounts_ids() -> None:
    with Emulator(EmulatorConfig(speed=0.001, catalogue="strict")) as emulator, \
            httpx.Client(base_url=routes.EMULATOR_BASE_URL, headers={"X-Api-Key": "k"},
                         transport=emulator.transport()) as http:
        for route, body in real_account_v3_bodies():
            reply = http.post(route, json=body)
            assert reply.status_code == 400, reply.text
            assert reply.json()["error"]["code"] == "avatar_not_found"
        assert emulator.unknown_ids() == []


def test_a_real_account_project_goes_through_v3_offline_with_one_note(tmp_path: Path) -> None:
    """Every row this project has routes to v3; the emulator takes each v3 body as sent."""
    (tmp_path / "vidbuild.yaml").write_text(REAL_ACCOUNT_PROJECT, encoding="utf-8")
    compiled = run_vidbuild("compile", "--api", "v3", str(tmp_path), env=clean_env())
    assert compiled.code == 0, compiled.stderr
    lines = [json.loads(line) for line in compiled.stdout.splitlines()]
    with Emulator(EmulatorConfig(speed=0.001)) as emulator, \
            httpx.Client(base_url=routes.EMULATOR_BASE_URL, headers={"X-Api-Key": "k"},
                         transport=emulator.transport()) as http:
        for line in lines:
            assert line["api"] == "v3"
            route = line["endpoint"].split(" ", 1)[1]
            reply = http.post(route, json=line["body"])
            assert reply.status_code == 200, reply.text
        assert emulator.unknown_ids() == [f"avatar_id {ANGELA}", f"voice_id {REAL_VOICE}",
                                          f"avatar_id {REAL_PHOTO}"]


# --- validate --online without a key --------------------------------------------------------------

REAL_ACCOUNT_PROJECT = f"""\
version: 1
name: real-account
data:
  key: "{{{{ row.id }}}}"
  rows: [{{id: ana, name: Ana}}, {{id: ben, name: Ben}}]
defaults:
  avatar: {{avatar_id: {ANGELA}}}
  voice: {{voice_id: {REAL_VOICE}}}
  background: {{type: color, value: "#0B1F3A"}}
scenes:
  - id: hello
    voice: {{text: "Hi {{{{ row.name }}}}!"}}
  - id: bye
    character: {{type: talking_photo, talking_photo_id: {REAL_PHOTO}}}
    voice: {{text: "Bye"}}
output: "out/{{{{ key }}}}.mp4"
"""


def test_validate_online_without_a_key_notes_a_real_accounts_ids_as_the_build_does(
        tmp_path: Path) -> None:
    (tmp_path / "vidbuild.yaml").write_text(REAL_ACCOUNT_PROJECT, encoding="utf-8")
    checked = run_vidbuild("validate", "--online", str(tmp_path), env=clean_env())
    assert checked.code == 0, checked.stderr
    assert "internal error" not in checked.stderr
    notes = [line for line in checked.stderr.splitlines() if ANGELA in line]
    assert notes == [f"emulator: accepted IDs its catalogue doesn't know: avatar_id {ANGELA}, "
                     f"voice_id {REAL_VOICE}, talking_photo_id {REAL_PHOTO} (a real account must "
                     "hold them; VIDBUILD_EMULATOR_CATALOGUE=strict refuses them)"]
    assert checked.stderr.splitlines()[-1].endswith("vidbuild.yaml: ok, 2 videos")


def test_validate_online_without_a_key_under_a_strict_catalogue_reports_each_id(
        tmp_path: Path) -> None:
    (tmp_path / "vidbuild.yaml").write_text(REAL_ACCOUNT_PROJECT, encoding="utf-8")
    checked = run_vidbuild("validate", "--online", str(tmp_path),
                           env=clean_env(VIDBUILD_EMULATOR_CATALOGUE="strict"))
    assert checked.code == 2, checked.stderr
    assert f"vidbuild.yaml:7:23: defaults.avatar.avatar_id (scene hello): unknown avatar ID '{ANGELA}' " \
           "(used by rows ana, ben)" in checked.stderr
    assert "emulator: accepted IDs" not in checked.stderr


# --- v3 translation: every legacy body vidbuild accepts and routes to v3 is one v3 accepts ----------

_CHARACTERS: list[dict[str, Any] | None] = [
    None, {"type": "avatar", "avatar_id": DAISY},
    {"type": "avatar", "avatar_id": DAISY, "use_avatar_iv_model": True, "scale": 1.0, "offset": {"x": 0}},
    {"type": "talking_photo", "talking_photo_id": "tp-7f2c1d9e"}]
_VOICES: list[dict[str, Any]] = [
    {"type": "text", "voice_id": RACHEL, "input_text": "Hi"},
    {"type": "text", "voice_id": RACHEL, "input_text": " "},
    {"type": "text", "voice_id": RACHEL, "input_text": "Hi", "speed": 1.5, "pitch": -50, "locale": "en-US"},
    {"type": "audio", "audio_url": "https://files.example.test/a.mp3"},
    {"type": "silence", "duration": 100}, {"type": "silence"}]
_BACKGROUNDS: list[dict[str, Any] | None] = [
    None, {"type": "color", "value": "#0B1F3A"}, {"type": "color"},
    {"type": "image", "url": "https://files.example.test/i.jpg"},
    {"type": "image", "image_asset_id": "img-1", "fit": "cover"}]


def _legacy_scenes() -> list[dict[str, Any]]:
    scenes = []
    for character, voice, background in itertools.product(_CHARACTERS, _VOICES, _BACKGROUNDS):
        scene: dict[str, Any] = {"voice": voice}
        if character is not None:
            scene["character"] = character
        if background is not None:
            scene["background"] = background
        scenes.append(scene)
    return scenes


def test_every_legacy_body_routed_to_v3_is_accepted_by_v3() -> None:
    schema = routes.REQUEST_SCHEMAS["video"]
    refused = []
    with Emulator(EmulatorConfig(speed=0.001)) as emulator, \
            httpx.Client(base_url=routes.EMULATOR_BASE_URL, headers={"X-Api-Key": "k"},
                         transport=emulator.transport()) as http:
        for scene, top in itertools.product(_legacy_scenes(), ({}, {"caption_mode": "burn_in"})):
            body = {"video_inputs": [scene, scene], "dimension": {"width": 1080, "height": 1920},
                    "title": "T", **top}
            for scenes in (body["video_inputs"][:1], body["video_inputs"]):
                legacy = {**body, "video_inputs": scenes}
                labels = [f"s{n}" for n in range(len(scenes))]
                if not body_is_valid(legacy, schema) or \
                        choose_route("video", legacy, labels, "auto").generation != "v3":
                    continue
                reply = http.post(routes.V3_VIDEOS_ROUTE, json=v3_body("video", legacy, labels))
                if reply.status_code != 200:
                    refused.append((scene, reply.json()["error"]["message"]))
    assert refused == []


BLANK_TEXT_PROJECT = """\
version: 1
name: blank
data:
  key: "{{ row.id }}"
  rows: [{id: a, line: "Hello"}, {id: b, line: "   "}]
defaults:
  avatar: {avatar_id: Daisy-inskirt-20220818}
  voice: {voice_id: 2d5b0e6cf36f460aa7fc47e3eee4ba54}
  background: {type: color, value: "#0B1F3A"}
scenes:
  - id: hello
    voice: {text: "{{ row.line }}"}
output: "out/{{ key }}.mp4"
"""


def test_a_text_of_only_spaces_is_a_located_error_before_any_route(tmp_path: Path) -> None:
    (tmp_path / "vidbuild.yaml").write_text(BLANK_TEXT_PROJECT, encoding="utf-8")
    checked = run_vidbuild("validate", str(tmp_path), env=clean_env())
    assert checked.code == 2, checked.stderr
    assert "vidbuild.yaml:12:19: scenes[hello].voice.text: has only spaces: nothing to say " \
           "(row b at " in checked.stderr
    assert "row a" not in checked.stderr


# --- v3 studio: an avatar_video scene may animate a still image (StudioImageInput) -----------------

def image_input_studio(**input_fields: Any) -> dict[str, Any]:
    source = {"type": "image", "image": {"type": "url", "url": "https://files.example.test/face.jpg"},
              **input_fields}
    return {"type": "studio", "scenes": [{"type": "avatar_video", "input": source}]}


@pytest.mark.parametrize("fields", [
    {"script": "Hello there", "voice_id": RACHEL, "voice_settings": {"speed": 1.1}},
    {"audio_url": "https://files.example.test/a.mp3", "expressiveness": "high"},
    {"audio_asset_id": "audio-1", "motion_prompt": "nods"},
], ids=["script", "audio_url", "audio_asset_id"])
def test_v3_studio_takes_an_image_animated_avatar_scene(
        served: tuple[httpx.Client, subprocess.Popen[str]], fields: dict[str, Any]) -> None:
    reply = served[0].post(routes.V3_VIDEOS_ROUTE, json=image_input_studio(**fields))
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize(("fields", "param"), [
    ({}, "scenes[0].input.script"),                                   # an audio source is required
    ({"script": "Hi"}, "scenes[0].input.voice_id"),                   # no avatar: no default voice
    ({"script": "Hi", "voice_id": RACHEL, "audio_url": "https://files.example.test/a.mp3"},
     "scenes[0].input.audio_url"),
])
def test_v3_studio_refuses_an_image_scene_heygen_refuses(
        served: tuple[httpx.Client, subprocess.Popen[str]], fields: dict[str, Any], param: str) -> None:
    reply = served[0].post(routes.V3_VIDEOS_ROUTE, json=image_input_studio(**fields))
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == param


# --- agent bodies vidbuild writes, for varied projects, as HeyGen's description has them -------------

AGENT_OPTIONS = {
    "form": ['prompt: "Intro for {{ row.id }}"',
             'script: [{actor: Host, text: "Hi {{ row.id }}"}, {text: "Bye"}]'],
    "files": ["", "files: [" + ", ".join(f"{{asset_id: a{n}}}" for n in range(20)) + "]"],
    "webhook": ["", "callback_url: https://hooks.example.test/h"],
    "people": ["", f"avatar_id: {DAISY}\n  voice_id: {RACHEL}"],
    "shape": ["", "orientation: portrait\n  duration_sec: 300", "incognito_mode: false"],
}


def agent_projects(tmp_path: Path) -> Iterator[Path]:
    for number, lines in enumerate(itertools.product(*AGENT_OPTIONS.values())):
        root = tmp_path / f"p{number}"
        root.mkdir()
        agent = "".join(f"  {line}\n" for line in lines if line)
        (root / "vidbuild.yaml").write_text(
            "version: 1\nname: ag\nkind: agent\ndata:\n  key: \"{{ row.id }}\"\n  rows: [{id: a}]\n"
            f"agent:\n{agent}output: \"out/{{{{ key }}}}.mp4\"\n", encoding="utf-8")
        yield root


def test_every_agent_body_meets_heygens_description_and_is_accepted_on_its_route(tmp_path: Path) -> None:
    problems = []
    with Emulator(EmulatorConfig(speed=0.001, catalogue="strict")) as emulator, \
            httpx.Client(base_url=routes.EMULATOR_BASE_URL, headers={"X-Api-Key": "k"},
                         transport=emulator.transport()) as http:
        for root in agent_projects(tmp_path):
            for choice in ("auto", "legacy"):
                for job in expand_project(load_project(str(root)), api=choice):
                    endpoint, body = job.submission()
                    if job.generation == "legacy":
                        problems += [f"{root.name}: {e.message}" for e in PUBLISHED_AGENT.iter_errors(body)]
                    if "callback_id" in body and not body.get("callback_url"):
                        problems.append(f"{root.name}: callback_id without callback_url")
                    reply = http.post(endpoint.split(" ", 1)[1], json=body)
                    if reply.status_code != 200:
                        problems.append(f"{root.name} {endpoint}: {reply.text}")
    assert problems == []


def test_the_emulator_refuses_a_text_of_only_spaces_in_words(
        served: tuple[httpx.Client, subprocess.Popen[str]]) -> None:
    body = {"video_inputs": [{"character": {"type": "avatar", "avatar_id": DAISY},
                              "voice": {"type": "text", "voice_id": RACHEL, "input_text": "  "}}]}
    reply = served[0].post(routes.SUBMIT_ROUTES["video"], json=body)
    assert reply.status_code == 400
    assert reply.json()["error"]["message"] == \
        "video_inputs[0].voice.input_text: has only spaces: nothing to say"


# --- POST /v3/videos ignores fields it doesn't know, as HeyGen's request models do ------------------

# The shape HeyGen's n8n node sends to POST /v3/videos (nodes/Heygen/shared/build_post_v3_video_body.ts
# in heygen-com/n8n-integration-heygen-node): `test` always, `folder_id` and `enable_caption` when set,
# none of them fields of CreateVideoFromAvatar, which (unlike the agent's request and the asset
# inputs) external-routes.json doesn't close with additionalProperties: false.
N8N_V3_VIDEO = {
    "test": False, "title": "n8n v3", "callback_id": "c-1", "folder_id": "folder-1",
    "aspect_ratio": "16:9", "resolution": "720p", "avatar_id": DAISY, "type": "avatar",
    "script": "Hello from n8n.", "voice_id": RACHEL, "voice_settings": {"speed": 1},
    "background": {"type": "color", "value": "#f6f6fc"}, "enable_caption": True,
}


def test_v3_videos_take_heygens_n8n_body_with_fields_they_ignore(
        served: tuple[httpx.Client, subprocess.Popen[str]]) -> None:
    reply = served[0].post(routes.V3_VIDEOS_ROUTE, json=N8N_V3_VIDEO)
    assert reply.status_code == 200, reply.text
    assert reply.json()["data"]["status"] == "waiting"


@pytest.mark.parametrize(("route", "body", "param"), [
    (routes.V3_AGENTS_ROUTE, {"prompt": "Hi", "title": "agents take no title"}, "title"),
    (routes.V3_VIDEOS_ROUTE, {"type": "studio", "scenes": [{"type": "image", "duration": 3, "source": {
        "type": "url", "url": "https://files.example.test/i.jpg", "fit": "cover"}}]},
     "scenes[0].source.fit"),
])
def test_v3_still_refuses_unknown_fields_where_heygen_forbids_them(
        served: tuple[httpx.Client, subprocess.Popen[str]], route: str, body: dict[str, Any],
        param: str) -> None:
    reply = served[0].post(route, json=body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == param
