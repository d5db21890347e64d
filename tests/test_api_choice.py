"""Choosing the API generation per row: `--api` and `api:`, what compile and plan show, errors under v3,
a content hash that ignores the choice, and the hash marker at the end of every title sent."""

from __future__ import annotations

import dataclasses
import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from buildkit import LoopbackHeyGen, manifest, rows, run_vidbuild, write_project
from jsonschema import Draft202012Validator

from vidbuild import commands
from vidbuild.errors import ProjectError
from vidbuild.resources import load_schema
from vidbuild.spec.expand import expand_project
from vidbuild.spec.hashing import find_title_marker, marked_title, title_marker, unmarked_title
from vidbuild.spec.project import load_project

WriteTree = Callable[[dict[str, str]], Path]

# Pro rows get a scene over an image, which v3 studio scenes can't carry: they stay on v2.
PROJECT = """\
    version: 1
    name: mixed
    {api}
    data:
      key: "{{{{ row.id }}}}"
      rows: [{{id: a, plan: basic}}, {{id: b, plan: pro}}]
    video: {{title: "Hi {{{{ row.id }}}}"}}
    defaults:
      avatar: {{avatar_id: Daisy-inskirt-20220818}}
      voice: {{voice_id: v-1}}
      background: {{type: color, value: "#0B1F3A"}}
    scenes:
      - id: intro
        voice: {{text: "Hello"}}
      - id: promo
        when: "row.plan == 'pro'"
        voice: {{text: "Pro!"}}
        background: {{url: "https://example.com/pro.png"}}
    """
IMAGE_REASON = "scene promo has an image background, which v3 studio scenes can't carry yet"


def mixed(write_tree: WriteTree, api: str = "") -> Path:
    return write_tree({"vidbuild.yaml": PROJECT.format(api=api)})


def compiled(root: Path, **options: str) -> list[dict[str, object]]:
    stdout = io.StringIO()
    assert commands.compile_bodies(str(root), stdout=stdout, stderr=io.StringIO(), **options) == 0
    return [json.loads(line) for line in stdout.getvalue().splitlines()]


def test_compile_shows_each_rows_route_and_the_body_sent_there(write_tree: WriteTree) -> None:
    records = compiled(mixed(write_tree))

    assert [(r["key"], r["api"], r["endpoint"], r["api_reason"]) for r in records] == [
        ("a", "v3", "POST /v3/videos", "one avatar scene: v3 avatar video"),
        ("b", "legacy", "POST /v2/video/generate", IMAGE_REASON)]
    a, b = records
    assert a["body"] == {"type": "avatar", "avatar_id": "Daisy-inskirt-20220818",
                         "engine": {"type": "avatar_iii"}, "script": "Hello", "voice_id": "v-1",
                         "background": {"type": "color", "value": "#0B1F3A"}, "resolution": "720p",
                         "aspect_ratio": "16:9", "title": f"Hi a [vb:{str(a['hash'])[:12]}]",
                         "callback_id": a["hash"]}
    assert b["body"]["video_inputs"][1]["background"] == {"type": "image", "url": "https://example.com/pro.png"}  # type: ignore[index]


def test_plan_names_the_route_of_what_it_would_send(write_tree: WriteTree, tmp_path: Path) -> None:
    root = mixed(write_tree)
    text, lines = io.StringIO(), io.StringIO()
    commands.plan(str(root), state_dir=str(tmp_path / "state"), stdout=text)
    commands.plan(str(root), state_dir=str(tmp_path / "state"), stdout=lines, json_output=True)

    assert text.getvalue().splitlines()[:2] == [
        "submit      a  new (will look in the account first); via v3",
        f"submit      b  new (will look in the account first); via v2: {IMAGE_REASON}"]
    planned = [json.loads(line) for line in lines.getvalue().splitlines()[:2]]
    assert [(p["api"], p["endpoint"], p["api_reason"]) for p in planned] == [
        ("v3", "POST /v3/videos", "one avatar scene: v3 avatar video"),
        ("legacy", "POST /v2/video/generate", IMAGE_REASON)]


def test_the_command_line_wins_over_the_project(write_tree: WriteTree) -> None:
    root = mixed(write_tree, api="api: legacy")

    assert [r["api"] for r in compiled(root)] == ["legacy", "legacy"]
    assert [r["api_reason"] for r in compiled(root)] == ["api: legacy chosen"] * 2
    assert [r["api"] for r in compiled(root, api="auto")] == ["v3", "legacy"]
    assert [r["api_reason"] for r in compiled(root, api="legacy")] == ["--api legacy chosen"] * 2


def test_under_v3_a_row_v3_cant_render_is_a_located_error_and_nothing_is_sent(write_tree: WriteTree) -> None:
    root = mixed(write_tree, api="api: v3")
    env = {"PATH": "/usr/bin:/bin"}

    result = run_vidbuild("compile", str(root), env=env)

    assert result.code == 2
    assert result.stdout == ""
    assert result.stderr == (f"{_relative(root)}/vidbuild.yaml:6: row b: api: v3: v3 can't render this row: "
                             f"{IMAGE_REASON}\nvidbuild: 1 error, nothing sent\n")
    assert run_vidbuild("compile", str(root), "--api", "auto", env=env).code == 0


def test_build_under_v3_sends_nothing_when_a_row_cant_go_through_v3(
        write_tree: WriteTree, tmp_path: Path) -> None:
    heygen = LoopbackHeyGen(tmp_path / "heygen")
    try:
        root = mixed(write_tree)
        result = run_vidbuild("build", str(root), "--api", "v3", env=heygen.env())
        assert result.code == 2, result.stderr
        assert f"row b: --api v3: v3 can't render this row: {IMAGE_REASON}" in result.stderr
        assert heygen.requests() == []
    finally:
        heygen.close()


def test_an_unknown_api_is_refused_where_it_is_written(write_tree: WriteTree) -> None:
    root = mixed(write_tree, api="api: v4")
    with pytest.raises(ProjectError) as caught:
        list(expand_project(load_project(root)))
    assert str(caught.value) == ("vidbuild.yaml:3:6: api: 'v4' is not one of ['auto', 'v3', 'legacy']"
                                 .replace("vidbuild.yaml", f"{_relative(root)}/vidbuild.yaml"))
    assert run_vidbuild("plan", str(root), "--api", "v2", env={"PATH": "/usr/bin:/bin"}).code == 2


def _relative(root: Path) -> str:
    relative = os.path.relpath(root)   # as messages show a path: absolute when it is not below the cwd
    return str(root.absolute()) if relative.startswith("..") else relative


# -- the content hash ignores the generation -------------------------------------------------------

@pytest.fixture
def heygen(tmp_path: Path) -> Iterator[LoopbackHeyGen]:
    server = LoopbackHeyGen(tmp_path / "heygen")
    yield server
    server.close()


def test_rows_built_through_legacy_stay_up_to_date_when_the_choice_moves_to_v3(
        tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "campaign", rows(3))
    built = run_vidbuild("build", str(project), "--api", "legacy", env=heygen.env())
    assert built.code == 0, built.stderr
    sent = len(heygen.requests())

    for extra in ((), ("--api", "v3")):
        planned = run_vidbuild("plan", str(project), "--json", *extra, env=heygen.env())
        lines = [json.loads(line) for line in planned.stdout.splitlines()]
        assert planned.code == 0, planned.stderr
        assert [(line["action"], line["api"]) for line in lines[:3]] == [("up-to-date", "v3")] * 3
        assert lines[3]["summary"] == {"up-to-date": 3}
        built_hashes = [manifest(project)[key]["hash"] for key in ("r01", "r02", "r03")]
        assert [line["hash"] for line in lines[:3]] == built_hashes
    assert len(heygen.requests()) == sent   # planning sent nothing


# -- the title marker ------------------------------------------------------------------------------

def test_the_marker_is_twelve_hex_digits_of_the_hash_and_can_be_found_again() -> None:
    content = "3fa9c2d1e0b7" + "5" * 52
    assert title_marker(content) == "[vb:3fa9c2d1e0b7]"
    assert marked_title("Welcome Ana", content) == "Welcome Ana [vb:3fa9c2d1e0b7]"
    assert find_title_marker("Welcome Ana [vb:3fa9c2d1e0b7]") == "3fa9c2d1e0b7"
    assert unmarked_title("Welcome Ana [vb:3fa9c2d1e0b7]") == "Welcome Ana"
    for unmarked in ("Welcome Ana", "[vb:3fa9c2d1e0b7] Welcome", "x [vb:3FA9C2D1E0B7]", "x [vb:3fa9]", None):
        assert find_title_marker(unmarked) is None


def test_every_video_sent_carries_its_marker_and_the_account_ties_it_to_its_row(
        tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "campaign", rows(2))
    assert run_vidbuild("build", str(project), env=heygen.env()).code == 0

    titles = sorted(str(v.title) for v in heygen.emulator.videos())
    hashes = {entry["hash"][:12]: key for key, entry in manifest(project).items()}
    assert [hashes[str(find_title_marker(title))] for title in titles] == ["r01", "r02"]
    assert [unmarked_title(str(title)) for title in titles] == ["Hi Name1", "Hi Name2"]


def test_title_marker_false_sends_titles_as_written(write_tree: WriteTree) -> None:
    root = write_tree({"vidbuild.yaml": PROJECT.format(api="title_marker: false")})
    assert [r["body"]["title"] for r in compiled(root)] == ["Hi a", "Hi b"]  # type: ignore[index]


def test_an_agent_sent_through_v3_carries_callback_id_only_beside_a_webhook(write_tree: WriteTree) -> None:
    root = write_tree({"vidbuild.yaml": """
        version: 1
        name: agents
        kind: agent
        data:
          key: "{{ row.id }}"
          rows: [{id: a}]
        agent:
          prompt: "Say hi"
          orientation: portrait
        """})
    (plain,) = expand_project(load_project(root))

    endpoint, body = plain.submission()

    assert (endpoint, body) == ("POST /v3/video-agents", {"prompt": "Say hi", "orientation": "portrait"})
    hooked = {**plain.body, "callback_url": "https://hooks.example.com/x"}
    job = dataclasses.replace(plain, body=hooked)
    assert job.submission()[1] == {**body, "callback_url": "https://hooks.example.com/x",
                                   "callback_id": plain.hash}


def test_status_reads_state_whatever_api_the_project_asks_for(write_tree: WriteTree, tmp_path: Path) -> None:
    root = mixed(write_tree, api="api: v3")
    stdout = io.StringIO()
    assert commands.status(str(root), state_dir=str(tmp_path / "state"), json_output=True, stdout=stdout) == 0
    assert [json.loads(line)["status"] for line in stdout.getvalue().splitlines()] == ["not-built"] * 2


REPO = Path(__file__).resolve().parent.parent
SCHEMA_OF_ENDPOINT = {"POST /v2/video/generate": "heygen/video_generate.request.schema.json",
                      "POST /v1/video_agent/generate": "heygen/video_agent_generate.request.schema.json",
                      "POST /v3/videos": "heygen/v3_videos.request.schema.json",
                      "POST /v3/video-agents": "heygen/v3_video_agents.request.schema.json"}


@pytest.mark.parametrize("name", ["hello", "spring-welcome", "agent-intro"])
@pytest.mark.parametrize("api", ["auto", "legacy"])
def test_every_example_body_as_sent_passes_its_endpoints_schema(name: str, api: str) -> None:
    for job in expand_project(load_project(REPO / "projects" / name), api=api):
        endpoint, body = job.submission()
        validator = Draft202012Validator(load_schema(SCHEMA_OF_ENDPOINT[endpoint]))
        assert [e.message for e in validator.iter_errors(body)] == [], (job.key, endpoint)


# -- routes weighed once per set of scenes, unless a row can change what decides them ----------------

def routes(root: Path) -> list[tuple[str, str, str]]:
    return [(job.key, job.generation, job.route_reason) for job in expand_project(load_project(root))]


def test_a_templated_field_that_decides_the_route_is_weighed_row_by_row(write_tree: WriteTree) -> None:
    root = write_tree({"vidbuild.yaml": """
        version: 1
        name: styles
        data:
          key: "{{ row.id }}"
          rows: [{id: a, style: normal, w: 1280}, {id: b, style: circle, w: 1280},
                 {id: c, style: normal, w: 1000}, {id: d, style: normal, w: 1280}]
        video: {dimension: {width: "{{ row.w }}", height: 720}}
        scenes:
          - id: intro
            avatar: {avatar_id: "Daisy-{{ row.id }}", avatar_style: "{{ row.style }}"}
            voice: {voice_id: v-1, text: "Hi {{ row.id }}"}
            background: {value: "#000000"}
        """})
    assert routes(root) == [
        ("a", "v3", "one avatar scene: v3 avatar video"),
        ("b", "legacy", "scene intro has avatar_style: circle, which v3 can't express"),
        ("c", "legacy", "dimension 1000x720 has no exact v3 resolution and aspect ratio (v3 makes "
                        "1280x720 and 1920x1080, upright or square)"),
        ("d", "v3", "one avatar scene: v3 avatar video")]


def test_routes_weighed_once_per_set_of_scenes_are_those_weighed_row_by_row() -> None:
    from vidbuild.heygen.v3_bodies import choose_route

    jobs = list(expand_project(load_project(REPO / "projects" / "spring-welcome")))
    assert {len(job.scenes) for job in jobs} == {3, 4}
    for job in jobs:
        route = choose_route(job.kind, job.body, job.scenes, "auto")
        assert (job.generation, job.route_reason) == (route.generation, route.reason), job.key
