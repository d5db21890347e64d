"""Incremental builds (issue 14): a row whose inputs did not change since it was downloaded is
neither rendered nor validated again, and every change that can change a body makes its rows be
rendered again; a build reads its rows once.

Each test builds a small project on the in-process emulator, changes one thing, and checks which
rows were rendered (``Expander.expand`` is counted) and how many videos were sent.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from vidbuild import commands
from vidbuild.errors import ProjectError
from vidbuild.planner import fingerprint
from vidbuild.spec import output_paths
from vidbuild.spec.expand import Expander, Job
from vidbuild.spec.rows import Row

PROJECT = """\
    version: 1
    name: incremental
    vars: {company: Acme}
    data:
      source: rows.csv
      key: "{{ row.id }}"
    video:
      title: "Hi {{ row.name }}"
    defaults:
      avatar: {avatar_id: Daisy-inskirt-20220818}
      voice: {voice_id: 2d5b0e6cf36f460aa7fc47e3eee4ba54, speed: 1.0}
      background: {type: color, value: "#0B1F3A"}
    scenes:
      - id: hello
        voice: {text: "Hi {{ row.name }}, welcome to {{ vars.company }}."}
      - id: pro
        when: "row.plan == 'pro'"
        voice: {text: "{% include 'pro.j2' %}"}
      - use: outro
    output: "out/{{ key }}.mp4"
"""
ROWS = [("r1", "Ana", "pro"), ("r2", "Ben", "basic"), ("r3", "Chloe", "pro"), ("r4", "Dmitri", "basic")]
KEYS = [key for key, _, _ in ROWS]
PRO = ["r1", "r3"]


def write_rows(project: Path, rows: list[tuple[str, ...]], header: str = "id,name,plan") -> None:
    lines = [header, *(",".join(row) for row in rows)]
    (project / "rows.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VIDBUILD_EMULATOR_SPEED", "0.001")
    root = tmp_path / "campaign"
    (root / "templates").mkdir(parents=True)
    (root / "vidbuild.yaml").write_text(textwrap.dedent(PROJECT), encoding="utf-8")
    (root / "templates" / "pro.j2").write_text("Your pro plan, {{ row.name }}.", encoding="utf-8")
    (root / "templates" / "outro.yaml").write_text('voice: {text: "Bye {{ row.name }}."}\n', encoding="utf-8")
    write_rows(root, ROWS)
    return root


@pytest.fixture
def rendered(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys of the rows rendered (expanded in full), in order, since the test began."""
    keys: list[str] = []
    expand = Expander.expand

    def counted(self: Expander, row: Row, sink: object, fingerprint: str | None = None) -> Job | None:
        keys.append(str(row.values.get("id")))
        return expand(self, row, sink, fingerprint)   # type: ignore[arg-type]

    monkeypatch.setattr(Expander, "expand", counted)
    return keys


def build(project: Path, rendered: list[str], *args: str,
          force: tuple[str, ...] = ()) -> tuple[list[str], int]:
    """Build; the rows rendered and the number of videos built (sent) by this build."""
    rendered.clear()
    err = io.StringIO()
    code = commands.build(str(project), stderr=err, force=force, api=args[0] if args else None)
    assert code == 0, err.getvalue()
    built = re.search(r"(\d+) built, \d+ up to date, 0 failed", err.getvalue())
    assert built, err.getvalue()
    return list(rendered), int(built[1])


def plan_json(project: Path, api: str | None = None) -> list[dict[str, object]]:
    out = io.StringIO()
    commands.plan(str(project), json_output=True, stdout=out, api=api)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def built_once(project: Path, rendered: list[str]) -> None:
    """The first build (every row rendered and sent), then one edit and rebuild, so the known
    rows are written by a build that ran the engine."""
    assert build(project, rendered) == (KEYS, 4)


def test_one_edited_row_is_the_only_one_rendered_and_sent(project: Path, rendered: list[str]) -> None:
    built_once(project, rendered)
    write_rows(project, [ROWS[0], ("r2", "Bea", "basic"), *ROWS[2:]])

    assert build(project, rendered) == (["r2"], 1)
    write_rows(project, [ROWS[0], ("r2", "Bea", "basic"), ("r3", "Cleo", "pro"), ROWS[3]])
    rendered.clear()
    steps = plan_json(project)
    assert rendered == ["r3"]                          # plan renders only the edited row too
    assert [step["action"] for step in steps[:-1]] == ["up-to-date", "up-to-date", "submit", "up-to-date"]
    assert steps[0]["hash"] and steps[0]["api"] == "v3"   # a reused row still shows its hash and route
    assert build(project, rendered) == (["r3"], 1)


@pytest.mark.parametrize("edit, sent", [
    (lambda root: (root / "templates" / "pro.j2").write_text("Pro, {{ row.name }}!"), PRO),
    (lambda root: (root / "templates" / "outro.yaml").write_text('voice: {text: "Ciao {{ row.name }}."}\n'),
     KEYS),
    (lambda root: _edit_project(root, "company: Acme", "company: Umbrella"), KEYS),
    (lambda root: _edit_project(root, "speed: 1.0", "speed: 1.1"), KEYS),
    (lambda root: _edit_project(root, "Daisy-inskirt-20220818", "Mark-costume-1234"), KEYS),
], ids=["included-file", "use-template", "vars-value", "default-value", "default-avatar"])
def test_an_input_that_changes_bodies_renders_every_row_and_rebuilds_exactly_those_it_changes(
        project: Path, rendered: list[str], edit: object, sent: list[str]) -> None:
    built_once(project, rendered)
    edit(project)   # type: ignore[operator]

    again, built = build(project, rendered)
    assert again == KEYS and built == len(sent)
    assert build(project, rendered)[1] == 0          # and then all is up to date


def _edit_project(root: Path, old: str, new: str) -> None:
    path = root / "vidbuild.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_a_new_template_file_that_could_shadow_a_built_in_one_renders_every_row(
        project: Path, rendered: list[str]) -> None:
    built_once(project, rendered)
    (project / "templates" / "unused.j2").write_text("not used by any scene")
    assert build(project, rendered) == (KEYS, 0)


def test_a_new_vidbuild_renders_every_row_again(project: Path, rendered: list[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    built_once(project, rendered)
    monkeypatch.setattr(fingerprint, "__version__", "99.0.0")
    fingerprint.code_fingerprint.cache_clear()
    try:
        write_rows(project, [*ROWS, ("r5", "Ema", "basic")])   # past the no-op snapshot
        assert build(project, rendered) == ([*KEYS, "r5"], 1)
    finally:
        fingerprint.code_fingerprint.cache_clear()


def test_the_api_choice_is_part_of_the_fingerprint(project: Path, rendered: list[str]) -> None:
    built_once(project, rendered)
    rendered.clear()
    steps = plan_json(project, api="legacy")
    assert rendered == KEYS                           # another route: rendered, routed again
    assert {step["api"] for step in steps[:-1]} == {"legacy"}
    assert {step["action"] for step in steps[:-1]} == {"up-to-date"}   # the same bodies


def test_the_api_namespace_is_part_of_the_fingerprint(project: Path) -> None:
    known = fingerprint.project_fingerprint
    from vidbuild.spec.project import load_project

    loaded = load_project(project)
    assert known(loaded, None, "api.heygen.com-1") != known(loaded, None, "emulator-2")
    assert known(loaded, None, "emulator-2") != known(loaded, "legacy", "emulator-2")


@pytest.mark.parametrize("header, rows", [
    ("id,name,plan,city", [(*row, "Lyon") for row in ROWS]),       # a column added
    ("id,name,tier", ROWS),                                        # an unused column renamed
    ("id,plan,name", [(key, plan, name) for key, name, plan in ROWS]),   # columns reordered
], ids=["column-added", "column-renamed", "columns-reordered"])
def test_a_change_of_columns_renders_every_row(project: Path, rendered: list[str], header: str,
                                               rows: list[tuple[str, ...]]) -> None:
    built_once(project, rendered)
    if header == "id,name,tier":
        _edit_project(project, "row.plan == 'pro'", "row.tier == 'pro'")
    write_rows(project, rows, header)
    assert build(project, rendered) == (KEYS, 0)


def test_an_edit_that_leaves_the_project_data_as_it_was_renders_nothing(
        project: Path, rendered: list[str]) -> None:
    built_once(project, rendered)
    _edit_project(project, "vars: {company: Acme}", "# a comment\nvars:\n  company: 'Acme'")
    assert build(project, rendered) == ([], 0)
    _edit_project(project, "company: 'Acme'", "company: 'Acme '")   # a value: every row again
    assert build(project, rendered) == (KEYS, 4)


def _inline(project: Path, rows: list[tuple[str, ...]]) -> None:
    """The project with ``rows`` written inline (data.rows) instead of in rows.csv."""
    listed = "".join(f"\n    - {{id: {key}, name: {name}, plan: {plan}}}" for key, name, plan in rows)
    text = textwrap.dedent(PROJECT).replace("  source: rows.csv", f"  rows:{listed}")
    (project / "vidbuild.yaml").write_text(text, encoding="utf-8")


def test_one_edited_inline_row_is_the_only_one_rendered_and_sent(project: Path, rendered: list[str]) -> None:
    _inline(project, ROWS)
    assert build(project, rendered) == (KEYS, 4)
    first = _video_ids(project)
    _inline(project, [ROWS[0], ("r2", "Bea", "basic"), *ROWS[2:]])
    assert build(project, rendered) == (["r2"], 1)
    # A new row, the others reordered, r2 back as it was (its video downloaded again, not paid),
    # and a value of another type (1 is no 'pro'): rendered exactly those.
    _inline(project, [("r9", "Ivo", "pro"), *ROWS[:0:-1], ("r1", "Ana", 1)])
    assert build(project, rendered) == (["r9", "r2", "r1"], 3)
    again = _video_ids(project)
    assert again["r2"] == first["r2"] and again["r3"] == first["r3"] and again["r1"] != first["r1"]
    _edit_project(project, "company: Acme", "company: Umbrella")
    assert build(project, rendered) == (["r9", "r4", "r3", "r2", "r1"], 5)


def test_a_renamed_column_a_template_uses_is_still_an_error(project: Path, rendered: list[str]) -> None:
    built_once(project, rendered)
    write_rows(project, ROWS, "id,first_name,plan")
    with pytest.raises(ProjectError, match="undefined: no column or field 'name'"):
        commands.build(str(project), stderr=io.StringIO())


def test_rows_in_another_order_are_reused_and_the_manifest_follows_the_order(
        project: Path, rendered: list[str]) -> None:
    built_once(project, rendered)
    write_rows(project, ROWS[::-1])
    assert build(project, rendered) == ([], 0)
    manifest = json.loads((project / "out" / "manifest.json").read_text())
    assert [video["key"] for video in manifest["videos"]] == KEYS[::-1]
    assert {video["status"] for video in manifest["videos"]} == {"done"}
    assert all(video["video_id"] for video in manifest["videos"])


def test_a_row_deleted_then_restored_is_reused(project: Path, rendered: list[str]) -> None:
    built_once(project, rendered)
    write_rows(project, [row for row in ROWS if row[0] != "r2"])
    assert build(project, rendered) == ([], 0)
    write_rows(project, ROWS)
    assert build(project, rendered) == ([], 0)
    video = _video_ids(project)["r2"]
    (project / "out" / "r2.mp4").unlink()              # gone since: the full check decides
    write_rows(project, ROWS[::-1])
    assert build(project, rendered) == (["r2"], 1)     # downloaded again ...
    assert _video_ids(project)["r2"] == video          # ... the same video, not paid again


def _video_ids(project: Path) -> dict[str, str]:
    manifest = json.loads((project / "out" / "manifest.json").read_text())
    return {video["key"]: video["video_id"] for video in manifest["videos"]}


def test_a_forced_row_is_rendered_and_sent_again(project: Path, rendered: list[str]) -> None:
    built_once(project, rendered)
    assert build(project, rendered, force=("r3",)) == (["r3"], 1)
    write_rows(project, ROWS[::-1])
    assert build(project, rendered) == ([], 0)         # known again after its new download


def test_an_unchanged_row_still_gets_its_key_and_output_checked(project: Path, rendered: list[str]) -> None:
    built_once(project, rendered)
    write_rows(project, [*ROWS, ("r1", "Ema", "basic")])   # a new row takes r1's key
    with pytest.raises(ProjectError, match="duplicate key 'r1'"):
        commands.build(str(project), stderr=io.StringIO())


def test_an_unchanged_row_whose_output_now_leaves_the_project_is_refused(
        project: Path, rendered: list[str], tmp_path: Path) -> None:
    built_once(project, rendered)
    outside = tmp_path / "elsewhere"
    shutil.move(project / "out", outside)            # the same files, same sizes and mtimes
    (project / "out").symlink_to(outside, target_is_directory=True)
    write_rows(project, ROWS[::-1])
    output_paths._resolved.cache_clear()              # resolved once per process: a new command
    rendered.clear()
    with pytest.raises(ProjectError, match="escapes the project directory"):
        commands.plan(str(project), stdout=io.StringIO())
    assert rendered == []                               # it was found unchanged, and still checked


def test_a_known_row_whose_output_became_a_link_is_decided_in_full(
        project: Path, rendered: list[str]) -> None:
    built_once(project, rendered)
    kept = project / "kept"
    kept.mkdir()
    (project / "out" / "r2.mp4").rename(kept / "r2.mp4")   # the same bytes, size and mtime
    (project / "out" / "r2.mp4").symlink_to(kept / "r2.mp4")
    write_rows(project, ROWS[::-1])
    rendered.clear()
    steps = {step["key"]: step["action"] for step in plan_json(project)[:-1]}
    assert rendered == ["r2"]           # a link is never taken as the known file: the full check reads it
    assert steps == dict.fromkeys(KEYS, "up-to-date")


def test_rows_settled_past_planning_are_reported_and_listed_in_data_order(
        project: Path, rendered: list[str]) -> None:
    """A build of every row settles the unchanged rows straight into its index (RowIndex.settle):
    they must still come out in data order around the edited one, in the events and the manifest."""
    built_once(project, rendered)
    write_rows(project, [*ROWS[:2], ("r3", "Cleo", "pro"), ROWS[3]])
    out = io.StringIO()
    assert commands.build(str(project), json_output=True, stdout=out, stderr=io.StringIO()) == 0
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    planned = next(event for event in events if event["event"] == "planned")
    assert planned["counts"] == {"up-to-date": 3, "submit": 1}
    assert [event["key"] for event in events if event["event"] == "cached"] == ["r1", "r2", "r4"]
    assert [event["key"] for event in events if event["event"] == "submitted"] == ["r3"]
    manifest = json.loads((project / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert [video["key"] for video in manifest["videos"]] == KEYS
    assert all(video["status"] == "done" for video in manifest["videos"])
    assert manifest["videos"][2]["hash"] == _current_jobs(project)[2].hash   # the edited row's new body
    lines = (project / "out" / "manifest.csv").read_text(encoding="utf-8").splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == KEYS

    # A reporter that shows no line per up-to-date row hears of the settled rows as counts
    # (RowIndex.runs): the runs before, between and after the edited rows add up.
    write_rows(project, [("r1", "Abe", "pro"), ROWS[1], ("r3", "Cora", "pro"), ROWS[3]])
    err = io.StringIO()
    assert commands.build(str(project), stderr=err) == 0
    assert err.getvalue().splitlines()[-1] == "2 built, 2 up to date, 0 failed", err.getvalue()
    write_rows(project, [("r1", "Abe", "pro"), ROWS[1], ("r3", "Cora", "pro"), ("r4", "Dora", "basic")])
    err = io.StringIO()
    assert commands.build(str(project), stderr=err) == 0
    assert err.getvalue().splitlines()[-1] == "1 built, 3 up to date, 0 failed", err.getvalue()


def test_a_claim_forgets_the_known_rows_of_its_hash(project: Path, rendered: list[str]) -> None:
    from vidbuild.heygen.backend import backend_namespace
    from vidbuild.state.disk import DiskState

    built_once(project, rendered)
    fingerprints = [job.fingerprint or "" for job in _current_jobs(project)]
    state = DiskState(project / ".vidbuild", backend_namespace())
    try:
        known = {row.key: row for row in state.known_rows(fingerprints).values()}
        assert set(known) == set(KEYS)
        outcome, _ = state.claim(known["r2"].hash, "r2", "video", title=None, output="out/r2.mp4", force=True)
        assert outcome == "claimed"
        assert {row.key for row in state.known_rows(fingerprints).values()} == {"r1", "r3", "r4"}
    finally:
        state.close()
    write_rows(project, ROWS[::-1])
    rendered.clear()
    steps = {step["key"]: step["action"] for step in plan_json(project)[:-1]}
    assert steps["r2"] == "reconcile" and rendered == ["r2"]   # the full check sees the claim


def _current_jobs(project: Path) -> list[Job]:
    """The Jobs a plan of ``project`` reads (rows known unchanged come without a body)."""
    import vidbuild
    from vidbuild.pipeline.openers import jobs, state_directory
    from vidbuild.spec.project import load_project

    loaded = load_project(project)
    state = vidbuild.open_state(project)
    try:
        read: Iterator[Job] = jobs(loaded, state_directory(loaded, None, state), None, state=state)
        return list(read)
    finally:
        state.close()


def test_jobs_from_known_rows_carry_no_body(project: Path, rendered: list[str]) -> None:
    built_once(project, rendered)
    found = _current_jobs(project)
    assert [job.unchanged for job in found] == [True] * 4 and all(job.body == {} for job in found)
    assert all(job.fingerprint for job in found)


FLAGS = [True, 1, 1.0, -0.0, 0.0, None, "1"]


def test_field_digests_are_the_sha256_of_each_leafs_canonical_json() -> None:
    # State keeps these digests between versions: the memo of repeated texts must not change them.
    import hashlib

    from vidbuild.planner.fields import field_digests
    from vidbuild.spec.hashing import canonical_json

    body = {"title": "Hi", "flags": FLAGS, "empty": {}, "none": [],
            "video_inputs": [{"voice": {"input_text": "Hi", "speed": 1.5}}, {"voice": {"input_text": "Hi"}}]}

    def digest(value: object) -> str:
        return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:12]

    expected = {"title": digest("Hi"), "empty": digest({}), "none": digest([]),
                **{f"flags[{n}]": digest(value) for n, value in enumerate(FLAGS)},
                "video_inputs[0].voice.input_text": digest("Hi"), "video_inputs[0].voice.speed": digest(1.5),
                "video_inputs[1].voice.input_text": digest("Hi")}
    assert field_digests(body) == field_digests(body) == expected
    assert len({field_digests(body)[f"flags[{n}]"] for n in range(7)}) == 5   # true 1 1 0 0 null "1"
