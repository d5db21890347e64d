"""The rows of the last complete build, for a build whose data changed in a few rows only.

A complete build (every row downloaded) leaves a snapshot (planner/up_to_date.py) and, with it,
one *last row* per row: its fingerprint (planner/fingerprint.py: the row's values and everything
else that can change its body), key, hash, route, output and thumbnail with their sizes and mtimes,
and where its entry went in the manifest files. When the next build of every row finds a row
whose fingerprint is a last row's, whose files still have their sizes and mtimes, it is that row,
up to date: it is settled without a state lookup, and its manifest entry is copied as bytes from
the manifest the last build wrote (kept open from the start, and read only while it is still that
file as written: a build that replaces it meanwhile can't mix its bytes in, and one written to in
place stops the build's manifest with ManifestChangedError, the old one left as it was). A
snapshot no longer in force (``forget``: any build that sends something forgets it) has no last
rows, and every row is decided as before (known rows, records).
"""

from __future__ import annotations

import errno
import hashlib
import os
from array import array
from collections.abc import Iterator
from pathlib import Path
from stat import S_ISLNK
from typing import BinaryIO

from vidbuild.errors import ManifestChangedError
from vidbuild.planner.last_rows import (
    CSV_AT,
    FINGERPRINT,
    GENERATION,
    HASH,
    JSON_AT,
    JSON_LENGTH,
    KEY,
    MTIME,
    NUMBERS,
    OUTPUT,
    REASON,
    SIZE,
    SPANS,
    TEXTS,
    THUMBNAIL,
    THUMBNAIL_MTIME,
    THUMBNAIL_SIZE,
    LastRows,
    rows_entry,
)
from vidbuild.planner.row_index import CopiedRows, IndexEntry
from vidbuild.spec.data_layout import DataLayout
from vidbuild.spec.project import display_path
from vidbuild.state.protocol import State

# copy_file_range can't copy here (another file system, an old kernel, a file system without
# it): the bytes go through memory instead.
_NO_KERNEL_COPY = frozenset({errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EPERM})
KNOWN_LAST = 4    # IndexEntry.known of a row taken from the last build: (texts, numbers), after the listing


def rows_file(state_dir: Path, namespace: str, root: Path) -> Path:
    """Where a complete build of ``root`` against ``namespace`` keeps its last rows: in the local
    state directory, one file per project and namespace."""
    name = hashlib.sha256(f"{namespace}\0{root}".encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return state_dir / "last-build" / f"{name}.rows"


def layout_file(rows: Path) -> Path:
    """Where the data file's layout (spec/data_layout.py) is kept beside the last rows ``rows``."""
    return rows.with_suffix(".layout")


def last_row(entry: IndexEntry, output: tuple[int, int],
             thumbnail: tuple[int, int]) -> tuple[list[str], list[int]]:
    """A row's last row without its manifest places: its entry's names (texts), its ``output``'s
    and ``thumbnail``'s (size, mtime_ns) ((0, 0) if it has none)."""
    return ([entry.fingerprint or "", entry.key, entry.hash, entry.generation, entry.route_reason,
             entry.output, entry.thumbnail or ""], [*output, *thumbnail])


class LastBuild:
    """The last complete build's rows, looked up by fingerprint (``take``), and the positions in
    this build's data of those taken (``settled``, in data order). Close it (or use ``with``)."""

    def __init__(self, root: Path, rows: LastRows, manifests: list[HeldFile],
                 source: tuple[Path, str] | None = None) -> None:
        self.root = os.path.join(root, "")
        self.rows = rows
        self._source = source   # the last rows' file and its token
        # By fingerprint, made on the first ``take`` (rows taken by their place need none).
        self._numbers: dict[str, int] | None = None
        self._json, self._csv = manifests
        self.positions = array("q")   # per settled row: its position in this build's data
        self.numbers = array("q")     # and its last row's number

    @classmethod
    def load(cls, state: State, root: Path) -> LastBuild | None:
        """The last complete build's rows, if its snapshot is in force for ``root``, its rows'
        file is the one it wrote, and so are the manifest files (same inode, size, mtime and
        ctime); else None."""
        from vidbuild.planner.up_to_date import SNAPSHOT
        from vidbuild.report.manifest import MANIFEST_CSV, MANIFEST_JSON

        snapshot = state.get_meta(SNAPSHOT)
        found = rows_entry(snapshot)
        if found is None or not isinstance(snapshot, dict) or snapshot.get("root") != str(root) \
                or not isinstance(snapshot.get("manifest_files"), dict):
            return None
        directory = Path(str(snapshot.get("manifest"))).parent
        manifests: list[HeldFile] = []
        try:
            for name in (MANIFEST_JSON, MANIFEST_CSV):
                manifests.append(HeldFile.open(directory / name, snapshot["manifest_files"].get(name)))
            rows = LastRows.read(*found)
            if rows is None:
                raise ValueError("not the last rows of this snapshot")
        except (OSError, ValueError):
            for held in manifests:
                held.close()
            return None
        return cls(root, rows, manifests, found)

    def layout(self) -> DataLayout | None:
        """The layout of the data file these rows were read from (spec/data_layout.py), if the
        build that wrote them kept one; else None."""
        if self._source is None:
            return None
        path, token = self._source
        return DataLayout.read(layout_file(path), token)

    def take(self, fingerprint: str | None) -> int | None:
        """The number of the last row with this ``fingerprint`` whose output (and thumbnail) are
        still the files it recorded (``lstat``: a file replaced by a link is decided in full),
        once: a second row with the same values is decided in full (then refused as a duplicate)."""
        numbers = self._numbers
        if numbers is None:
            # A row without a fingerprint has "": of equal ones, the last, as a dict keeps it.
            texts = self.rows.texts
            numbers = self._numbers = dict(zip(texts[FINGERPRINT::TEXTS], range(len(texts) // TEXTS),
                                               strict=True))
            numbers.pop("", None)
        number = numbers.pop(fingerprint, None) if fingerprint else None
        return number if number is not None and self._as_built(number) else None

    def take_stretch(self, number: int, count: int) -> list[int]:
        """Of the last rows ``number`` to ``number + count - 1``, found as they were by their place
        in the data file (planner/stretches.py), the offsets of those whose output or thumbnail
        is not the file recorded (as ``take`` checks them), or that have no fingerprint (``take``
        never takes those): they are decided in full."""
        root, texts, numbers, lstat = self.root, self.rows.texts, self.rows.numbers, os.lstat
        untaken = []
        for row in range(number, number + count):   # _as_built, inline: 100,000 rows a build
            at = row * NUMBERS
            try:
                stat = lstat(root + texts[row * TEXTS + OUTPUT])
            except OSError:
                untaken.append(row - number)
                continue
            thumbnail = texts[row * TEXTS + THUMBNAIL]
            if stat.st_mtime_ns != numbers[at + MTIME] or stat.st_size != numbers[at + SIZE] \
                    or S_ISLNK(stat.st_mode) or not texts[row * TEXTS + FINGERPRINT] \
                    or (thumbnail and not _as_recorded(root + thumbnail, numbers[at + THUMBNAIL_SIZE],
                                                       numbers[at + THUMBNAIL_MTIME])):
                untaken.append(row - number)
        return untaken

    def _as_built(self, number: int) -> bool:
        """Whether the last row ``number``'s output (and thumbnail) are still the files it recorded
        (``lstat``: a file replaced by a link is not)."""
        at, numbers, texts = number * NUMBERS, self.rows.numbers, self.rows.texts
        try:
            stat = os.lstat(self.root + texts[number * TEXTS + OUTPUT])
        except OSError:
            return False
        if stat.st_size != numbers[at + SIZE] or stat.st_mtime_ns != numbers[at + MTIME] \
                or S_ISLNK(stat.st_mode):
            return False
        thumbnail = texts[number * TEXTS + THUMBNAIL]
        return not thumbnail or _as_recorded(self.root + thumbnail, numbers[at + THUMBNAIL_SIZE],
                                             numbers[at + THUMBNAIL_MTIME])

    def names(self, number: int) -> tuple[str, str, str | None]:
        """The key, output and thumbnail (None if none) of the last row ``number``."""
        texts, at = self.rows.texts, number * TEXTS
        return texts[at + KEY], texts[at + OUTPUT], texts[at + THUMBNAIL] or None

    def settle(self, position: int, number: int) -> None:
        """The row at ``position`` in this build's data is the last row ``number``, up to date."""
        self.positions.append(position)
        self.numbers.append(number)

    def settle_many(self, positions: array[int], numbers: array[int]) -> None:
        """``settle`` for each position and number in turn."""
        self.positions.extend(positions)
        self.numbers.extend(numbers)

    @property
    def settled(self) -> int:
        return len(self.positions)

    def entries(self, *, known: bool = True) -> Iterator[tuple[int, IndexEntry]]:
        """(position, entry) per settled row, in data order: reused and settled, its ``known`` the
        output's size and mtime, its manifest entry's JSON text and CSV line as the bytes the
        last manifest holds, and its last row (texts, numbers) (None if not ``known``).
        ManifestChangedError if that manifest was written to since the build began."""
        texts, numbers = self.rows.texts, self.rows.numbers
        for position, number in zip(self.positions, self.numbers, strict=True):
            row = texts[number * TEXTS:(number + 1) * TEXTS]
            listed = None
            if known:
                own = numbers[number * NUMBERS:(number + 1) * NUMBERS]
                json_text, csv_text, _ = self.block(number, 1)
                listed = [own[SIZE], own[MTIME], json_text, csv_text, (row, own)]
            yield position, IndexEntry(row[KEY], row[HASH], row[OUTPUT], row[FINGERPRINT], True, True,
                                       row[GENERATION], row[REASON], row[THUMBNAIL] or None, None, listed)

    def runs(self) -> Iterator[tuple[int, CopiedRows]]:
        """(position, run) per run of settled rows that follow each other both in this build's
        data and in the last build's (their positions and numbers both go up by one), in order."""
        positions, numbers = self.positions, self.numbers
        start = 0
        for at in range(1, len(positions) + 1):
            if at == len(positions) or positions[at] != positions[at - 1] + 1 \
                    or numbers[at] != numbers[at - 1] + 1:
                yield positions[start], CopiedRows(positions[start], at - start, numbers[start], self)
                start = at

    def block(self, number: int, count: int) -> tuple[bytes, bytes, array[int]]:
        """The manifest entries of the last rows ``number`` to ``number + count - 1`` as the last
        manifest holds them, one after the other: the JSON texts (with the separators between
        them) and the CSV lines; and per row, its spans relative to the two blocks.
        ManifestChangedError if a manifest file was written to since the build began."""
        (json_start, json_end), (csv_start, csv_end), spans = self._block_spans(number, count)
        return self._json.read(json_start, json_end), self._csv.read(csv_start, csv_end), spans

    def copy_block(self, number: int, count: int, json_file: BinaryIO, csv_file: BinaryIO,
                   json_at: int = 0, csv_at: int = 0) -> tuple[int, int, array[int]]:
        """``block``'s two blocks copied to ``json_file`` and ``csv_file`` at their positions (by
        the kernel where it can: 10,000 rows' entries are ~17 MB), with their lengths in bytes,
        and the rows' spans in the new files, whose blocks start at ``json_at`` and ``csv_at``."""
        json_range, csv_range, spans = self._block_spans(number, count, json_at, csv_at)
        (json_start, json_end), (csv_start, csv_end) = json_range, csv_range
        self._json.copy_to(json_start, json_end, json_file)
        self._csv.copy_to(csv_start, csv_end, csv_file)
        return json_end - json_start, csv_end - csv_start, spans

    def _block_spans(self, number: int, count: int, json_at: int = 0,
                     csv_at: int = 0) -> tuple[tuple[int, int], tuple[int, int], array[int]]:
        """Where the rows' block is in each last manifest file, and their spans moved to a block
        starting at ``json_at`` and ``csv_at`` (0: relative to the block), in one pass."""
        spans = self.rows.spans[number * SPANS:(number + count) * SPANS]
        json_start, csv_start = spans[JSON_AT], spans[CSV_AT]
        json_end = spans[-SPANS + JSON_AT] + spans[-SPANS + JSON_LENGTH]
        csv_end = spans[-SPANS + CSV_AT] + spans[-1]
        json_move, csv_move = json_at - json_start, csv_at - csv_start
        for at in range(0, len(spans), SPANS):
            spans[at + JSON_AT] += json_move
            spans[at + CSV_AT] += csv_move
        return (json_start, json_end), (csv_start, csv_end), spans

    def copy_rows(self, into: LastRows, number: int, count: int) -> None:
        """Add the last rows ``number`` to ``number + count - 1`` to ``into`` (without spans)."""
        into.copy(self.rows, number, count)

    def close(self) -> None:
        self._json.close()
        self._csv.close()

    def __enter__(self) -> LastBuild:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class HeldFile:
    """A manifest file the last complete build wrote, held open from the start of this build, and
    read only while it is still that file as written: opened only if its (inode, size, mtime_ns,
    ctime_ns) are those recorded (a file rewritten and its mtime set back has another ctime), and
    read only while its size and mtime stay so, before and after each read (a write in place
    moves its mtime; its ctime moves too when another build renames a new manifest over it)."""

    def __init__(self, path: Path, descriptor: int, identity: tuple[int, ...]) -> None:
        self.path = path
        self._descriptor = descriptor
        self._identity = identity

    @classmethod
    def open(cls, path: Path, identity: object) -> HeldFile:
        """``path``, if it is the file of that ``identity``; else ValueError (OSError if absent)."""
        if not (isinstance(identity, list) and len(identity) == 4 and all(type(n) is int for n in identity)):
            raise ValueError(f"no identity recorded for {path}")
        descriptor = os.open(path, os.O_RDONLY)
        held = cls(path, descriptor, tuple(identity))
        stat = os.fstat(descriptor)
        if stat.st_ctime_ns != identity[3] or not held._unchanged() or not identity[1]:
            held.close()
            raise ValueError(f"{path} is not the manifest the last build wrote")
        return held

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` of the file as written; ManifestChangedError if it was
        written to, or does not hold them."""
        if self._unchanged() and 0 <= start <= end <= self._identity[1]:
            data = os.pread(self._descriptor, end - start, start)
            if len(data) == end - start and self._unchanged():
                return data
        raise self._changed()

    def copy_to(self, start: int, end: int, out: BinaryIO) -> None:
        """Bytes ``start`` to ``end`` of the file as written, written to ``out`` at its position
        (flushed first: a buffered file's position is its file's), by ``copy_file_range`` where
        the kernel has it (no copy through this process's memory), else read and written.
        ManifestChangedError as ``read``; ``out`` then holds part of them."""
        if not (self._unchanged() and 0 <= start <= end <= self._identity[1]):
            raise self._changed()
        out.flush()
        at = start
        copy = getattr(os, "copy_file_range", None)
        try:
            while copy is not None and at < end:
                copied = copy(self._descriptor, out.fileno(), end - at, at)
                if not copied:   # some file systems copy nothing, without an error: read the rest
                    break
                at += copied
        except OSError as exc:
            if exc.errno not in _NO_KERNEL_COPY:
                raise
        if at < end:
            out.write(self.read(at, end))
        if not self._unchanged():
            raise self._changed()

    def _changed(self) -> ManifestChangedError:
        return ManifestChangedError(f"{display_path(self.path)} was written to while this build copied "
                                    "from it: the manifest was not replaced, and what was built is kept in "
                                    "state; run vidbuild build again")

    def _unchanged(self) -> bool:
        stat = os.fstat(self._descriptor)
        return (stat.st_ino, stat.st_size, stat.st_mtime_ns) == self._identity[:3]

    def close(self) -> None:
        os.close(self._descriptor)


def _as_recorded(path: str, size: int, mtime_ns: int) -> bool:
    try:
        stat = os.lstat(path)
    except OSError:
        return False
    return stat.st_size == size and stat.st_mtime_ns == mtime_ns and not S_ISLNK(stat.st_mode)
