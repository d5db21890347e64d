"""Rows taken from the last complete build as they are read: the fast lane of a build of every row.

A CSV or TSV row is fingerprinted (planner/fingerprint.py) as the reader makes its values, before a
``Row`` is made of it (spec/rows.py's ``RowTaker``). One whose fingerprint is a last row's, with its
files as recorded (``LastBuild.take``), is *taken*: only its place is noted (its position in the
data, its last row's number and its line). ``TakenRows.settle`` then admits those rows (key and
paths unique, each directory's paths checked once) and settles them into the index, in data
order, before the next row that was not taken goes on: a duplicate key or output is told at the
same row, with the same words, as when every row was a ``Row`` (``KnownRows.settle_taken``).

A row that is not taken (a changed row, or one whose output was touched) is yielded as a ``Row``
and decided in full, as before. 10,000 rows taken cost a few ms less than as ``Row`` objects
(benchmarks/row_pass.py: least of 31 runs 102-111 ms against 103-123 ms, medians 123-152 against
151-202): a row's fingerprint and its output's ``lstat``, which both pay, are most of its cost.
The rows of the file's unchanged stretches skip the fingerprint too: they are taken by their place
(``stretches``, planner/stretches.py), and settled a batch at a time when no key or path clashes.
"""

from __future__ import annotations

import bisect
import hashlib
from array import array
from collections.abc import Callable

from vidbuild.planner.last_rows import KEY, OUTPUT, TEXTS, THUMBNAIL
from vidbuild.planner.row_index import RowIndex
from vidbuild.spec.data_layout import DataLayout, Stretches
from vidbuild.spec.diagnostics import DiagnosticSink
from vidbuild.spec.reuse import Expanding
from vidbuild.spec.rows import Row

ONE_BY_ONE = 16   # taken rows settled one at a time before the others of a batch go at once


class TakenRows:
    """The rows of one pass taken from ``index.last`` (a LastBuild) as they were read, or by their
    place in the file (``stretches``): spec/rows.py's ``RowTaker``.

    ``project``: the project fingerprint; ``display``: the data file as its rows show it;
    ``checked``: the output directories whose paths were checked (shared with the rows decided
    as ``Row`` objects, for one check per directory in all).
    """

    def __init__(self, project: str, index: RowIndex, display: str, checked: set[str]) -> None:
        assert index.last is not None
        self.project = project
        self.index = index
        self.display = display
        self.checked = checked
        self.positions = array("q")   # per taken row not settled yet: its position in the data
        self.numbers = array("q")     # its last row's number
        self.lines = array("q")       # the line it starts on
        self.done = 0                 # how many of them are settled
        # The fingerprint of each row tried and not taken, by position, until its page takes it
        # (``tried``): it is not made, nor the last rows asked, twice.
        self._tried: dict[int, str] = {}
        self.take = self._taker()

    def stretches(self, layout: DataLayout,
                  values_at: Callable[[int, int], dict[str, str]]) -> Stretches | None:
        """The reader's other hook: the stretches of the file as the last build read it (see
        planner/stretches.py), whose rows are taken by their place; None if there are none."""
        from vidbuild.planner.stretches import find_stretches

        assert self.index.last is not None
        return find_stretches(self, self.index.last, layout, values_at)

    def _taker(self) -> Callable[[int, dict[str, str], int], bool]:
        """The reader's hook: fingerprint a row's values, take it if the last build had it as is."""
        project, sha256 = self.project, hashlib.sha256
        assert self.index.last is not None
        take = self.index.last.take
        positions, numbers, lines = self.positions.append, self.numbers.append, self.lines.append
        tried = self._tried

        def taken(position: int, values: dict[str, str], line: int) -> bool:
            # spec/hashing.py's row_fingerprint, inline: 100,000 rows a build
            fingerprint = sha256(f"{project}\0{values!r}".encode("utf-8", "surrogatepass")).hexdigest()
            number = take(fingerprint)
            if number is None:
                tried[position] = fingerprint
                return False
            positions(position)
            numbers(number)
            lines(line)
            return True

        return taken

    def tried(self, position: int) -> str | None:
        """The fingerprint of the row at ``position`` if it was tried and not taken (then the last
        rows need not be asked again), once; else None."""
        return self._tried.pop(position, None)

    def settle(self, expander: Expanding, sink: DiagnosticSink, before: int | None = None) -> None:
        """Admit and settle, in data order, the taken rows at positions before ``before`` (None:
        all of them). A row that can't be admitted (its problem in ``sink``) is not settled."""
        if self.done == len(self.positions):
            return
        end = len(self.positions) if before is None else bisect.bisect_left(self.positions, before, self.done)
        # The first rows one at a time (each directory's first path is checked in full), then
        # the others at once, if their directories were checked and none of their keys or paths
        # clashes: 10,000 rows of an unchanged stretch cost a few ms, not ~30.
        start = min(end, self.done + ONE_BY_ONE)
        self._settle_each(expander, sink, self.done, start)
        if start < end and not self._settle_at_once(expander, start, end):
            self._settle_each(expander, sink, start, end)
        self.done = end

    def _settle_at_once(self, expander: Expanding, start: int, end: int) -> bool:
        """Admit and settle the taken rows ``start`` to ``end`` - 1 at once (``admit_known_many``),
        if their directories were all checked; False, nothing done, if not."""
        assert self.index.last is not None
        texts, numbers = self.index.last.rows.texts, self.numbers[start:end]
        keys = [texts[number * TEXTS + KEY] for number in numbers]
        outputs = [texts[number * TEXTS + OUTPUT] for number in numbers]
        thumbnails = [texts[number * TEXTS + THUMBNAIL] for number in numbers]
        directories = {output.rpartition("/")[0] for output in outputs}
        thumbnail_directories = {thumbnail.rpartition("/")[0] for thumbnail in thumbnails if thumbnail}
        if not (directories <= self.checked and thumbnail_directories <= self.checked):
            return False
        positions, lines = self.positions[start:end], self.lines[start:end]
        if not expander.admit_known_many(positions, self.display, lines, keys, outputs, thumbnails):
            return False
        width = max(map(len, keys))
        self.index.settle_last_many(positions, numbers, width, directories, thumbnail_directories)
        return True

    def _settle_each(self, expander: Expanding, sink: DiagnosticSink, start: int, end: int) -> None:
        """Admit and settle the taken rows ``start`` to ``end`` - 1 one at a time (``admit_taken``)."""
        positions, numbers, lines = self.positions, self.numbers, self.lines
        last, display, checked = self.index.last, self.display, self.checked
        assert last is not None
        texts = last.rows.texts
        settled, settled_numbers, width = array("q"), array("q"), 0
        directories: set[str] = set()
        thumbnail_directories: set[str] = set()
        for at in range(start, end):
            position, number = positions[at], numbers[at]
            key, output, thumbnail = (texts[number * TEXTS + KEY], texts[number * TEXTS + OUTPUT],
                                      texts[number * TEXTS + THUMBNAIL] or None)
            if not admit_taken(expander, checked, position, display, lines[at], key, output, thumbnail, sink):
                continue
            settled.append(position)
            settled_numbers.append(number)
            directories.add(output.rpartition("/")[0])
            if thumbnail is not None:
                thumbnail_directories.add(thumbnail.rpartition("/")[0])
            if len(key) > width:
                width = len(key)
        self.index.settle_last_many(settled, settled_numbers, width, directories, thumbnail_directories)


def admit_taken(expander: Expanding, checked: set[str], position: int, file: str, line: int, key: str,
                output: str, thumbnail: str | None, sink: DiagnosticSink) -> bool:
    """Admit a row taken from the last complete build, given by its place (``position``, ``file``,
    ``line``) and its last row's names: key and paths unique, and each directory's paths checked
    once (``checked``: the names are the last build's, from the same project and code, and the
    project's protected files are the same). False, its problem in ``sink``, if it can't be."""
    directory = output.rpartition("/")[0]
    if directory in checked and (thumbnail is None or thumbnail.rpartition("/")[0] in checked):
        return expander.admit_known(position, file, line, key, output, thumbnail, sink)
    if not expander.admit(Row(position, {}, file, line), key, output, sink, thumbnail):
        return False
    checked.update((directory, (thumbnail or output).rpartition("/")[0]))
    expander.directories.add(output)   # a directory not seen before: the manifest's may move
    return True
