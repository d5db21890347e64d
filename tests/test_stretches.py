"""Rows taken by their place (planner/stretches.py): the lines at the start and at the end of a
CSV file that are as the last complete build read them hold the rows it had, which a build of every
row takes without parsing or fingerprinting them; only the rows between are read in full.

Each test builds the 30-row project of test_taken_rows.py on the in-process emulator, edits its
data file, builds again, and checks which rows the reader made (``Row`` objects), which rows were
asked of the last rows by fingerprint, and that the manifest is the one a build deciding every row
from state writes.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import test_incremental
import test_last_build
import test_taken_rows
from test_incremental import build
from test_taken_rows import MANY, blamed_as_plan_blames

from vidbuild import commands
from vidbuild.errors import ProjectError
from vidbuild.planner.last_build import LastBuild
from vidbuild.spec.data_layout import DataLayout, common_head, common_tail

project = test_incremental.project     # the fixtures: the small project, the rows it rendered
rendered = test_incremental.rendered
looked_up = test_last_build.looked_up
small_pages = test_taken_rows.small_pages
made = test_taken_rows.made
asked = test_taken_rows.asked

Rows = list[tuple[str, ...]]


@pytest.fixture
def stretched(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many rows each stretch taken by place had."""
    counts: list[int] = []
    take_stretch = LastBuild.take_stretch

    def counted(self: LastBuild, number: int, count: int) -> list[int]:
        counts.append(count)
        return take_stretch(self, number, count)

    monkeypatch.setattr(LastBuild, "take_stretch", counted)
    return counts


def write_csv(project: Path, rows: Rows, newline: str = "\n", header: str = "id,name,plan") -> None:
    """Rows as CSV lines; a row of one cell is written as is (a raw line: blank, or malformed)."""
    lines = [header, *(",".join(row) for row in rows)]
    (project / "rows.csv").write_bytes((newline.join(lines) + newline).encode())


def built_30(project: Path, rendered: list[str], newline: str = "\n", rows: Rows = MANY) -> None:
    write_csv(project, rows, newline)
    assert build(project, rendered)[1] == sum(1 for row in rows if len(row) == 3)
    assert next((project / ".vidbuild" / "last-build").glob("*.layout"))


def as_state_decides(project: Path) -> None:
    assert test_last_build.manifests(project) == test_last_build.as_decided_from_state(project)


def test_an_edited_row_is_the_only_one_read_in_full(
        project: Path, rendered: list[str], made: list[int], asked: list[str | None],
        stretched: list[int], looked_up: list[int]) -> None:
    built_30(project, rendered)
    write_csv(project, [*MANY[:14], ("r15", "Edited", "pro"), *MANY[15:]])
    made.clear()
    looked_up.clear()
    assert build(project, rendered) == (["r15"], 1)
    assert made == [14]
    assert len(asked) == 1                  # the edited row's fingerprint, nothing else
    assert stretched == [14, 15]            # the head and the tail, taken by place
    assert sum(looked_up) == 1
    as_state_decides(project)


EDITS: dict[str, tuple[Rows, list[str], int, list[int]]] = {
    # name: (the new rows, the keys rendered, the videos sent, the rows of each stretch)
    "first row": ([("r1", "Edited", "basic"), *MANY[1:]], ["r1"], 1, [29]),
    "last row": ([*MANY[:29], ("r30", "Edited", "pro")], ["r30"], 1, [29]),
    "a row inserted": ([*MANY[:7], ("r0", "New", "pro"), *MANY[7:]], ["r0"], 1, [7, 23]),
    "a row deleted": ([*MANY[:7], *MANY[8:]], [], 0, [7, 22]),
    "a row appended": ([*MANY, ("r31", "New", "pro")], ["r31"], 1, [30]),
    "two rows swapped": ([*MANY[:5], MANY[6], MANY[5], *MANY[7:]], [], 0, [5, 23]),
    "blank lines between rows": ([*MANY[:5], ("",), (",,",), *MANY[5:]], [], 0, [5, 25]),
    "two edits far apart": ([("r1", "A", "pro"), *MANY[1:28], ("r29", "B", "pro"), MANY[29]],
                            ["r1", "r29"], 2, [1]),
}


@pytest.mark.parametrize("name", EDITS)
def test_edits_keep_every_row_in_its_place_and_the_next_build_takes_them_again(
        project: Path, rendered: list[str], made: list[int], stretched: list[int], name: str) -> None:
    rows, keys, videos, stretches = EDITS[name]
    built_30(project, rendered)
    write_csv(project, rows)
    stretched.clear()
    assert build(project, rendered) == (keys, videos)
    assert stretched == stretches
    as_state_decides(project)
    # The layout this build kept (its stretches copied, not read) serves the next one.
    at = next(index for index, row in enumerate(rows) if len(row) == 3 and index > 10)
    write_csv(project, [*rows[:at], (rows[at][0], "Again", "pro"), *rows[at + 1:]])
    made.clear()
    assert build(project, rendered) == ([rows[at][0]], 1)
    assert made == [at - sum(1 for row in rows[:at] if len(row) != 3)]
    as_state_decides(project)


def test_a_quoted_cell_that_swallows_the_next_line_ends_where_the_tail_starts(
        project: Path, rendered: list[str], made: list[int], stretched: list[int]) -> None:
    built_30(project, rendered)
    # Rows r11 and r12 become one record: r11's name cell now holds a line break and r12's line.
    write_csv(project, [*MANY[:10], ('r11,"Name11,basic',), ('r12,Name12",pro',), *MANY[12:]])
    made.clear()
    assert build(project, rendered) == (["r11"], 1)
    assert made == [10]
    assert stretched == [10, 18]            # the tail starts at r13, where the record ends
    as_state_decides(project)


def test_a_quote_left_open_into_the_tail_is_still_a_malformed_file(
        project: Path, rendered: list[str]) -> None:
    built_30(project, rendered)
    write_csv(project, [*MANY[:10], ('r11,"Name11,basic',), *MANY[11:]])
    err = io.StringIO()
    with pytest.raises(ProjectError, match=r"rows\.csv:.*malformed CSV"):
        commands.build(str(project), stderr=err)
    assert "built" not in err.getvalue()


def test_a_touched_output_in_a_stretch_is_decided_in_full(
        project: Path, rendered: list[str], made: list[int]) -> None:
    built_30(project, rendered)
    output = project / "out" / "r3.mp4"
    output.write_bytes(output.read_bytes())   # same bytes, a new mtime
    write_csv(project, [*MANY[:20], ("r21", "Edited", "pro"), *MANY[21:]])
    made.clear()
    keys, videos = build(project, rendered)
    assert (sorted(keys), videos) == (["r21", "r3"], 1)   # r3 checked against state, not sent again
    assert made == [2, 20]
    as_state_decides(project)


def test_a_removed_thumbnail_in_a_stretch_is_decided_in_full(
        project: Path, rendered: list[str], made: list[int], stretched: list[int]) -> None:
    spec = project / "vidbuild.yaml"
    spec.write_text(spec.read_text(encoding="utf-8") + 'thumbnail: "thumbs/{{ key }}.jpg"\n',
                    encoding="utf-8")
    built_30(project, rendered)
    (project / "thumbs" / "r25.jpg").unlink()
    write_csv(project, [*MANY[:9], ("r10", "Edited", "pro"), *MANY[10:]])
    made.clear()
    keys, videos = build(project, rendered)
    assert (sorted(keys), videos) == (["r10", "r25"], 2)   # r25 downloaded again, not sent
    assert made == [9, 24] and stretched == [9, 20]
    assert (project / "thumbs" / "r25.jpg").is_file()
    as_state_decides(project)


def test_a_template_edit_takes_no_row_by_place(
        project: Path, rendered: list[str], stretched: list[int]) -> None:
    built_30(project, rendered)
    template = project / "templates" / "pro.j2"
    template.write_text("Your pro plan, {{ row.name }}!", encoding="utf-8")
    keys, _ = build(project, rendered)
    assert keys == [key for key, _, _ in MANY]
    assert stretched == []


def test_a_changed_header_takes_no_row_by_place(
        project: Path, rendered: list[str], stretched: list[int]) -> None:
    built_30(project, rendered)
    lines = (project / "rows.csv").read_text(encoding="utf-8").splitlines()
    lines[0] = "id,name,plan,extra"
    lines[1:] = [f"{line}," for line in lines[1:]]
    (project / "rows.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    keys, videos = build(project, rendered)
    assert len(keys) == 30 and videos == 0
    assert stretched == []


def test_a_layout_changed_since_it_was_written_is_not_used(
        project: Path, rendered: list[str], stretched: list[int], made: list[int]) -> None:
    built_30(project, rendered)
    layout = next((project / ".vidbuild" / "last-build").glob("*.layout"))
    data = bytearray(layout.read_bytes())
    data[data.index(b"\n") + 1] ^= 1          # one bit of the first row's first line
    layout.write_bytes(bytes(data))
    write_csv(project, [*MANY[:14], ("r15", "Edited", "pro"), *MANY[15:]])
    made.clear()
    assert build(project, rendered) == (["r15"], 1)
    assert stretched == [] and made == [14]   # every row taken as it was read instead
    as_state_decides(project)


@pytest.mark.parametrize("changes, blamed, first", [
    # An edited row takes the key of a row in the head.
    ({20: ("r3", "Abe", "pro")}, 22, 4),
    # An edited row takes the key of a row in the tail, which is blamed (the later one).
    ({5: ("r20", "Abe", "pro")}, 21, 7),
])
def test_a_duplicate_with_a_row_taken_by_place_is_blamed_where_plan_blames_it(
        project: Path, rendered: list[str], changes: dict[int, tuple[str, str, str]],
        blamed: int, first: int) -> None:
    built_30(project, rendered)
    write_csv(project, [changes.get(at, row) for at, row in enumerate(MANY)])
    blamed_as_plan_blames(project, blamed, first)


def test_crlf_lines_and_empty_rows_are_counted_as_plan_counts_them(
        project: Path, rendered: list[str], made: list[int], stretched: list[int]) -> None:
    rows: Rows = [*MANY[:3], (",,",), *MANY[3:25], ("",), *MANY[25:], (",,",)]
    built_30(project, rendered, "\r\n", rows)
    edited = [*rows[:12], ("r12", "Edited", "pro"), *rows[13:]]
    write_csv(project, edited, "\r\n")
    err = io.StringIO()
    assert commands.build(str(project), stderr=err) == 0
    assert "1 built" in err.getvalue() and "3 empty rows skipped" in err.getvalue()
    assert stretched == [11, 18]
    out = io.StringIO()
    commands.plan(str(project), stdout=out)
    assert "3 empty rows skipped" in out.getvalue() + err.getvalue()
    as_state_decides(project)


def test_the_layout_is_its_owners_alone_and_goes_when_the_data_is_no_longer_csv(
        project: Path, rendered: list[str]) -> None:
    built_30(project, rendered)
    layout = next((project / ".vidbuild" / "last-build").glob("*.layout"))
    assert layout.stat().st_mode & 0o777 == 0o600     # it copies the data file
    lines = (json.dumps(dict(zip(("id", "name", "plan"), row, strict=True))) for row in MANY)
    (project / "rows.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = project / "vidbuild.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("rows.csv", "rows.jsonl"), encoding="utf-8")
    build(project, rendered)
    assert list((project / ".vidbuild" / "last-build").glob("*.rows"))
    assert not layout.exists()


def test_a_layout_round_trips_and_refuses_another_token(tmp_path: Path) -> None:
    layout = DataLayout(["h\n", "a\r\n", "\n", "b"], 2)
    layout.starts.extend([2, 4])
    layout.ends.extend([3, 5])
    layout.empties.extend([0, 1])
    layout.empty = 1
    path = tmp_path / "x.layout"
    layout.write(path, "t0")
    again = DataLayout.read(path, "t0")
    assert again is not None
    columns = [list(again.starts), list(again.ends), list(again.empties)]
    assert (again.lines, again.first, columns, again.empty) == (layout.lines, 2, [[2, 4], [3, 5], [0, 1]], 1)
    assert DataLayout.read(path, "t1") is None
    path.write_bytes(path.read_bytes()[:-1])
    assert DataLayout.read(path, "t0") is None


@pytest.mark.parametrize("old, new, head, tail", [
    (list("abcdef"), list("abcdef"), 6, 0),
    (list("abcdef"), list("abXdef"), 2, 3),
    (list("abcdef"), list("abcdefg"), 6, 0),
    (list("abcdef"), list("Zabcdef"), 0, 6),
    (list("aaaa"), list("aaaaa"), 4, 0),      # the tail never overlaps the head
    ([str(n) for n in range(1000)], [*map(str, range(600)), "x", *map(str, range(601, 1000))], 600, 399),
])
def test_common_head_and_tail(old: list[str], new: list[str], head: int, tail: int) -> None:
    found = common_head(old, new)
    assert (found, common_tail(old, new, min(len(old), len(new)) - found)) == (head, tail)
