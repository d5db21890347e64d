"""Issue 15, items 5 and 6: `--force` takes the selectors `--select` takes (a key, a key glob,
COLUMN=VALUE, state:STATE), so `vidbuild build --force state:failed` resubmits permanent
failures on purpose; options and the PATH still parse in any order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from buildkit import LoopbackHeyGen, manifest, rows, run_vidbuild, write_project


@pytest.fixture
def built(tmp_path: Path, heygen: LoopbackHeyGen) -> Path:
    project = write_project(tmp_path / "campaign", rows(3))
    assert run_vidbuild("build", str(project), env=heygen.env()).code == 0
    return project


def planned(project: Path, heygen: LoopbackHeyGen, *options: str) -> dict[str, dict[str, Any]]:
    """``plan --json``'s rows by key under these options."""
    run = run_vidbuild("plan", "--json", *options, str(project), env=heygen.env())
    assert run.code == 0, run.stderr
    return {row["key"]: row for row in map(json.loads, run.stdout.splitlines()[:-1])}


def actions(plan: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {key: row["action"] for key, row in plan.items()}


def test_force_state_failed_resubmits_permanent_failures(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "campaign", rows(3))
    heygen.restart(faults={"render_refuse": 1.0})
    assert run_vidbuild("build", str(project), env=heygen.env()).code == 1
    heygen.restart()
    assert run_vidbuild("build", str(project), env=heygen.env()).code == 1   # failed for good: not sent
    assert len(heygen.submits()) == 3
    plan = planned(project, heygen, "--force", "state:failed")
    assert actions(plan) == {"r01": "submit", "r02": "submit", "r03": "submit"}
    assert plan["r01"]["reason"] == "forced rebuild (--force state:failed)"

    run = run_vidbuild("build", str(project), "--force", "state:failed", env=heygen.env())

    assert run.code == 0, run.stderr
    assert len(heygen.submits()) == 6
    assert {entry["status"] for entry in manifest(project).values()} == {"done"}
    again = run_vidbuild("build", "--force", "state:failed", str(project), env=heygen.env())
    assert again.code == 0 and len(heygen.submits()) == 6   # nothing failed any more: nothing forced
    explained = json.loads(run_vidbuild("explain", "r01", str(project), "--json", env=heygen.env()).stdout)
    # The statuses seen while rendering depend on when the poll came: left out.
    seen = [entry["step"] for entry in explained["record"]["transitions"]
            if entry["step"] in ("claimed", "submitted", "failed", "marked permanent", "forced",
                                 "completed", "downloaded")]
    assert seen[:4] == ["claimed", "submitted", "failed", "marked permanent"] and "forced" in seen


def test_force_takes_a_glob_and_a_column(built: Path, heygen: LoopbackHeyGen) -> None:
    assert actions(planned(built, heygen, "--force", "r0[12]")) == \
        {"r01": "submit", "r02": "submit", "r03": "up-to-date"}
    assert actions(planned(built, heygen, "--force", "name=Name3")) == \
        {"r01": "up-to-date", "r02": "up-to-date", "r03": "submit"}
    run = run_vidbuild("build", str(built), "--force", "r0?", "--exclude", "r03", env=heygen.env())
    assert run.code == 0, run.stderr
    assert len(heygen.submits()) == 3 + 2


def test_force_state_built_forces_rows_known_unchanged(built: Path, heygen: LoopbackHeyGen) -> None:
    assert actions(planned(built, heygen)) == {key: "up-to-date" for key in ("r01", "r02", "r03")}
    plan = planned(built, heygen, "--force", "state:built")
    assert actions(plan) == {key: "submit" for key in ("r01", "r02", "r03")}
    assert plan["r02"]["reason"] == "forced rebuild (--force state:built)"
    run = run_vidbuild("build", str(built), "--force", "state:built", env=heygen.env())
    assert run.code == 0, run.stderr
    sent = heygen.submits()[3:]
    assert len(sent) == 3 and all(request.body for request in sent)
    assert [entry["status"] for entry in manifest(built).values()] == ["done"] * 3


@pytest.mark.parametrize(("value", "message"), [
    ("nobody", "vidbuild: error: --force: no row with key nobody"),
    ("state:bogus", "vidbuild: error: --force state:bogus: unknown state 'bogus' "
                    "(one of new, changed, failed, pending, built)"),
    ("colour=red", "vidbuild: error: --force: colour=red: no row has a data column 'colour'"),
    ("", "vidbuild: error: --force: an empty selector selects nothing; give a key, a pattern, "
         "COLUMN=VALUE or state:STATE"),
])
def test_a_force_selector_that_means_nothing_is_a_usage_error(built: Path, heygen: LoopbackHeyGen,
                                                              value: str, message: str) -> None:
    run = run_vidbuild("build", "--force", value, str(built), env=heygen.env())
    assert (run.code, run.stderr.splitlines()[-1]) == (2, message)
    assert len(heygen.submits()) == 3
