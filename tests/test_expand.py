"""Expansion semantics: scene vocabulary to API shapes, defaults, reusable scenes, data readers, compile."""

from __future__ import annotations

import io
import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vidbuild.commands import compile_bodies
from vidbuild.errors import UsageError
from vidbuild.spec.expand import Job, expand_project
from vidbuild.spec.project import load_project
from vidbuild.spec.rows import read_rows

WriteTree = Callable[[dict[str, str]], Path]

AVATAR = "Daisy-inskirt-20220818"
VOICE = "2d5b0e6cf36f460aa7fc47e3eee4ba54"
HEAD = f"""\
version: 1
name: t
defaults:
  avatar: {{avatar_id: {AVATAR}, avatar_style: circle}}
  voice: {{voice_id: {VOICE}, speed: 1.1}}
  background: {{type: color, value: "#0B1F3A"}}
"""
DEFAULT_CHARACTER = {"type": "avatar", "avatar_id": AVATAR, "avatar_style": "circle"}
DEFAULT_BACKGROUND = {"type": "color", "value": "#0B1F3A"}


@pytest.fixture
def expand(write_tree: WriteTree) -> Callable[..., list[Job]]:
    """Expand a project given as its vidbuild.yaml text (after HEAD) plus any other files."""

    def run(spec: str, files: dict[str, str] | None = None, head: str = HEAD) -> list[Job]:
        root = write_tree({"vidbuild.yaml": head + textwrap.dedent(spec).lstrip("\n"), **(files or {})})
        return list(expand_project(load_project(root)))

    return run


def scenes_of(spec: str, expand: Callable[..., list[Job]], **kwargs: Any) -> list[dict[str, Any]]:
    (job,) = expand(spec, **kwargs)
    inputs: list[dict[str, Any]] = job.body["video_inputs"]
    return inputs


def text_voice(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "voice_id": VOICE, "speed": 1.1, "input_text": text, **extra}


# --- Scene vocabulary -> API shapes ------------------------------------------------------------

def test_a_whole_body_with_defaults_merged(expand: Callable[..., list[Job]]) -> None:
    (job,) = expand("""
        scenes:
          - id: intro
            voice: {text: "Hello"}
        """)
    assert job.body == {
        "title": "t t",
        "dimension": {"width": 1280, "height": 720},
        "video_inputs": [{"character": DEFAULT_CHARACTER, "voice": text_voice("Hello"),
                          "background": DEFAULT_BACKGROUND}],
    }
    assert (job.key, job.kind, job.output, job.scenes) == ("t", "video", "out/t.mp4", ("intro",))
    assert job.request_body() == {**job.body, "callback_id": job.hash,
                                  "title": f"t t [vb:{job.hash[:12]}]"}


def test_scene_values_win_and_an_avatar_override_keeps_the_default_style(
        expand: Callable[..., list[Job]]) -> None:
    (scene,) = scenes_of("""
        scenes:
          - avatar: {avatar_id: Mark-costume-1234, scale: 0.8}
            voice: {text: "Hi", speed: 0.9, emotion: Friendly}
        """, expand)
    assert scene["character"] == {"type": "avatar", "avatar_id": "Mark-costume-1234",
                                  "avatar_style": "circle", "scale": 0.8}
    assert scene["voice"] == text_voice("Hi", speed=0.9, emotion="Friendly")


def test_talking_photo_replaces_the_default_avatar(expand: Callable[..., list[Job]]) -> None:
    (scene,) = scenes_of("""
        scenes:
          - talking_photo: {talking_photo_id: tp-1, talking_style: expressive}
            voice: {text: "Hi"}
        """, expand)
    assert scene["character"] == {"type": "talking_photo", "talking_photo_id": "tp-1",
                                  "talking_style": "expressive"}


def test_audio_and_silence_drop_the_default_voice_id_and_speed(expand: Callable[..., list[Job]]) -> None:
    scenes = scenes_of("""
        scenes:
          - voice: {audio_url: "https://cdn.example.test/a.mp3"}
          - voice: {audio_asset_id: aud-1}
          - voice: {silence: 2.5}
        """, expand)
    assert [s["voice"] for s in scenes] == [
        {"type": "audio", "audio_url": "https://cdn.example.test/a.mp3"},
        {"type": "audio", "audio_asset_id": "aud-1"},
        {"type": "silence", "duration": 2.5},
    ]


def test_backgrounds_of_every_kind(expand: Callable[..., list[Job]]) -> None:
    scenes = scenes_of("""
        scenes:
          - voice: {text: "color"}
            background: {value: "#FFFFFF"}
          - voice: {text: "image by url"}
            background: {url: "https://cdn.example.test/b.png", fit: contain}
          - voice: {text: "image asset"}
            background: {image_asset_id: img-1}
          - voice: {text: "video by url"}
            background: {url: "https://cdn.example.test/b.mp4", play_style: loop}
          - voice: {text: "video asset"}
            background: {type: video, video_asset_id: vid-1}
        """, expand)
    assert [s["background"] for s in scenes] == [
        {"type": "color", "value": "#FFFFFF"},
        {"type": "image", "url": "https://cdn.example.test/b.png", "fit": "contain"},
        {"type": "image", "image_asset_id": "img-1"},
        {"type": "video", "url": "https://cdn.example.test/b.mp4", "play_style": "loop"},
        {"type": "video", "video_asset_id": "vid-1"},
    ]


def test_background_defaults_without_a_type_are_replaced_by_another_kind(
        expand: Callable[..., list[Job]]) -> None:
    head = HEAD.replace('{type: color, value: "#0B1F3A"}', '{value: "#0B1F3A"}')
    scenes = scenes_of("""
        scenes:
          - voice: {text: "default"}
          - voice: {text: "image"}
            background: {url: "https://cdn.example.test/b.jpg"}
        """, expand, head=head)
    assert [s["background"] for s in scenes] == [
        DEFAULT_BACKGROUND, {"type": "image", "url": "https://cdn.example.test/b.jpg"}]


def test_api_shaped_scenes_pass_through(expand: Callable[..., list[Job]]) -> None:
    (scene,) = scenes_of("""
        scenes:
          - character: {type: talking_photo, talking_photo_id: tp-9}
            voice: {type: text, voice_id: other-voice, input_text: "Pasted from the docs"}
            background: {type: image, image_asset_id: img-2}
        """, expand)
    assert scene == {
        "character": {"type": "talking_photo", "talking_photo_id": "tp-9"},
        "voice": {"type": "text", "voice_id": "other-voice", "speed": 1.1,
                  "input_text": "Pasted from the docs"},
        "background": {"type": "image", "image_asset_id": "img-2"},
    }


def test_api_shaped_silence_drops_default_voice_fields(expand: Callable[..., list[Job]]) -> None:
    (scene,) = scenes_of("""
        scenes:
          - voice: {type: silence, duration: 3}
        """, expand)
    assert scene["voice"] == {"type": "silence", "duration": 3}


# --- Reusable scenes and conditions ------------------------------------------------------------

def test_use_outro_from_the_built_in_templates(expand: Callable[..., list[Job]]) -> None:
    scenes = scenes_of("""
        scenes:
          - voice: {text: "Hi"}
          - use: outro
            avatar: {avatar_style: normal}
        """, expand)
    assert scenes[1] == {
        "character": {**DEFAULT_CHARACTER, "avatar_style": "normal"},
        "voice": text_voice("Thanks for watching, and see you soon!"),
        "background": DEFAULT_BACKGROUND,
    }


def test_project_templates_override_the_built_in_outro(expand: Callable[..., list[Job]]) -> None:
    (job,) = expand("""
        vars: {company: Acme}
        scenes:
          - voice: {text: "Hi"}
          - use: outro
        """, {"templates/outro.yaml": """
        voice: {text: "Goodbye from {{ vars.company }}"}
        background: {value: "#000000"}
        """})
    assert job.scenes == ("0", "outro")
    assert job.body["video_inputs"][1]["voice"] == text_voice("Goodbye from Acme")
    assert job.body["video_inputs"][1]["background"] == {"type": "color", "value": "#000000"}


def test_when_leaves_scenes_out_per_row(expand: Callable[..., list[Job]]) -> None:
    jobs = expand("""
        data:
          key: "{{ row.id }}"
          rows:
            - {id: a, plan: pro}
            - {id: b, plan: basic}
        scenes:
          - id: intro
            voice: {text: "Hi"}
          - id: pro
            when: "row.plan == 'pro'"
            voice: {text: "Pro perks"}
        """)
    assert [(job.key, job.scenes) for job in jobs] == [("a", ("intro", "pro")), ("b", ("intro",))]
    assert [len(job.body["video_inputs"]) for job in jobs] == [2, 1]


# --- Templates and top-level fields ------------------------------------------------------------

def test_whole_expressions_keep_their_type(expand: Callable[..., list[Job]]) -> None:
    (job,) = expand("""
        data:
          key: "{{ row.id }}"
          rows: [{id: a, n: "30", s: "0.8", w: "1920"}]
        video:
          title: "Video {{ row.n }}"
          fps: "{{ row.n | int }}"
          dimension: {width: "{{ row.w | int }}", height: 1080}
          caption: "{{ row.n == '30' }}"
        scenes:
          - voice: {text: "{{ row.n }}", speed: "{{ row.s | float }}"}
        """)
    assert job.body["title"] == "Video 30"
    assert job.body["fps"] == 30
    assert job.body["dimension"] == {"width": 1920, "height": 1080}
    assert job.body["caption"] is True
    assert job.body["video_inputs"][0]["voice"] == text_voice("30", speed=0.8)


def test_row_values_are_never_rendered(expand: Callable[..., list[Job]]) -> None:
    (job,) = expand("""
        data:
          key: "{{ row.id }}"
          rows: [{id: a, name: "{{ 7*7 }}", other: "{% raw %}x{# y"}]
        video:
          title: "{{ row.name }}"
        scenes:
          - voice: {text: "Hi {{ row.name }} {{ row.other }}"}
        """)
    assert job.body["title"] == "{{ 7*7 }}"
    assert job.body["video_inputs"][0]["voice"]["input_text"] == "Hi {{ 7*7 }} {% raw %}x{# y"


def test_vars_key_and_project_name_reach_templates(expand: Callable[..., list[Job]]) -> None:
    (job,) = expand("""
        vars: {company: Acme}
        data:
          key: "{{ row.id }}"
          rows: [{id: 7}]
        output: "videos/{{ project.name }}-{{ key }}.mp4"
        scenes:
          - voice: {text: "{{ vars.company }} {{ key }} {{ project.name }}"}
        """)
    assert (job.key, job.output) == ("7", "videos/t-7.mp4")
    assert job.body["video_inputs"][0]["voice"]["input_text"] == "Acme 7 t"


def test_dimension_is_always_sent(expand: Callable[..., list[Job]]) -> None:
    (job,) = expand("""
        video: {title: Plain}
        scenes:
          - voice: {text: "Hi"}
        """)
    assert job.body["dimension"] == {"width": 1280, "height": 720}


# --- Agent projects ----------------------------------------------------------------------------

AGENT_HEAD = """\
version: 1
name: agent
kind: agent
data:
  key: "{{ row.id }}"
  rows: [{id: devs, seconds: "30"}]
"""


def test_agent_fields_go_top_level(expand: Callable[..., list[Job]]) -> None:
    (job,) = expand("""
        agent:
          prompt: "Intro for {{ row.id }}"
          avatar_id: Daisy-inskirt-20220818
          duration_sec: "{{ row.seconds | int }}"
          orientation: portrait
          files: [{asset_id: "asset-{{ row.id }}"}]
          callback_url: https://hooks.example.test/done
        """, head=AGENT_HEAD)
    assert job.kind == "agent"
    assert job.scenes == ()
    assert job.body == {
        "prompt": "Intro for devs",
        "avatar_id": "Daisy-inskirt-20220818", "duration_sec": 30, "orientation": "portrait",
        "files": [{"asset_id": "asset-devs"}],
        "callback_url": "https://hooks.example.test/done",
    }


def test_agent_script_becomes_the_prompt(expand: Callable[..., list[Job]]) -> None:
    (job,) = expand("""
        agent:
          script:
            - {actor: Host, text: "Welcome, {{ row.id }}!"}
            - {text: "Let's start."}
        """, head=AGENT_HEAD)
    assert job.body == {"prompt": "Host: Welcome, devs!\nLet's start."}


# --- Data readers ------------------------------------------------------------------------------

SCENE = """
scenes:
  - voice: {text: "Hi {{ row.name }}"}
"""


def rows_of(write_tree: WriteTree, source: str, text: str) -> list[tuple[int, dict[str, Any], str, int]]:
    spec = HEAD + f'data: {{source: {source}, key: "{{{{ row.id }}}}"}}' + SCENE
    root = write_tree({"vidbuild.yaml": spec, source: text})
    project = load_project(root)
    return [(row.index, row.values, Path(row.file).name, row.line) for row in read_rows(project)]


def test_csv_rows_with_their_lines(write_tree: WriteTree) -> None:
    text = 'id,name\na,Ana\n\nb,"Ben\nJr"\nc,Chloé\n'
    assert rows_of(write_tree, "people.csv", text) == [
        (0, {"id": "a", "name": "Ana"}, "people.csv", 2),
        (1, {"id": "b", "name": "Ben\nJr"}, "people.csv", 4),
        (2, {"id": "c", "name": "Chloé"}, "people.csv", 6),
    ]


def test_tsv_rows(write_tree: WriteTree) -> None:
    assert rows_of(write_tree, "people.tsv", "id\tname\na\tAna, Jr\n") == [
        (0, {"id": "a", "name": "Ana, Jr"}, "people.tsv", 2)]


def test_json_array_rows_keep_their_lines(write_tree: WriteTree) -> None:
    text = '[\n  {"id": "a", "name": "Ana"},\n\n  {"id": "b",\n   "name": "Ben"}, {"id": "c", "n": 1}\n]\n'
    assert rows_of(write_tree, "people.json", text) == [
        (0, {"id": "a", "name": "Ana"}, "people.json", 2),
        (1, {"id": "b", "name": "Ben"}, "people.json", 4),
        (2, {"id": "c", "n": 1}, "people.json", 5),
    ]


def test_jsonl_rows_skip_blank_lines(write_tree: WriteTree) -> None:
    text = '{"id": "a", "name": "Ana"}\n\n{"id": "b", "name": "Ben"}\n'
    assert rows_of(write_tree, "people.jsonl", text) == [
        (0, {"id": "a", "name": "Ana"}, "people.jsonl", 1),
        (1, {"id": "b", "name": "Ben"}, "people.jsonl", 3),
    ]


def test_yaml_rows(write_tree: WriteTree) -> None:
    text = "# customers\n- id: a\n  name: Ana\n- {id: b, name: Ben, since: 2024-03-01}\n"
    assert rows_of(write_tree, "people.yaml", text) == [
        (0, {"id": "a", "name": "Ana"}, "people.yaml", 2),
        (1, {"id": "b", "name": "Ben", "since": "2024-03-01"}, "people.yaml", 4),
    ]


def test_inline_rows_and_an_explicit_format(expand: Callable[..., list[Job]],
                                            write_tree: WriteTree) -> None:
    jobs = expand("""
        data:
          key: "{{ row.id }}"
          rows:
            - {id: a, name: Ana}
            - id: b
              name: Ben
        scenes:
          - voice: {text: "Hi {{ row.name }}"}
        """)
    assert [(job.key, job.row.line) for job in jobs] == [("a", 10), ("b", 11)]
    spec = HEAD + 'data: {source: people.txt, format: csv, key: "{{ row.id }}"}' + SCENE
    root = write_tree({"vidbuild.yaml": spec, "people.txt": "id,name\nz,Zoe\n"})
    assert [job.key for job in expand_project(load_project(root))] == ["z"]


# --- compile ------------------------------------------------------------------------------------

CAMPAIGN = HEAD + """\
data:
  key: "{{ row.id }}"
  rows: [{id: a, name: Ana}, {id: b, name: Ben}]
scenes:
  - id: intro
    voice: {text: "Hi {{ row.name }}"}
"""


def test_compile_prints_one_json_line_per_row(write_tree: WriteTree) -> None:
    root = write_tree({"vidbuild.yaml": CAMPAIGN})
    stdout = io.StringIO()
    assert compile_bodies(str(root), stdout=stdout, stderr=io.StringIO(), api="legacy") == 0
    records = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert [r["key"] for r in records] == ["a", "b"]
    assert set(records[0]) == {"key", "hash", "endpoint", "api", "api_reason", "output", "scenes", "body"}
    assert records[0]["endpoint"] == "POST /v2/video/generate"
    assert records[0]["body"]["callback_id"] == records[0]["hash"]
    assert records[0]["body"]["video_inputs"][0]["voice"]["input_text"] == "Hi Ana"


def test_compile_one_row(write_tree: WriteTree) -> None:
    root = write_tree({"vidbuild.yaml": CAMPAIGN})
    stdout = io.StringIO()
    assert compile_bodies(str(root), rows=["b"], stdout=stdout, stderr=io.StringIO()) == 0
    record = json.loads(stdout.getvalue())
    assert record["key"] == "b"
    assert record["body"]["video_inputs"][0]["voice"]["input_text"] == "Hi Ben"


def test_compile_unknown_row_is_a_usage_error(write_tree: WriteTree,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(write_tree({"vidbuild.yaml": CAMPAIGN}))
    with pytest.raises(UsageError) as caught:
        compile_bodies(None, rows=["a", "zz"], stdout=io.StringIO(), stderr=io.StringIO())
    assert str(caught.value) == "no row with key zz in vidbuild.yaml"


def test_compile_out_writes_key_json_files(write_tree: WriteTree, tmp_path: Path) -> None:
    root = write_tree({"vidbuild.yaml": CAMPAIGN})
    out = tmp_path / "compiled"
    stderr = io.StringIO()
    assert compile_bodies(str(root), out=str(out), stdout=io.StringIO(), stderr=stderr) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "b.json"]
    record = json.loads((out / "a.json").read_text(encoding="utf-8"))
    assert record["key"] == "a"
    assert record["body"]["video_inputs"][0]["voice"]["input_text"] == "Hi Ana"
    assert stderr.getvalue().startswith("wrote 2 request bodies to ")


def test_each_scene_keeps_its_own_when_on_every_row(expand: Callable[..., list[Job]]) -> None:
    rows = "".join(f"{i},{'xyz'[i % 3]}\n" for i in range(300))
    jobs = expand("""
        data: {source: people.csv, key: "r{{ row.id }}"}
        scenes:
          - {id: sx, when: "row.p == 'x'", voice: {text: X}}
          - {id: sy, when: "row.p == 'y'", voice: {text: Y}}
          - {id: sz, when: "row.p == 'z'", voice: {text: Z}}
        """, files={"people.csv": "id,p\n" + rows})
    assert [job.scenes for job in jobs] == [(f"s{'xyz'[i % 3]}",) for i in range(300)]
