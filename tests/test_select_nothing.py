"""A selection that matches nothing is said, not silent (as dbt warns): a pattern, a value or a
state no row has, and a selection of no row at all. A plain key or an unknown column stays an
error (exit 2)."""

from __future__ import annotations

from pathlib import Path

from buildkit import LoopbackHeyGen, rows, run_vidbuild, write_project


def test_a_pattern_and_a_value_that_match_nothing_are_warned_about(tmp_path: Path,
                                                                    heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "campaign", rows(3))
    run = run_vidbuild("plan", str(project), "--select", "zz*", "--select", "id=nobody", env=heygen.env())
    assert run.code == 0, run.stderr
    assert "vidbuild: warning: --select zz* matches no row\n" in run.stderr
    assert "vidbuild: warning: --select id=nobody matches no row\n" in run.stderr
    assert "vidbuild: warning: no row is selected: nothing to do\n" in run.stderr
    assert run.stdout.splitlines()[-1] == "no rows; estimated 0.0 credits"

    run = run_vidbuild("build", str(project), "--select", "r01", "--exclude", "r0*", env=heygen.env())
    assert run.code == 0 and heygen.submits() == []
    assert run.stderr.count("vidbuild: warning: no row is selected: nothing to do\n") == 1
    assert "matches no row" not in run.stderr


def test_a_selection_that_matches_says_nothing_more(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "campaign", rows(3))
    run = run_vidbuild("plan", str(project), "--select", "r0*", "--exclude", "state:failed", env=heygen.env())
    assert run.code == 0 and "warning" not in run.stderr
    assert run.stdout.splitlines()[-1].startswith("3 submit; estimated ")
