"""Off the heap: each row's key, hash and output kept on a temporary file, not in memory.

A build reads its rows once: that pass validates every row and decides its step before anything
is sent, and leaves behind this index (a few dozen bytes a row, on disk past a megabyte) and, for
the rows with work to do, their Jobs in a ``JobSpool``. The engine then takes its rows in index
order (rows settled when planned body-less, as ``settled_jobs`` makes them, the others from the
spool), so neither it, the manifest nor the snapshot of a complete build needs the bodies of 100,000 rows at
once, and nothing sent can differ from what was validated. A build that selects every row hands
the rows found unchanged straight to the index (``settle``), past planning: they are kept apart,
with what the engine and the manifest need of them, and merged back in data order when read.
Whether the inputs changed while they were read is told by their files' stats (see
commands/build.py), not by expanding them again.
"""

from __future__ import annotations

import heapq
import json
import posixpath
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple, Protocol, Self

if TYPE_CHECKING:
    from array import array

    from vidbuild.planner.last_rows import LastRows
    from vidbuild.spec.data_layout import DataLayout
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


class FieldSpool:
    """Append-then-read records of ``numbers`` whole numbers and ``texts`` texts, on a temporary file:
    per record a header line (the numbers, then each text's length in UTF-8 bytes) and the texts
    as raw UTF-8 (as JSON, the ~1.7 KB of manifest text a known row carries was escaped on the
    way in and parsed on the way out)."""

    def __init__(self, numbers: int, texts: int) -> None:
        self._numbers = numbers
        self._header = b" ".join([b"%d"] * (numbers + texts)) + b"\n"
        self._file = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_UP_TO, mode="w+b")
        self.count = 0

    def add(self, numbers: Sequence[int], texts: Sequence[str]) -> None:
        """Append a record of ``numbers`` and ``texts`` (as many as this spool was made for)."""
        encoded = [text.encode("utf-8", "surrogatepass") for text in texts]
        self._file.write(self._header % (*numbers, *map(len, encoded)) + b"".join(encoded))
        self.count += 1

    def records(self, texts: int | None = None) -> Iterator[tuple[list[int], list[str]]]:
        """Each record's numbers and texts, in order; with ``texts``, only that many first texts
        are decoded (the others are read past)."""
        read, read_line, numbers = self._file.read, self._file.readline, self._numbers
        self._file.seek(0)
        while header := read_line():
            values = list(map(int, header.split()))
            lengths = values[numbers:]
            data = read(sum(lengths))
            decoded, start = [], 0
            for length in lengths[:texts]:
                decoded.append(data[start:start + length].decode("utf-8", "surrogatepass"))
                start += length
            yield values[:numbers], decoded
        self._file.seek(0, 2)   # appending goes on at the end

    def close(self) -> None:
        self._file.close()


class KnownSpool(FieldSpool):
    """The ``known`` of the rows found unchanged, in order: (size, mtime_ns, JSON text, CSV line)."""

    def __init__(self) -> None:
        super().__init__(2, 2)

    def add_known(self, known: Sequence[Any]) -> None:
        size, mtime_ns, text, line = known
        self.add((size, mtime_ns), (text, line))

    def __iter__(self) -> Iterator[list[Any]]:
        for numbers, texts in self.records():
            yield [*numbers, *texts]


class SettledSpool(FieldSpool):
    """The rows settled straight into the index (``RowIndex.settle``), in data order: per row its
    position in the data and its output's size and mtime (ns); its key, hash, output, thumbnail,
    fingerprint and route joined by NULs (none can hold one: keys are plain, paths with a NUL are
    refused; "" for no thumbnail); and its manifest entry's JSON text and CSV line."""

    def __init__(self) -> None:
        super().__init__(3, 3)

    def add_job(self, job: Job, known: Sequence[Any]) -> None:
        size, mtime_ns, text, line = known
        names = "\0".join((job.key, job.hash, job.output, job.thumbnail or "", job.fingerprint or "",
                           job.generation, job.route_reason))
        self.add((job.row.index, size, mtime_ns), (names, text, line))

    def entries(self, *, known: bool = True) -> Iterator[tuple[int, IndexEntry]]:
        """(position, entry) per row: the entry reused and settled, its ``known`` the output's
        size and mtime and its manifest entry's JSON text and CSV line (None if not ``known``)."""
        for (position, size, mtime_ns), texts in self.records(None if known else 1):
            key, content_hash, output, thumbnail, fingerprint, generation, reason = texts[0].split("\0")
            yield position, IndexEntry(key, content_hash, output, fingerprint or None, True, True, generation,
                                       reason, thumbnail or None, None,
                                       [size, mtime_ns, *texts[1:]] if known else None)


class CopiedRows(NamedTuple):
    """``rows`` rows one after the other from ``position`` in the data, taken unchanged from the
    last complete build, whose rows ``number``, ``number + 1`` ... they are in ``source`` (their
    manifest entries and last rows are copied as one block: see ``RowIndex.listing``)."""

    position: int
    rows: int
    number: int
    source: SettledLast


class SettledLast(Protocol):
    """The last complete build's rows, and those a build took from it (planner/last_build.py's
    LastBuild)."""

    rows: LastRows   # its last rows, as read

    @property
    def settled(self) -> int:
        """How many rows were taken."""
        ...

    def take(self, fingerprint: str | None) -> int | None: ...
    def take_stretch(self, number: int, count: int) -> list[int]: ...
    def layout(self) -> DataLayout | None: ...
    def names(self, number: int) -> tuple[str, str, str | None]: ...
    def settle(self, position: int, number: int) -> None: ...
    def settle_many(self, positions: array[int], numbers: array[int]) -> None: ...
    def entries(self, *, known: bool = True) -> Iterator[tuple[int, IndexEntry]]: ...
    def runs(self) -> Iterator[tuple[int, CopiedRows]]: ...
    def block(self, number: int, count: int) -> tuple[bytes, bytes, array[int]]: ...
    def copy_block(self, number: int, count: int, json_file: BinaryIO, csv_file: BinaryIO,
                   json_at: int = 0, csv_at: int = 0) -> tuple[int, int, array[int]]: ...
    def copy_rows(self, into: LastRows, number: int, count: int) -> None: ...
    def close(self) -> None: ...


class IndexEntry(NamedTuple):
    """One row as planned: ``fingerprint`` (None if not tracked), ``reused`` (known unchanged, not
    rendered), ``settled`` (up to date when planned: its Job was not spooled), its route, and what
    only the manifest needs: its ``thumbnail`` path, chosen ``columns`` (None: none chosen) and,
    for a reused row, what its known row keeps of its record (``Job.known``: state is not read
    again for it)."""

    key: str
    hash: str
    output: str
    fingerprint: str | None = None
    reused: bool = False
    settled: bool = False
    generation: str = "legacy"
    route_reason: str = ""
    thumbnail: str | None = None
    columns: dict[str, Any] | None = None
    known: list[Any] | None = None


class RowIndex(Spool):
    """Every row's entry in data order, the widest key (for aligned columns) and the directories
    the outputs go to (relative POSIX, "." for the project's: the manifest's and the leftovers'
    places, known without reading the index again)."""

    def __init__(self) -> None:
        super().__init__()
        self.key_width = 0
        self.directories: set[str] = set()   # the rows' output directories ("." for the project's)
        # Their thumbnails' directories: a killed build's temporary files are looked for there too.
        self.thumbnail_directories: set[str] = set()
        self._fresh = Spool()   # the entries of the rows not known unchanged, which a build remembers
        self._known = KnownSpool()   # the ``known`` of the entries that have one, in order (see entries)
        self._settled = SettledSpool()   # the rows settled past planning (see settle)
        self.last: SettledLast | None = None   # the last complete build's rows, if in force (settle_last)

    @property
    def settled_count(self) -> int:
        """How many rows were settled past planning (``settle`` and ``settle_last``)."""
        return self._settled.count + (self.last.settled if self.last is not None else 0)

    def add_job(self, job: Job, *, settled: bool = False) -> None:
        known = getattr(job, "known", None)   # planner/fingerprint.py's KnownJob
        line = json.dumps([job.row.index, job.key, job.hash, job.output, job.fingerprint, job.unchanged,
                           settled, job.generation, job.route_reason, job.thumbnail,
                           dict(job.columns) or None, known is not None])
        self.add_line(line)
        if known is not None:
            self._known.add_known(known)
        if job.fingerprint and not job.unchanged:
            self._fresh.add_line(line)
        self._note(job)

    def settle(self, job: Job) -> bool:
        """Index a row found unchanged (``job.unchanged``) as up to date without planning it:
        True, unless its known row lacks its manifest entry (then False: it must be planned).
        Only for a build that selects every row (no --select, --exclude, --shard, --force or
        saved plan): it is listed, reported up to date and counted as such, nothing more."""
        known = getattr(job, "known", None)
        if known is None:
            return False
        self._settled.add_job(job, known)
        self._note(job)
        return True

    def settle_last(self, position: int, number: int, key: str, directory: str,
                    thumbnail_directory: str | None = None) -> None:
        """Index the row at ``position`` (its ``key``; its output's ``directory``, "" for the
        project's; its thumbnail's, None if it has none) as the last complete build's row
        ``number`` (``last``), found unchanged: as ``settle``, with nothing kept here but its place."""
        assert self.last is not None
        self.last.settle(position, number)
        if len(key) > self.key_width:
            self.key_width = len(key)
        self.directories.add(directory or ".")
        if thumbnail_directory is not None:
            self.thumbnail_directories.add(thumbnail_directory or ".")

    def settle_last_many(self, positions: array[int], numbers: array[int], key_width: int,
                         directories: set[str], thumbnail_directories: set[str]) -> None:
        """``settle_last`` for many rows at once: their ``positions`` and last row ``numbers``, the
        length of their longest key, their outputs' ``directories`` and their thumbnails'."""
        assert self.last is not None
        self.last.settle_many(positions, numbers)
        self.key_width = max(self.key_width, key_width)
        self.directories.update(directory or "." for directory in directories)
        self.thumbnail_directories.update(directory or "." for directory in thumbnail_directories)

    def _note(self, job: Job) -> None:
        self.key_width = max(self.key_width, len(job.key))
        self.directories.add(posixpath.dirname(job.output) or ".")
        if job.thumbnail:
            self.thumbnail_directories.add(posixpath.dirname(job.thumbnail) or ".")

    def entries(self, *, known: bool = True) -> Iterator[IndexEntry]:
        """Every entry in data order; ``known=False`` leaves each ``known`` None: it is what only
        the manifest needs (the entries of rows found unchanged, most of the index's bytes), kept
        apart so the engine's pass doesn't read it."""
        for entry in self._merged(known, runs=False):
            assert isinstance(entry, IndexEntry)
            yield entry

    def listing(self) -> Iterator[IndexEntry | CopiedRows]:
        """Every entry in data order, with ``known``, as the manifest lists them: the rows taken
        from the last complete build come a run at a time (``CopiedRows``), as they follow each
        other there and here, for their entries to be copied as one block."""
        return self._merged(True, runs=True)

    def _merged(self, known: bool, runs: bool) -> Iterator[IndexEntry | CopiedRows]:
        streams: list[Iterator[tuple[int, IndexEntry | CopiedRows]]] = [self._planned(known)]
        if self._settled.count:
            streams.append(self._settled.entries(known=known))
        if self.last is not None and self.last.settled:
            streams.append(self.last.runs() if runs else self.last.entries(known=known))
        if len(streams) == 1:
            for _, entry in streams[0]:
                yield entry
            return
        for _, entry in heapq.merge(*streams, key=_position):   # by position in the data
            yield entry

    def _planned(self, known: bool) -> Iterator[tuple[int, IndexEntry]]:
        """(position, entry) of the rows that went through planning, in data order."""
        kept = iter(self._known) if known else None
        for fields in self:
            fields[-1] = next(kept) if fields[-1] and kept is not None else None
            yield fields[0], IndexEntry(*fields[1:])

    def runs(self) -> Iterator[tuple[int, IndexEntry | None]]:
        """The index without reading the rows settled past planning (``settle``): per other
        entry, in data order, how many settled rows come before it (since the entry before),
        and the entry (``known`` None); last, the settled rows after the last entry, and None.
        Rows are settled only in a build of every row, whose entries and settled rows together
        are the positions 0, 1, 2 ... of the data: the gaps between entries are settled rows."""
        last = -1
        for fields in self:
            position = fields[0]
            fields[-1] = None
            yield position - last - 1, IndexEntry(*fields[1:])
            last = position
        yield self.settled_count - (last + 1 - self.count), None

    def fresh_entries(self) -> Iterator[IndexEntry]:
        """The entries with a fingerprint that were not known unchanged, in data order (an edited
        row's build reads one entry here, not the whole index)."""
        for fields in self._fresh:
            fields[-1] = None   # a fresh row has no known entry
            yield IndexEntry(*fields[1:])

    def close(self) -> None:
        if self.last is not None:
            self.last.close()
        self._fresh.close()
        self._known.close()
        self._settled.close()
        super().close()


class JobSpool(Spool):
    """Jobs kept whole (body, row and route) on a temporary file, to be taken back in order."""

    def add_job(self, job: Job) -> None:
        row = job.row
        self.add([job.key, job.kind, job.body, job.hash, job.output, list(job.scenes),
                  [row.index, row.values, row.file, row.line], job.generation, job.route_reason,
                  job.title_marker, job.fingerprint, job.thumbnail, dict(job.columns)])

    def jobs(self) -> Iterator[Job]:
        from vidbuild.spec.expand import Job
        from vidbuild.spec.rows import Row

        for (key, kind, body, content_hash, output, scenes, row, generation, reason, marker,
             fingerprint, thumbnail, columns) in self:
            yield Job(key=key, kind=kind, body=body, hash=content_hash, output=output, scenes=tuple(scenes),
                      row=Row(*row), generation=generation, route_reason=reason, title_marker=marker,
                      fingerprint=fingerprint, thumbnail=thumbnail, columns=columns)


def _position(item: tuple[int, IndexEntry | CopiedRows]) -> int:
    return item[0]


def settled_jobs(kind: str) -> Callable[[IndexEntry, int], Job]:
    """A maker of the body-less Job of a row settled when planned, from its entry and its place
    in the data, marked ``unchanged``. (The classes are imported once here: an import in a
    function costs microseconds a call, seconds over 100,000 rows at a few a row.)"""
    from vidbuild.spec.expand import Job
    from vidbuild.spec.rows import Row

    def settled_job(entry: IndexEntry, position: int) -> Job:
        return Job(key=entry.key, kind=kind, body={}, hash=entry.hash, output=entry.output, scenes=(),
                   row=Row(position, {}, "", 0), generation="v3" if entry.generation == "v3" else "legacy",
                   route_reason=entry.route_reason, fingerprint=entry.fingerprint, unchanged=True,
                   thumbnail=entry.thumbnail)

    return settled_job


def indexed(jobs: Iterable[Job], index: RowIndex) -> Iterator[Job]:
    """Pass ``jobs`` through, adding each to ``index``."""
    for job in jobs:
        index.add_job(job)
        yield job
