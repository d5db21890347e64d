"""A body that differs from its row's last one only in fields written at HeyGen's defaults (or
false flags) renders the same video: plan shows the row up to date, and a build keeps the video
instead of paying for it again, with either state (planner/same_video.py).

The builds run the real CLI against the emulator on loopback; what was paid is counted from the
create requests the emulator received.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from buildkit import PROJECT_YAML, LoopbackHeyGen, manifest, rows, run_vidbuild, sha256, write_project

from vidbuild.planner.fields import changed_since, key_entry
from vidbuild.planner.same_video import rendering_form, same_video

# The project buildkit writes, with four fields restating what HeyGen does when they are left out.
RESTATED = {"caption": ("dimension: {width: 1280, height: 720}",
                        "dimension: {width: 1280, height: 720}\n  caption: false"),
            "avatar_style": ("{avatar_id: Daisy-inskirt-20220818}",
                             "{avatar_id: Daisy-inskirt-20220818, avatar_style: normal}"),
            "speed": ("{voice_id: 2d5b0e6cf36f460aa7fc47e3eee4ba54}",
                      "{voice_id: 2d5b0e6cf36f460aa7fc47e3eee4ba54, speed: 1.0, pitch: 0}")}
KEYS = ["r01", "r02", "r03"]


def project_text(*restated: str) -> str:
    text = textwrap.dedent(PROJECT_YAML)
    for name in restated:
        plain, written = RESTATED[name]
        assert plain in text
        text = text.replace(plain, written)
    return text


@pytest.fixture
def heygen(tmp_path: Path) -> Any:
    server = LoopbackHeyGen(tmp_path / "heygen")
    yield server
    server.close()


def build(project: Path, env: dict[str, str], *args: str) -> str:
    run = run_vidbuild("build", str(project), *args, env=env)
    assert run.code == 0, run.stderr
    return run.stderr


def plan(project: Path, env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    run = run_vidbuild("plan", str(project), "--json", *args, env=env)
    assert run.code == 0, run.stderr
    return [json.loads(line) for line in run.stdout.splitlines()][:-1]


def built_with(project: Path, heygen: LoopbackHeyGen, *restated: str, state: tuple[str, ...] = ()
               ) -> dict[str, dict[str, Any]]:
    write_project(project, rows(3))
    (project / "vidbuild.yaml").write_text(project_text(*restated), encoding="utf-8")
    build(project, heygen.env(), *state)
    assert len(heygen.submits()) == 3
    return manifest(project)


def test_fields_at_heygen_defaults_can_go_and_come_back_without_paying_again(
        tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project, env = tmp_path / "campaign", heygen.env()
    first = built_with(project, heygen, *RESTATED)
    (project / "vidbuild.yaml").write_text(project_text(), encoding="utf-8")

    steps = plan(project, env)
    assert [step["action"] for step in steps] == ["up-to-date"] * 3
    assert "same video as its last body" in steps[0]["reason"]
    assert "video_inputs[0].character.avatar_style" in steps[0]["reason"]
    build(project, env)
    assert len(heygen.submits()) == 3                       # nothing paid again
    kept = manifest(project)
    assert {key: kept[key]["video_id"] for key in KEYS} == {key: first[key]["video_id"] for key in KEYS}
    assert all(kept[key]["hash"] != first[key]["hash"] and kept[key]["status"] == "done" for key in KEYS)
    assert [step["action"] for step in plan(project, env)] == ["up-to-date"] * 3   # recorded: no lookup left
    assert "0 built, 3 up to date" in build(project, env)

    (project / "vidbuild.yaml").write_text(project_text(*RESTATED), encoding="utf-8")   # written out again
    build(project, env)
    assert len(heygen.submits()) == 3
    assert {key: entry["video_id"] for key, entry in manifest(project).items()} == \
        {key: first[key]["video_id"] for key in KEYS}


@pytest.mark.parametrize("old, new", [("avatar_style: normal", "avatar_style: circle"),
                                      ("speed: 1.0", "speed: 1.1"), ("caption: false", "caption: true")])
def test_a_value_other_than_the_default_is_paid_for(tmp_path: Path, heygen: LoopbackHeyGen,
                                                    old: str, new: str) -> None:
    project = tmp_path / "campaign"
    built_with(project, heygen, *RESTATED)
    text = project_text(*RESTATED)
    (project / "vidbuild.yaml").write_text(text.replace(old, new), encoding="utf-8")

    assert [step["action"] for step in plan(project, heygen.env())] == ["submit"] * 3
    build(project, heygen.env())
    assert len(heygen.submits()) == 6


def test_a_kept_video_whose_file_is_gone_is_downloaded_not_paid_for(tmp_path: Path,
                                                                    heygen: LoopbackHeyGen) -> None:
    project = tmp_path / "campaign"
    first = built_with(project, heygen, "avatar_style")
    (project / "vidbuild.yaml").write_text(project_text(), encoding="utf-8")
    (project / "out" / "r02.mp4").unlink()

    steps = plan(project, heygen.env())
    assert [step["action"] for step in steps] == ["up-to-date", "download", "up-to-date"]
    assert steps[1]["reason"].startswith("output file is missing; same video as its last body")
    build(project, heygen.env())
    assert len(heygen.submits()) == 3
    video = first["r02"]["video_id"]
    assert manifest(project)["r02"]["video_id"] == video
    assert sha256((project / "out" / "r02.mp4").read_bytes()) == sha256(heygen.served_mp4(video))


def test_the_database_state_keeps_the_video_too(tmp_path: Path, heygen: LoopbackHeyGen, url: str) -> None:
    project, state = tmp_path / "campaign", ("--state-url", url)
    first = built_with(project, heygen, "caption", "speed", state=state)
    (project / "vidbuild.yaml").write_text(project_text(), encoding="utf-8")
    build(project, heygen.env(), *state)
    assert len(heygen.submits()) == 3
    assert manifest(project)["r03"]["video_id"] == first["r03"]["video_id"]
    assert [step["action"] for step in plan(project, heygen.env(), *state)] == ["up-to-date"] * 3


def twins(project: Path, heygen: LoopbackHeyGen, text: str) -> dict[str, dict[str, Any]]:
    """Build ``text`` with rows r01 and r02 alike (the same name and line) and r03 its own."""
    data = rows(3)
    data[1]["name"] = data[0]["name"]
    write_project(project, data)
    (project / "vidbuild.yaml").write_text(text, encoding="utf-8")
    build(project, heygen.env())
    return manifest(project)


def test_forcing_a_row_whose_twin_keeps_its_video_pays_for_it(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = tmp_path / "campaign"
    first = twins(project, heygen, project_text("avatar_style"))
    assert len(heygen.submits()) == 2                   # r01 and r02 share a body
    (project / "vidbuild.yaml").write_text(project_text(), encoding="utf-8")

    assert [step["action"] for step in plan(project, heygen.env(), "--force", "r01")] == \
        ["submit", "up-to-date", "up-to-date"]
    build(project, heygen.env(), "--force", "r01")
    assert len(heygen.submits()) == 3
    again = manifest(project)
    assert again["r01"]["video_id"] != first["r01"]["video_id"]
    assert again["r03"]["video_id"] == first["r03"]["video_id"]


def test_a_selected_twin_records_its_kept_video(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = tmp_path / "campaign"
    first = twins(project, heygen, project_text("avatar_style"))
    (project / "vidbuild.yaml").write_text(project_text(), encoding="utf-8")

    build(project, heygen.env(), "--select", "r02")
    assert len(heygen.submits()) == 2
    selected = manifest(project)["r02"]
    assert (selected["status"], selected["video_id"]) == ("done", first["r02"]["video_id"])


def test_rows_whose_earlier_bodies_differed_and_now_are_alike_share_one_kept_video(
        tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = tmp_path / "campaign"
    scene = textwrap.dedent("""\
        scenes:
          - id: hello
            voice: {text: "Hi {{ row.name }}, {{ row.line }}"}
        """)
    three = textwrap.dedent("""\
        scenes:
          - id: hello
            when: "row.id == 'r01'"
            avatar: {avatar_style: normal}
            voice: {text: "Hi {{ row.name }}, {{ row.line }}"}
          - id: hallo
            when: "row.id == 'r02'"
            voice: {text: "Hi {{ row.name }}, {{ row.line }}", speed: 1}
          - id: hullo
            when: "row.id == 'r03'"
            voice: {text: "Hi {{ row.name }}, {{ row.line }}"}
        """)
    assert scene in project_text()
    text = project_text().replace(scene, three)
    first = twins(project, heygen, text)
    assert len(heygen.submits()) == 3                   # three bodies
    plain = text.replace("    avatar: {avatar_style: normal}\n", "").replace(", speed: 1}", "}")
    assert "avatar_style" not in plain and "speed" not in plain
    (project / "vidbuild.yaml").write_text(plain, encoding="utf-8")

    steps = plan(project, heygen.env())   # each keeps its own earlier video, as far as plan can tell
    assert [step["action"] for step in steps] == ["up-to-date"] * 3
    build(project, heygen.env())              # the build records r01's, and r02 follows it as a twin
    assert len(heygen.submits()) == 3
    kept = manifest(project)
    assert kept["r01"]["video_id"] == kept["r02"]["video_id"] == first["r01"]["video_id"]
    assert (project / "out" / "r02.mp4").read_bytes() == (project / "out" / "r01.mp4").read_bytes()
    assert [step["action"] for step in plan(project, heygen.env())] == ["up-to-date"] * 3


def test_a_new_row_alike_a_row_that_keeps_its_video_is_planned_as_new_and_follows_it(
        tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = tmp_path / "campaign"
    built_with(project, heygen, "avatar_style")
    (project / "vidbuild.yaml").write_text(project_text(), encoding="utf-8")
    with (project / "rows.csv").open("a", encoding="utf-8") as data:
        data.write("r04,Name2,welcome!\n")                 # r02's body

    steps = plan(project, heygen.env())   # no earlier body of its own: it may pay, and plan says so
    assert [step["action"] for step in steps] == ["up-to-date", "up-to-date", "up-to-date", "submit"]
    build(project, heygen.env())          # r02's kept video is recorded before r04 is sent: a copy
    assert len(heygen.submits()) == 3
    kept = manifest(project)
    assert kept["r04"]["video_id"] == kept["r02"]["video_id"]


# -- the rule -----------------------------------------------------------------------------------

def _body(character: dict[str, Any] | None = None, voice: dict[str, Any] | None = None,
          **top: Any) -> dict[str, Any]:
    return {"video_inputs": [{"character": {"type": "avatar", "avatar_id": "a", **(character or {})},
                              "voice": {"type": "text", "voice_id": "v", "input_text": "Hi", **(voice or {})},
                              "background": {"type": "color", "value": "#0B1F3A"}}],
            "dimension": {"width": 1280, "height": 720}, **top}


@pytest.mark.parametrize("before, after, same", [
    (_body({"avatar_style": "normal"}), _body(), "defaults"),
    (_body(fps=25), _body(), "defaults"),
    (_body(voice={"speed": 1, "pitch": 0}), _body(voice={"speed": 1.0}), "defaults"),
    (_body(caption=False, test=False), _body(), "v3"),
    (_body({"offset": {"x": 0, "y": 0}, "scale": 1, "matting": False}, {"speed": 1}), _body(), "v3"),
    (_body(caption=False, fps=25), _body(), "v3"),   # (with fps the body went through legacy: not kept)
    (_body({"avatar_style": "circle"}), _body(), None),
    (_body(caption=True), _body(), None),
    (_body(voice={"speed": 1.1}), _body(), None),
    (_body(voice={"speed": True}), _body(), None),         # a boolean is never a number
    (_body(fps="25"), _body(), None),                      # nor is a string
    (_body({"offset": {"x": 0, "y": 2}}), _body(), None),
    (_body({"avatar_style": "normal"}, title="a"), _body(title="b"), None),   # and another change
], ids=["avatar_style", "fps", "speed-pitch", "caption-test", "offset-scale-matting", "caption-fps",
        "other-style", "caption-on", "other-speed", "boolean-speed", "string-fps", "offset", "and-a-title"])
def test_bodies_render_the_same_video_only_where_every_difference_is_a_default(
        before: dict[str, Any], after: dict[str, Any], same: str | None) -> None:
    changed = changed_since(key_entry("h", before), after)
    assert changed
    assert same_video(before, after, changed) == same


def test_the_rendering_form_drops_documented_defaults_only_and_leaves_its_body_as_it_was() -> None:
    body = _body({"avatar_style": "normal", "offset": {"x": 0}}, {"speed": 1}, caption=False)
    written = json.dumps(body, sort_keys=True)
    form = rendering_form(body)
    assert form["video_inputs"][0]["character"] == {"type": "avatar", "avatar_id": "a", "offset": {"x": 0}}
    assert form["video_inputs"][0]["voice"] == {"type": "text", "voice_id": "v", "input_text": "Hi"}
    assert form["caption"] is False
    assert json.dumps(body, sort_keys=True) == written
