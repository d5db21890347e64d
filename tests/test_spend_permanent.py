"""Issue 15, item 5: failures that will fail again are not retried blindly. A content-policy or
invalid-input failure stays failed and is not resubmitted until its body changes or --force
names it; a server fault is retried by the next build as before."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from buildkit import LoopbackHeyGen, manifest, rows, run_vidbuild, unstamped, write_project, write_rows

from vidbuild.heygen.failures import PERMANENT_RENDER_CODES, is_permanent_render_failure

CONTENT_FAILURE = re.compile(r"HeyGen failed the render: (40039|400105|400168) [A-Z][a-z ]+")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "campaign", rows(3))


def test_the_contracts_content_and_input_codes_are_permanent_and_others_not() -> None:
    assert PERMANENT_RENDER_CODES == {"40119", "400105", "400144", "400116", "400168", "40039"}
    assert is_permanent_render_failure("400168") and is_permanent_render_failure(" 40039 ")
    assert not is_permanent_render_failure("500") and not is_permanent_render_failure(None)


def test_a_moderation_failure_stays_failed_and_is_not_resubmitted(project: Path,
                                                                 heygen: LoopbackHeyGen) -> None:
    heygen.restart(faults={"render_refuse": 1.0})
    first = run_vidbuild("build", str(project), env=heygen.env())
    assert first.code == 1, first.stderr
    assert len(heygen.submits()) == 3
    heygen.restart()   # HeyGen would refuse the same bodies again; the fault is off to prove none is sent

    again = run_vidbuild("build", str(project), env=heygen.env())

    assert again.code == 1, again.stderr
    assert len(heygen.submits()) == 3
    failures = [line for line in unstamped(again.stderr) if line.startswith("FAILED")]
    assert len(failures) == 3 and all(CONTENT_FAILURE.search(line) for line in failures)
    assert "FAILED r01: failed for good: HeyGen failed the render: " in again.stderr
    assert "not sent again until its body changes (--force r01 sends it anyway)" in again.stderr
    assert "plan: 3 failed;" in again.stderr
    assert again.stderr.splitlines()[-1] == "0 built, 0 up to date, 3 failed"
    assert {entry["status"] for entry in manifest(project).values()} == {"failed"}
    plan = run_vidbuild("plan", str(project), env=heygen.env()).stdout.splitlines()
    assert plan[0].startswith("failed      r01  failed for good: HeyGen failed the render: 4")
    assert plan[-1] == "3 failed; estimated 0.0 credits"
    # retry is build --select state:failed: a failure for good stays one.
    assert run_vidbuild("retry", str(project), env=heygen.env()).code == 1
    assert len(heygen.submits()) == 3


def test_a_changed_body_or_force_sends_a_permanent_failure_again(project: Path,
                                                                heygen: LoopbackHeyGen) -> None:
    heygen.restart(faults={"render_refuse": 1.0})
    assert run_vidbuild("build", str(project), env=heygen.env()).code == 1
    heygen.restart()
    edited = rows(3)
    edited[0]["line"] = "a gentler script"
    write_rows(project, edited)

    run = run_vidbuild("build", str(project), "--force", "r02", env=heygen.env())

    assert run.code == 1, run.stderr
    assert len(heygen.submits()) == 3 + 2
    statuses = {key: entry["status"] for key, entry in manifest(project).items()}
    assert statuses == {"r01": "done", "r02": "done", "r03": "failed"}


def test_a_server_fault_is_retried_by_the_next_build(project: Path, heygen: LoopbackHeyGen) -> None:
    heygen.restart(faults={"render_fail": 1.0})
    assert run_vidbuild("build", str(project), env=heygen.env()).code == 1
    heygen.restart()
    plan = run_vidbuild("plan", str(project), env=heygen.env()).stdout.splitlines()
    assert plan[0].startswith("retry       r01  failed before: HeyGen failed the render: 500 Internal")
    assert run_vidbuild("build", str(project), env=heygen.env()).code == 0
    assert len(heygen.submits()) == 6
