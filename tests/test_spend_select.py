"""Issue 15, item 4: --select / --exclude on plan, build, status, compile and validate (keys, key
globs, COLUMN=VALUE, state:…), `vidbuild retry`, and options that never swallow the PATH."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from buildkit import LoopbackHeyGen, manifest, rows, run_vidbuild, write_project, write_rows

KEYS = ["r01", "r02", "r03", "r04", "r05"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "campaign", rows(5))


def planned(project: Path, heygen: LoopbackHeyGen, *selectors: str) -> list[str]:
    """The keys ``plan --json`` lists under these options."""
    run = run_vidbuild("plan", "--json", str(project), *selectors, env=heygen.env())
    assert run.code == 0, run.stderr
    return [json.loads(line)["key"] for line in run.stdout.splitlines()[:-1]]


@pytest.fixture
def every_state(project: Path, heygen: LoopbackHeyGen) -> Path:
    """r01 changed since built, r02 built, r03 failed, r04 pending (still rendering), r05 new."""
    first = run_vidbuild("build", str(project), "--select", "r01", "--select", "r02", env=heygen.env())
    assert first.code == 0, first.stderr
    assert len(heygen.submits()) == 2
    assert {key: entry["status"] for key, entry in manifest(project).items()} == \
        {"r01": "done", "r02": "done", "r03": "not-built", "r04": "not-built", "r05": "not-built"}
    heygen.restart(faults={"render_fail": 1.0})
    assert run_vidbuild("build", str(project), "--select", "r03", env=heygen.env()).code == 1
    heygen.restart(speed=1.0)   # renders take half a minute: r04 is still rendering when left
    left = run_vidbuild("build", str(project), "--select", "r04", "--render-timeout", "0.3", env=heygen.env())
    assert left.code == 3, left.stderr
    heygen.restart()
    edited = rows(5)
    edited[0]["line"] = "welcome back!"
    write_rows(project, edited)
    return project


SELECTIONS = [
    ((), KEYS),
    (("--select", "state:new"), ["r05"]),
    (("--select", "state:changed"), ["r01"]),
    (("--select", "state:failed"), ["r03"]),
    (("--select", "state:pending"), ["r04"]),
    (("--select", "state:built"), ["r02"]),
    (("--select", "r0[12]"), ["r01", "r02"]),
    (("--select", "key:r05"), ["r05"]),
    (("--select", "name=Name3"), ["r03"]),
    (("--select", "line=welcome back!"), ["r01"]),
    (("--select", "state:new", "--select", "state:failed"), ["r03", "r05"]),
    (("--select", "r*", "--exclude", "state:built", "--exclude", "r05"), ["r01", "r03", "r04"]),
    (("--exclude", "name=Name1"), ["r02", "r03", "r04", "r05"]),
    (("--select", "x*"), []),
]


def test_selectors_of_every_form_pick_rows_from_the_plan(every_state: Path, heygen: LoopbackHeyGen) -> None:
    # One project in every state, asked many questions (building it is the slow part).
    for options, keys in SELECTIONS:
        assert planned(every_state, heygen, *options) == keys, options


def test_selected_status_and_retry(every_state: Path, heygen: LoopbackHeyGen) -> None:
    status = run_vidbuild("status", "--json", "--select", "state:failed", str(every_state), env=heygen.env())
    assert [json.loads(line)["key"] for line in status.stdout.splitlines()] == ["r03"]
    before = len(heygen.submits())
    retried = run_vidbuild("retry", str(every_state), env=heygen.env())
    assert retried.code == 0, retried.stderr
    assert len(heygen.submits()) == before + 1
    entries = manifest(every_state)
    assert entries["r03"]["status"] == "done" and entries["r05"]["status"] == "not-built"
    assert planned(every_state, heygen, "--select", "state:failed") == []


def test_a_selected_build_sends_only_its_rows_and_the_manifest_lists_all(project: Path,
                                                                           heygen: LoopbackHeyGen) -> None:
    run = run_vidbuild("build", str(project), "--select", "name=Name4", env=heygen.env())
    assert run.code == 0, run.stderr
    assert [request.body["title"].split(" [")[0] for request in heygen.submits()] == ["Hi Name4"]
    assert sorted(manifest(project)) == KEYS
    # The rest are still to do: a full build finishes them, and only then is all up to date.
    assert run_vidbuild("build", "-q", str(project), env=heygen.env()).code == 1
    assert run_vidbuild("build", str(project), env=heygen.env()).code == 0
    assert len(heygen.submits()) == 5


@pytest.mark.parametrize(("options", "message"), [
    (("--select", "nobody"), "--select nobody: no row with key nobody"),
    (("--exclude", "nobody"), "--exclude nobody: no row with key nobody"),
    (("--select", "colour=red"), "--select colour=red: no row has a data column 'colour'"),
    (("--select", "state:broken"),
     "--select state:broken: unknown state 'broken' (one of new, changed, failed, pending, built)"),
    (("--select", "=x"), "--select =x: no column before '=' (write COLUMN=VALUE, or key:=x for a key)"),
    (("--select", ""), "--select: an empty selector selects nothing; give a key, a pattern, "
                       "COLUMN=VALUE or state:STATE"),
])
def test_a_selector_that_names_nothing_is_a_usage_error(project: Path, heygen: LoopbackHeyGen,
                                                        options: tuple[str, ...], message: str) -> None:
    for command in ("plan", "build", "status", "compile", "validate"):
        run = run_vidbuild(command, str(project), *options, env=heygen.env())
        assert (run.code, run.stderr.splitlines()[-1]) == (2, f"vidbuild: error: {message}"), command
    assert heygen.submits() == []


def test_compile_and_validate_select_rows_but_not_by_state(project: Path, heygen: LoopbackHeyGen) -> None:
    compiled = run_vidbuild("compile", "--select", "name=Name3", "--select", "r05", str(project),
                            env=heygen.env())
    assert [json.loads(line)["key"] for line in compiled.stdout.splitlines()] == ["r03", "r05"]
    checked = run_vidbuild("validate", str(project), "--exclude", "r0[1-4]", env=heygen.env())
    assert checked.code == 0 and checked.stderr.endswith(": ok, 1 video\n"), checked.stderr
    refused = run_vidbuild("compile", str(project), "--select", "state:new", env=heygen.env())
    assert (refused.code, refused.stderr) == (2, "vidbuild: error: state: selectors need the build's "
                                                 "state: use them with plan, build, status or retry\n")


@pytest.mark.parametrize("order", ["options first", "path first"])
def test_force_and_select_never_swallow_the_path(project: Path, heygen: LoopbackHeyGen, tmp_path: Path,
                                                 order: str) -> None:
    options = ("--force", "r02", "--select", "r02", "--select", "r03")
    args = (*options, str(project)) if order == "options first" else (str(project), *options)
    run = run_vidbuild("plan", *args, env=heygen.env())
    assert run.code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("submit      r02  forced rebuild (--force)")
    assert lines[1].startswith("submit      r03  new")
    built = run_vidbuild("build", "--force", "r02", str(project), env=heygen.env())
    assert built.code == 0, built.stderr
    assert len(heygen.submits()) == 5
