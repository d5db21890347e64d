"""Off the heap: each row's key, hash and output kept on a temporary file, not in memory.

A build reads its rows twice: a first pass validates every row before anything is sent, and a
second pass, expanding them again, hands them to the engine. The first pass leaves behind this
index (a few dozen bytes a row, on disk past a megabyte), so neither the second pass, the
manifest nor the snapshot of a complete build needs the bodies of 100,000 rows at once. The
second pass is checked against the index row by row, before the row can be sent: expansion is
deterministic, so a difference means the inputs changed during the build.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, Self

from vidbuild.errors import InputsChangedError

if TYPE_CHECKING:
    from vidbuild.spec.expand import Job

IN_MEMORY_UP_TO = 1 << 20   # bytes a spool keeps in memory before it moves to a temporary file


class Spool:
    """An append-then-read sequence of lines (or small JSON values) on a temporary file."""

    def __init__(self) -> None:
        # Binary: a text-mode spool asks its (slow) text layer for the position on every write.
        self._file = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_UP_TO, mode="w+b")
        self.count = 0

    def add_line(self, line: str) -> None:
        """Append ``line``, which must not contain a newline."""
        self._file.write(line.encode("utf-8", "surrogateescape") + b"\n")
        self.count += 1

    def lines(self) -> Iterator[str]:
        self._file.seek(0)
        for line in self._file:
            yield line[:-1].decode("utf-8", "surrogateescape")
        self._file.seek(0, 2)   # appending goes on at the end

    def add(self, value: Any) -> None:
        self.add_line(json.dumps(value))

    def __iter__(self) -> Iterator[Any]:
        for line in self.lines():
            yield json.loads(line)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class IndexEntry(NamedTuple):
    key: str
    hash: str
    output: str


class RowIndex(Spool):
    """Every row's (key, hash, output) in data order, and the widest key (for aligned columns)."""

    def __init__(self) -> None:
        super().__init__()
        self.key_width = 0

    def add_job(self, job: Job) -> None:
        self.add([job.key, job.hash, job.output])
        self.key_width = max(self.key_width, len(job.key))

    def entries(self) -> Iterator[IndexEntry]:
        for key, content_hash, output in self:
            yield IndexEntry(key, content_hash, output)


def indexed(jobs: Iterable[Job], index: RowIndex) -> Iterator[Job]:
    """Pass ``jobs`` through, adding each to ``index`` (the first pass)."""
    for job in jobs:
        index.add_job(job)
        yield job


def same_as_indexed(jobs: Iterable[Job], index: RowIndex) -> Iterator[Job]:
    """Pass ``jobs`` through (the second pass), each only once it has been found to be the row
    the first pass saw in that place; else raise InputsChangedError before it can be sent."""
    expected = index.entries()
    for position, job in enumerate(jobs, start=1):
        entry = next(expected, None)
        if entry != (job.key, job.hash, job.output):
            was = f"row {entry.key} (hash {entry.hash[:12]}, output {entry.output})" if entry else "no row"
            raise InputsChangedError(
                f"the project's inputs changed during the build: row {position} was {was} when "
                f"validated, and is now row {job.key} (hash {job.hash[:12]}, output {job.output}); "
                f"run vidbuild build again")
        yield job
    missing = sum(1 for _ in expected)
    if missing:
        raise InputsChangedError(f"the project's inputs changed during the build: {missing} of the "
                                 f"{index.count} rows validated are gone; run vidbuild build again")
