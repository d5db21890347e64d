"""Where each row of a CSV or TSV data file lies, line by line, as the reader found it.

A complete build keeps its data file's layout beside its last rows (planner/last_build.py), so that
the next build can find the stretches of lines at the start and at the end of the file that are as
that build read them (``common_head``, ``common_tail``), and take their rows by their place,
without parsing or fingerprinting them (planner/stretches.py).

The file (spec/sealed_file.py): a header line (``MAGIC``, the token of the last rows' file it
belongs to, the byte order, the row count, the line after the header, the count of empty records
and the sha256 of what follows), then three columns of native 64-bit integers (each row's first
line, the line after its last, and the empty records before it), then the file's text in UTF-8.
"""

from __future__ import annotations

import io
from array import array
from pathlib import Path
from typing import Protocol

from vidbuild.spec.sealed_file import read_sealed, write_sealed

MAGIC = b"vidbuild data layout 1"
COMPARED = 256   # lines compared at once while looking for the first that differs


class DataLayout:
    """A CSV or TSV file's ``lines`` as the reader split them (universal newlines, each with its
    ending, as ``csv`` reads them), ``first`` (the 1-based line its first record starts on, after
    the header), and per row, in data order (empty records are not rows): ``starts`` (the 1-based
    line it starts on), ``ends`` (the line after its last: a quoted cell may hold line breaks) and
    ``empties`` (the empty records before it); ``empty`` (the empty records in all) is set by
    whoever finishes reading the file."""

    def __init__(self, lines: list[str], first: int, starts: array[int] | None = None,
                 ends: array[int] | None = None, empties: array[int] | None = None, empty: int = 0) -> None:
        self.lines = lines
        self.first = first
        self.starts = starts if starts is not None else array("q")
        self.ends = ends if ends is not None else array("q")
        self.empties = empties if empties is not None else array("q")
        self.empty = empty

    def __len__(self) -> int:
        return len(self.starts)

    def write(self, path: Path, token: str) -> None:
        """Write the layout to ``path`` (a temporary file renamed over it), marked as belonging
        to the last rows' file with ``token``. OSError if it can't be written; ValueError if the
        columns disagree."""
        count = len(self)
        if len(self.ends) != count or len(self.empties) != count:
            raise ValueError(f"data layout: {count} starts, {len(self.ends)} ends, "
                             f"{len(self.empties)} empties")
        body = b"".join((self.starts.tobytes(), self.ends.tobytes(), self.empties.tobytes(),
                         "".join(self.lines).encode("utf-8", "surrogatepass")))
        write_sealed(path, MAGIC, token, [count, self.first, self.empty], body)

    @classmethod
    def read(cls, path: Path, token: str) -> DataLayout | None:
        """The layout ``path`` holds, if it is whole and belongs to the last rows with ``token``;
        else None (no file, another build's, a cut or altered one)."""
        sealed = read_sealed(path, MAGIC, token, 3)
        if sealed is None:
            return None
        (count, first, empty), body = sealed
        columns = [array("q") for _ in range(3)]
        width = count * columns[0].itemsize
        try:
            for at, column in enumerate(columns):
                column.frombytes(body[at * width:(at + 1) * width])
            text = body[3 * width:].decode("utf-8", "surrogatepass")
        except ValueError:
            return None
        if any(len(column) != count for column in columns):
            return None
        starts, ends, empties = columns
        return cls(io.StringIO(text, newline="").readlines(), first, starts, ends, empties, empty)


def common_head(old: list[str], new: list[str]) -> int:
    """How many lines ``old`` and ``new`` have in common at their start (compared a slice at a
    time: a 100,000-line file costs a few hundred comparisons of slices, not a Python loop)."""
    limit = min(len(old), len(new))
    at = 0
    while at < limit:
        end = min(at + COMPARED, limit)
        if old[at:end] != new[at:end]:
            while old[at] == new[at]:
                at += 1
            return at
        at = end
    return limit


def common_tail(old: list[str], new: list[str], limit: int) -> int:
    """How many lines, at most ``limit``, ``old`` and ``new`` have in common at their end."""
    at = 0
    while at < limit:
        count = min(at + COMPARED, limit) - at
        if old[len(old) - at - count:len(old) - at] != new[len(new) - at - count:len(new) - at]:
            while old[len(old) - at - 1] == new[len(new) - at - 1]:
                at += 1
            return at
        at += count
    return limit


class Stretches(Protocol):
    """The planner's answer (planner/stretches.py) to a CSV or TSV reader: which rows at the start
    and at the end of the file are as the last complete build read them, and taking them."""

    head: int   # the rows at the start of the data as the last build had them (its rows 0 to head - 1)

    def take_head(self) -> tuple[list[int], int]:
        """Take the head's rows (positions 0 to ``head`` - 1) and add them to the file's layout:
        the positions of those that can't be taken (their files changed: the reader makes them
        ``Row`` objects) and the empty records before the last of them."""
        ...

    def tail_from(self, line: int) -> tuple[int, int]:
        """The first line at or after ``line`` where a stretch as the last build read it runs to
        the end of the file, and the last build's row that starts there; (``sys.maxsize``, -1) if
        none does."""
        ...

    def take_tail(self, position: int, number: int, empties: int) -> tuple[list[int], int]:
        """Take the last build's rows ``number`` to its last, at ``position`` on in this file's
        data, ``empties`` empty records before them, and add them to the layout: the positions of
        those that can't be taken and the empty records in the whole file."""
        ...
