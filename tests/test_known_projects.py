"""The project fingerprints known rows were remembered under (planner/fingerprint.py's
``KNOWN_PROJECTS``): a plan under a project fingerprint no build remembered rows for looks no row up
(every row is rendered, as by a cold plan, and decided as before); one that a build remembered
rows for finds them.
"""

from __future__ import annotations

from pathlib import Path

from test_incremental import (
    KEYS,
    ROWS,
    _edit_project,
    build,
    built_once,
    plan_json,
    project,
    rendered,
    write_rows,
)
from test_last_build import looked_up

from vidbuild.planner import fingerprint
from vidbuild.state.disk import DiskState

__all__ = ["looked_up", "project", "rendered"]   # the fixtures, from the incremental builds' tests


def test_a_template_edit_plans_without_known_row_lookups_and_a_revert_finds_the_rows(
        project: Path, rendered: list[str], looked_up: list[int]) -> None:
    built_once(project, rendered)
    _edit_project(project, "company: Acme", "company: Umbrella")
    looked_up.clear()
    rendered.clear()

    steps = plan_json(project)[:-1]
    assert looked_up == [] and rendered == KEYS
    assert [step["action"] for step in steps] == ["submit"] * 4
    assert all(str(step["reason"]).startswith("changed: ") for step in steps)

    _edit_project(project, "company: Umbrella", "company: Acme")   # the built project again
    rendered.clear()
    steps = plan_json(project)[:-1]
    assert sum(looked_up) == 4 and rendered == []                       # every row known unchanged
    assert [step["action"] for step in steps] == ["up-to-date"] * 4


def test_a_build_under_a_new_project_fingerprint_lists_it_and_its_rows_are_found_next_time(
        project: Path, rendered: list[str], looked_up: list[int]) -> None:
    built_once(project, rendered)
    _edit_project(project, "company: Acme", "company: Umbrella")
    looked_up.clear()
    assert build(project, rendered) == (KEYS, 4)
    assert looked_up == []                         # the build looked none up, and remembered them all
    write_rows(project, [ROWS[0], ("r2", "Bea", "basic"), *ROWS[2:]])
    rendered.clear()
    steps = plan_json(project)[:-1]
    assert sum(looked_up) == 4 and rendered == ["r2"]    # the others found under the new fingerprint
    assert [step["action"] for step in steps] == ["up-to-date", "submit", "up-to-date", "up-to-date"]


def test_the_list_keeps_the_newest_and_a_state_without_it_is_looked_up(tmp_path: Path) -> None:
    state = DiskState(tmp_path, "namespace")
    try:
        assert fingerprint.may_know_rows(state, "p0")     # written before the list was kept
        for number in range(fingerprint.KEPT_PROJECTS + 2):
            fingerprint.list_known_project(state, f"p{number}")
        fingerprint.list_known_project(state, "p5")       # listed again: first
        listed = state.get_meta(fingerprint.KNOWN_PROJECTS)
        assert listed[:2] == ["p5", f"p{fingerprint.KEPT_PROJECTS + 1}"]
        assert len(listed) == fingerprint.KEPT_PROJECTS and "p0" not in listed and "p1" not in listed
        assert not fingerprint.may_know_rows(state, "p0") and fingerprint.may_know_rows(state, "p2")
    finally:
        state.close()
