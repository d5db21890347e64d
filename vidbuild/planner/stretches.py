"""The stretches of a CSV or TSV data file that are line for line as the last complete build read
them: a build of every row takes their rows by their place, without parsing or fingerprinting them.

A complete build keeps its data file's layout (spec/data_layout.py) beside its last rows. The next
build of every row compares the file's lines with it: the lines they share at the start (after an
identical header) and at the end hold the same records (csv parses a record from its own lines,
starting where the one before ended), so each of those rows has the values it had, and with the
same project fingerprint, the fingerprint of its last row. That one fingerprint is checked, on one
row: the project's templates, settings and vidbuild are as they were. The rows are then taken as
``LastBuild.take`` takes a row (its output and thumbnail still the files recorded), in bulk: the
head's before the reader parses the rest, the tail's once the reader's records end where a tail
row starts (an edit that opens a quoted cell shifts where records end: then the reader goes on).
A changed row costs a parse and a fingerprint, as in planner/taken_rows.py; an unchanged one its
``lstat`` and its admission.
"""

from __future__ import annotations

import bisect
import csv
import sys
from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from vidbuild.planner.last_rows import FINGERPRINT, TEXTS
from vidbuild.spec.data_layout import DataLayout, common_head, common_tail
from vidbuild.spec.hashing import row_fingerprint

if TYPE_CHECKING:
    from vidbuild.planner.row_index import SettledLast


class Taking(Protocol):
    """What of a pass's TakenRows (planner/taken_rows.py) the stretches use: the project
    fingerprint, and the rows taken so far by position, last row number and line."""

    project: str
    positions: array[int]
    numbers: array[int]
    lines: array[int]


def find_stretches(taken: Taking, last: SettledLast, layout: DataLayout,
                   values_at: Callable[[int, int], dict[str, str]]) -> FileStretches | None:
    """The stretches of the file of ``layout`` (its header read, no row yet) as the last complete
    build (``last``) read it, for ``taken`` (the pass's TakenRows); None without a kept layout, if
    the header or the project fingerprint changed, or if no row lies in such a stretch.
    ``values_at(first, end)`` reads the record on lines ``first`` to ``end`` - 1."""
    old = last.layout()
    if old is None or len(old) != len(last.rows) or old.first != layout.first:
        return None
    same_head = common_head(old.lines, layout.lines)
    if same_head < old.first - 1:   # the header changed: every row's values may have
        return None
    same_tail = common_tail(old.lines, layout.lines, min(len(old.lines), len(layout.lines)) - same_head)
    head = bisect.bisect_right(old.ends, same_head + 1)   # rows whose lines all lie in the head
    tail = bisect.bisect_left(old.starts, len(old.lines) - same_tail + 1, head)   # and in the tail
    shift = len(layout.lines) - len(old.lines)
    if head:
        sample, moved = 0, 0
    elif tail < len(old):
        sample, moved = tail, shift
    else:
        return None
    try:
        values = values_at(old.starts[sample] + moved, old.ends[sample] + moved)
    except (csv.Error, StopIteration):   # not the record it was: never, unless the layout lies
        return None
    if row_fingerprint(taken.project, values) != last.rows.texts[sample * TEXTS + FINGERPRINT]:
        return None   # a template, setting or vidbuild changed: no row is as it was
    return FileStretches(taken, last, old, layout, head, tail, shift)


class FileStretches:
    """spec/data_layout.py's ``Stretches`` for one pass: the last build's rows 0 to ``head`` - 1
    (the head) and those from ``tail`` on whose lines lie in the shared end of the file (the
    tail's candidates: the tail starts at the first of them the reader's records reach), the
    new file having ``shift`` more lines than the old."""

    def __init__(self, taken: Taking, last: SettledLast, old: DataLayout, new: DataLayout,
                 head: int, tail: int, shift: int) -> None:
        self.head = head
        self._taken = taken
        self._last = last
        self._old = old
        self._new = new
        self._tail = tail
        self._shift = shift

    def take_head(self) -> tuple[list[int], int]:
        old, count = self._old, self.head
        self._new.starts.extend(old.starts[:count])
        self._new.ends.extend(old.ends[:count])
        self._new.empties.extend(old.empties[:count])
        return self._take(0, 0, count, old.starts[:count]), old.empties[count - 1]

    def tail_from(self, line: int) -> tuple[int, int]:
        old = self._old
        number = bisect.bisect_left(old.starts, line - self._shift, self._tail)
        if number == len(old):
            return sys.maxsize, -1
        return old.starts[number] + self._shift, number

    def take_tail(self, position: int, number: int, empties: int) -> tuple[list[int], int]:
        old, new, shift = self._old, self._new, self._shift
        starts, ends = old.starts[number:], old.ends[number:]
        if shift:
            starts = array("q", [line + shift for line in starts])
            ends = array("q", [line + shift for line in ends])
        before = empties - old.empties[number]   # more empty records before the tail than it had
        new.starts.extend(starts)
        new.ends.extend(ends)
        counts = old.empties[number:]
        new.empties.extend(counts if not before else [count + before for count in counts])
        new.empty = old.empty + before
        return self._take(position, number, len(old) - number, starts), new.empty

    def _take(self, position: int, number: int, count: int, lines: array[int]) -> list[int]:
        """Take the last rows ``number`` to ``number + count - 1`` as the rows at ``position`` on
        (starting on ``lines``); the positions of those whose files changed, not taken."""
        untaken = self._last.take_stretch(number, count)
        taken = self._taken
        if not untaken:
            taken.positions.extend(range(position, position + count))
            taken.numbers.extend(range(number, number + count))
            taken.lines.extend(lines)
            return []
        skipped = set(untaken)
        kept = [offset for offset in range(count) if offset not in skipped]
        taken.positions.extend(position + offset for offset in kept)
        taken.numbers.extend(number + offset for offset in kept)
        taken.lines.extend(lines[offset] for offset in kept)
        return [position + offset for offset in untaken]
