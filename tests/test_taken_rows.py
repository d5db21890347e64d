"""The fast lane of a build of every row (planner/taken_rows.py): a CSV row the last complete build
had as is is taken as it is read, never made a ``Row``, and settled in its place in the data.

Each test builds the small project of test_incremental.py, with 30 rows, on the in-process
emulator; a page of rows decided as ``Row`` objects (spec/reuse.py) is 8 rows here, not 256, so
that rows taken as read fall between pages and within them.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
import test_incremental
import test_last_build
from test_incremental import build, write_rows

from vidbuild import commands
from vidbuild.errors import ProjectError
from vidbuild.spec import rows as spec_rows

project = test_incremental.project     # the fixtures: the small project, the rows it rendered
rendered = test_incremental.rendered
looked_up = test_last_build.looked_up

PLANS = ("pro", "basic")
MANY = [(f"r{number}", f"Name{number}", PLANS[number % 2]) for number in range(1, 31)]
# Rows edited in every test below: nine rows decided as Row objects, two pages of 8.
EDITS = {at: (f"r{at + 1}", "Edited", "pro") for at in range(0, 18, 2)}


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    from vidbuild.spec import reuse

    monkeypatch.setattr(reuse, "PAGE", 8)


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The index of every row the CSV reader made a ``Row`` since the test began."""
    indexes: list[int] = []

    class Counted(spec_rows.Row):
        __slots__ = ()

        def __init__(self, index: int, values: dict[str, object], file: str, line: int) -> None:
            # Made by the reader as it reads, or for a row of a stretch it could not take (test_stretches.py).
            if sys._getframe(1).f_code.co_name in ("_delimited_rows", "_untaken"):
                indexes.append(index)
            super().__init__(index, values, file, line)

    monkeypatch.setattr(spec_rows, "Row", Counted)
    return indexes


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The fingerprints asked of the last rows one at a time (``LastBuild.take``)."""
    from vidbuild.planner.last_build import LastBuild

    fingerprints: list[str | None] = []
    take = LastBuild.take

    def counted(self: LastBuild, fingerprint: str | None) -> int | None:
        fingerprints.append(fingerprint)
        return take(self, fingerprint)

    monkeypatch.setattr(LastBuild, "take", counted)
    return fingerprints


Rows = list[tuple[str, str, str]]


def edited(rows: Rows, changes: dict[int, tuple[str, str, str]]) -> Rows:
    return [changes.get(at, row) for at, row in enumerate(rows)]


def test_only_the_edited_rows_are_made_rows_and_the_manifest_is_as_state_gives_it(
        project: Path, rendered: list[str], looked_up: list[int], made: list[int],
        asked: list[str | None]) -> None:
    write_rows(project, MANY)
    assert build(project, rendered)[1] == 30
    changes = {**EDITS, 29: ("r30", "Cy", "pro")}
    write_rows(project, edited(MANY, changes))
    made.clear()
    looked_up.clear()
    asked.clear()
    assert build(project, rendered) == ([changes[at][0] for at in sorted(changes)], 10)
    assert made == sorted(changes)          # the 20 others were taken as read
    assert len(asked) == len(set(asked)) == 30   # each row's fingerprint asked once
    assert sum(looked_up) == 10
    after = test_last_build.manifests(project)
    assert test_last_build.as_decided_from_state(project) == after


def test_rows_after_an_empty_row_or_an_inserted_one_are_taken_in_their_new_places(
        project: Path, rendered: list[str], made: list[int]) -> None:
    write_rows(project, MANY)
    assert build(project, rendered)[1] == 30
    rows = [*MANY[:10], ("", "", ""), ("r0", "Zed", "pro"), *MANY[10:]]   # a blank line, a new row
    write_rows(project, rows)
    made.clear()
    assert build(project, rendered) == (["r0"], 1)
    assert made == [10]                   # the new row: the blank line is skipped, not a row
    manifest = test_last_build.manifests(project)
    assert manifest == test_last_build.as_decided_from_state(project)


@pytest.mark.parametrize("changes, blamed, first", [
    # An edited row takes the key of a later row of the same page (taken as read, settled after it).
    ({2: ("r6", "Abe", "pro")}, 7, 4),
    # An edited row on the second page takes the key of a row taken on the first.
    ({16: ("r2", "Abe", "pro")}, 18, 3),
    # An edited row after the last page takes the key of the row just before it.
    ({20: ("r20", "Abe", "pro")}, 22, 21),
])
def test_a_duplicate_with_a_taken_row_is_blamed_where_plan_blames_it(
        project: Path, rendered: list[str], changes: dict[int, tuple[str, str, str]],
        blamed: int, first: int) -> None:
    write_rows(project, MANY)
    assert build(project, rendered)[1] == 30
    write_rows(project, edited(MANY, {**EDITS, **changes}))
    blamed_as_plan_blames(project, blamed, first)


def blamed_as_plan_blames(project: Path, blamed: int, first: int) -> None:
    """A build fails as ``plan`` does: a duplicate key on line ``blamed``, first at line ``first``."""
    with pytest.raises(ProjectError) as planned:
        commands.plan(str(project), stdout=io.StringIO())
    with pytest.raises(ProjectError) as built:
        commands.build(str(project), stderr=io.StringIO())
    assert str(built.value) == str(planned.value)
    assert f"rows.csv:{blamed}" in str(built.value)
    assert "(first at " in str(built.value) and str(built.value).endswith(f"rows.csv:{first})")


def test_a_malformed_line_after_taken_rows_is_reported_and_nothing_is_sent(
        project: Path, rendered: list[str]) -> None:
    write_rows(project, MANY)
    assert build(project, rendered)[1] == 30
    write_rows(project, [*edited(MANY, EDITS)[:20], ("r21", "Ann", "pro", "extra"), *MANY[21:]])
    err = io.StringIO()
    with pytest.raises(ProjectError, match=r"rows\.csv:22.*row has 4 fields"):
        commands.build(str(project), stderr=err)
    assert "built" not in err.getvalue()


def test_json_lines_rows_are_taken_from_the_last_build_a_page_at_a_time(
        project: Path, rendered: list[str], looked_up: list[int], made: list[int]) -> None:
    spec = project / "vidbuild.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("rows.csv", "rows.jsonl"), encoding="utf-8")

    def write_jsonl(rows: Rows) -> None:
        lines = (json.dumps({"id": key, "name": name, "plan": plan}) for key, name, plan in rows)
        (project / "rows.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")

    write_jsonl(MANY)
    assert build(project, rendered)[1] == 30
    write_jsonl(edited(MANY, EDITS))
    looked_up.clear()
    assert build(project, rendered) == ([EDITS[at][0] for at in sorted(EDITS)], 9)
    assert sum(looked_up) == 9            # the 21 others came from the last build, not from state
    assert made == []                     # no CSV reader: the JSON Lines reader makes every Row
    assert test_last_build.manifests(project) == test_last_build.as_decided_from_state(project)
