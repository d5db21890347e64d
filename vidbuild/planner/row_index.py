"""Off the heap: each row's key, hash and output kept on a temporary file, not in memory.

A build reads its rows once: that pass validates every row and decides its step before anything
is sent, and leaves behind this index (a few dozen bytes a row, on disk past a megabyte) and, for
the rows with work to do, their Jobs in a ``JobSpool``. The engine then takes its rows in index
order (rows settled when planned as ``settled_job``, body-less, the others from the spool), so
neither it, the manifest nor the snapshot of a complete build needs the bodies of 100,000 rows at
once, and nothing sent can differ from what was validated. A build that selects every row hands
the rows found unchanged straight to the index (``settle``), past planning: they are kept apart,
with what the engine and the manifest need of them, and merged back in data order when read.
Whether the inputs changed while they were read is told by their files' stats (see
commands/build.py), not by expanding them again.
"""

from __future__ import annotations

import json
import posixpath
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Self

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


class KnownSpool:
    """The ``known`` of the rows found unchanged, in order: (size, mtime_ns, JSON text, CSV line)
    each, the two texts kept as raw UTF-8 behind a header line of lengths (as JSON, ~1.7 KB of
    text a row was escaped on the way in and unescaped on the way out)."""

    def __init__(self) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_UP_TO, mode="w+b")

    def add(self, known: Sequence[Any]) -> None:
        size, mtime_ns, text, line = known
        text_bytes = text.encode("utf-8", "surrogatepass")
        line_bytes = line.encode("utf-8", "surrogatepass")
        self._file.write(b"%d %d %d %d\n" % (size, mtime_ns, len(text_bytes), len(line_bytes))
                         + text_bytes + line_bytes)

    def __iter__(self) -> Iterator[list[Any]]:
        read, read_line = self._file.read, self._file.readline
        self._file.seek(0)
        while header := read_line():
            size, mtime_ns, text_length, line_length = map(int, header.split())
            yield [size, mtime_ns, read(text_length).decode("utf-8", "surrogatepass"),
                   read(line_length).decode("utf-8", "surrogatepass")]
        self._file.seek(0, 2)   # appending goes on at the end

    def close(self) -> None:
        self._file.close()


class SettledSpool:
    """The rows settled straight into the index (``RowIndex.settle``), in data order: per row a
    header line (its position in the data, its output's size and mtime in ns, and three lengths),
    then three raw UTF-8 texts: its key, hash, output, thumbnail, fingerprint and route joined by
    NULs (none can hold one: keys are plain, paths with a NUL are refused; "" for no thumbnail),
    and its manifest entry's JSON text and CSV line."""

    def __init__(self) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_UP_TO, mode="w+b")
        self.count = 0

    def add(self, position: int, job: Job, known: Sequence[Any]) -> None:
        size, mtime_ns, text, line = known
        names = "\0".join((job.key, job.hash, job.output, job.thumbnail or "", job.fingerprint or "",
                           job.generation, job.route_reason)).encode("utf-8", "surrogatepass")
        text_bytes = text.encode("utf-8", "surrogatepass")
        line_bytes = line.encode("utf-8", "surrogatepass")
        self._file.write(b"%d %d %d %d %d %d\n" % (position, size, mtime_ns, len(names), len(text_bytes),
                                                    len(line_bytes)) + names + text_bytes + line_bytes)
        self.count += 1

    def entries(self, *, known: bool = True) -> Iterator[tuple[int, IndexEntry]]:
        """(position, entry) per row: the entry reused and settled, its ``known`` the output's
        size and mtime and its manifest entry's JSON text and CSV line (None if not ``known``)."""
        read, read_line = self._file.read, self._file.readline
        self._file.seek(0)
        while header := read_line():
            position, size, mtime_ns, names_length, text_length, line_length = map(int, header.split())
            data = read(names_length + text_length + line_length)
            key, content_hash, output, thumbnail, fingerprint, generation, reason = \
                data[:names_length].decode("utf-8", "surrogatepass").split("\0")
            kept = None
            if known:
                end = names_length + text_length
                kept = [size, mtime_ns, data[names_length:end].decode("utf-8", "surrogatepass"),
                        data[end:].decode("utf-8", "surrogatepass")]
            yield position, IndexEntry(key, content_hash, output, fingerprint or None, True, True, generation,
                                       reason, thumbnail or None, None, kept)
        self._file.seek(0, 2)   # appending goes on at the end

    def close(self) -> None:
        self._file.close()


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
        self.directories: set[str] = set()
        self._fresh = Spool()   # the entries of the rows not known unchanged, which a build remembers
        self._known = KnownSpool()   # the ``known`` of the entries that have one, in order (see entries)
        self._settled = SettledSpool()   # the rows settled past planning (see settle)

    @property
    def settled_count(self) -> int:
        """How many rows were settled past planning (``settle``)."""
        return self._settled.count

    def add_job(self, job: Job, *, settled: bool = False) -> None:
        known = getattr(job, "known", None)   # planner/fingerprint.py's KnownJob
        line = json.dumps([job.row.index, job.key, job.hash, job.output, job.fingerprint, job.unchanged,
                           settled, job.generation, job.route_reason, job.thumbnail,
                           dict(job.columns) or None, known is not None])
        self.add_line(line)
        if known is not None:
            self._known.add(known)
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
        self._settled.add(job.row.index, job, known)
        self._note(job)
        return True

    def _note(self, job: Job) -> None:
        self.key_width = max(self.key_width, len(job.key))
        self.directories.add(posixpath.dirname(job.output) or ".")

    def entries(self, *, known: bool = True) -> Iterator[IndexEntry]:
        """Every entry in data order; ``known=False`` leaves each ``known`` None: it is what only
        the manifest needs (the entries of rows found unchanged, most of the index's bytes), kept
        apart so the engine's pass doesn't read it."""
        kept = iter(self._known) if known else None
        settled = self._settled.entries(known=known) if self._settled.count else iter(())
        waiting = next(settled, None)
        for fields in self:
            while waiting is not None and waiting[0] < fields[0]:   # merged by position in the data
                yield waiting[1]
                waiting = next(settled, None)
            fields[-1] = next(kept) if fields[-1] and kept is not None else None
            yield IndexEntry(*fields[1:])
        while waiting is not None:
            yield waiting[1]
            waiting = next(settled, None)

    def fresh_entries(self) -> Iterator[IndexEntry]:
        """The entries with a fingerprint that were not known unchanged, in data order (an edited
        row's build reads one entry here, not the whole index)."""
        for fields in self._fresh:
            fields[-1] = None   # a fresh row has no known entry
            yield IndexEntry(*fields[1:])

    def close(self) -> None:
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


def settled_job(entry: IndexEntry, position: int, kind: str) -> Job:
    """The body-less Job of a row that was settled when planned (``position``: its place in the
    data), marked ``unchanged``."""
    from vidbuild.spec.expand import Job
    from vidbuild.spec.rows import Row

    return Job(key=entry.key, kind=kind, body={}, hash=entry.hash, output=entry.output, scenes=(),
               row=Row(position, {}, "", 0), generation="v3" if entry.generation == "v3" else "legacy",
               route_reason=entry.route_reason, fingerprint=entry.fingerprint, unchanged=True,
               thumbnail=entry.thumbnail)


def indexed(jobs: Iterable[Job], index: RowIndex) -> Iterator[Job]:
    """Pass ``jobs`` through, adding each to ``index``."""
    for job in jobs:
        index.add_job(job)
        yield job
