"""Writes out/manifest.json and out/manifest.csv, one entry per row.

An entry holds ``MANIFEST_FIELDS`` (times as ISO 8601 UTC text, ``duration`` in seconds,
``credits_estimated`` the plan's estimate for the body when it was built: HeyGen reports no credits
per video) and the data columns the project's ``manifest.columns`` chose, as written: in the JSON
under ``columns``, in the CSV as columns of their own after vidbuild's, so the CSV loads as a
mail-merge table.

Both files are written as the entries come (one row's entry in memory at a time), each to a
temporary file renamed into place once complete, so a reader never sees half a manifest.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import posixpath
import secrets
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TextIO

from vidbuild.errors import LocalWriteError
from vidbuild.planner.row_index import CopiedRows, IndexEntry
from vidbuild.run.files import check_inside
from vidbuild.spec.hashing import unmarked_title
from vidbuild.spec.manifest_spec import MANIFEST_FIELDS
from vidbuild.spec.protected import ProtectedFiles
from vidbuild.state.location import api_namespace
from vidbuild.state.protocol import Record, State, with_records

MANIFEST_JSON = "manifest.json"
MANIFEST_CSV = "manifest.csv"
# How rows are paired with their records: state.with_records, or planner.fingerprint's
# with_known_records, which spares the lookups of rows known unchanged.
Listed = IndexEntry | CopiedRows
Pairing = Callable[[State, Iterable[Any]], Iterator[tuple[Any, Record | None]]]
FIELDS = MANIFEST_FIELDS


class Observer(Protocol):
    """Observes each row as written (see run_results.py)."""

    def __call__(self, row: IndexEntry, record: Record | None, item: dict[str, Any]) -> None:
        """A row: its index entry, record and manifest entry."""

    def listed(self, count: int) -> None:
        """``count`` rows copied from the last complete build's manifest: done before this build."""


def manifest_dir(root: Path, outputs: Iterable[str]) -> Path:
    """The directory the outputs share (usually out/), or the project directory."""
    return shared_dir(root, (posixpath.dirname(output) or "." for output in outputs))


def shared_dir(root: Path, directories: Iterable[str]) -> Path:
    """The deepest directory holding all ``directories`` (relative, POSIX), or ``root/out`` if none."""
    common: str | None = None
    for parent in directories:
        if common is None:
            common = parent
        elif parent != common:
            common = os.path.commonpath([common, parent])
    if common is None:
        return root / "out"
    return root / common if common not in ("", ".") else root


def entry(row: IndexEntry, record: Record | None) -> dict[str, Any]:
    """The row's manifest entry: ``MANIFEST_FIELDS``, then ``columns`` if the project chose any."""
    done = record is not None and record.status == "downloaded" and record.hash == row.hash
    item: dict[str, Any] = {
        "key": row.key, "hash": row.hash,
        "video_id": record.video_id if record else None,
        "status": "done" if done else (record.status if record else "not-built"),
        "output": row.output if done else None,
        "thumbnail": row.thumbnail if done and record and record.thumbnail == row.thumbnail else None,
        **_video_facts(record),
        "error": record.error if record else None,
        "checksum": record.checksum if done and record else None,
        "size": record.size if done and record else None}
    if row.columns is not None:
        item["columns"] = row.columns
    return item


_NO_FACTS = dict.fromkeys(("title", "duration", "created_at", "completed_at", "video_page_url",
                           "video_url", "thumbnail_url", "urls_expire_at", "credits_estimated"))


def _video_facts(record: Record | None) -> dict[str, Any]:
    """What state knows of the video: title, length, times, URLs and its credit estimate."""
    if record is None:
        return _NO_FACTS
    # HeyGen's creation time where a read gave it, else when vidbuild sent the request.
    created = record.created_at if record.created_at is not None else record.submitted_at
    title = unmarked_title(record.title) if record.title else record.title   # as the project wrote it
    return {"title": title, "duration": record.duration, "created_at": iso_time(created),
            "completed_at": iso_time(record.completed_at), "video_page_url": record.video_page_url,
            "video_url": record.video_url, "thumbnail_url": record.thumbnail_url,
            "urls_expire_at": iso_time(record.urls_expire_at), "credits_estimated": record.credits_estimated}


def iso_time(seconds: float | None) -> str | None:
    """Unix seconds as ISO 8601 UTC text to the second (``2026-11-30T08:15:00Z``), or None."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def csv_row(item: dict[str, Any]) -> dict[str, Any]:
    """A manifest entry as one CSV row: chosen columns beside vidbuild's fields, each as written
    (text as is; a number, boolean or nested value as its JSON text; null as an empty cell)."""
    columns = item.get("columns")
    if not columns:
        return item
    flat = {name: item[name] for name in FIELDS}
    for column, value in columns.items():
        flat[column] = value if isinstance(value, str) or value is None else json.dumps(value)
    return flat


def write_manifest(root: Path, project_name: str, rows: Callable[[], Iterable[Listed]],
                   state: State, protected: ProtectedFiles | None = None, *,
                   records: Pairing = with_records, directories: Iterable[str] | None = None,
                   columns: Sequence[str] = (), observe: Observer | None = None,
                   placement: Placement | None = None) -> Path:
    """Write both files atomically from the rows, read twice (once for the directory, unless the
    outputs' ``directories`` are given, once for the entries, each paired with its record by
    ``records`` and shown to ``observe``), with the chosen data ``columns`` in the CSV; returns
    the JSON file's path. ``placement`` is told where each row's entry went.
    InvalidRequestError if the manifest would land outside the project or on one of its
    ``protected`` files; LocalWriteError (naming the path) if the folder or files can't be written."""
    directory = (shared_dir(root, sorted(directories)) if directories is not None
                 else manifest_dir(root, (_output(row) for row in rows())))
    # Checked again at write time, as outputs are: a directory swapped for a symlink since
    # validation must not carry the manifest out of the project, nor onto its inputs.
    for name in (MANIFEST_JSON, MANIFEST_CSV):
        check_inside(root, directory / name, protected, output=False)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name in (MANIFEST_JSON, MANIFEST_CSV):
            check_inside(root, directory / name, protected, output=False)
        return _write_both(directory, project_name, rows, state, records, columns, observe, placement)
    except OSError as exc:   # a file where the folder was, a full disk: named, never a crash
        raise LocalWriteError(f"can't write the manifest in {directory}: {exc.strerror or exc}"
                              f" ({exc.filename or directory}); what was built is kept in state") from exc


def _output(row: Listed) -> str:
    if isinstance(row, CopiedRows):   # only listed with the outputs' directories given
        raise TypeError("rows copied from the last build need the outputs' directories")
    return row.output


def _write_both(directory: Path, project_name: str, rows: Callable[[], Iterable[Listed]],
                state: State, records: Pairing, columns: Sequence[str], observe: Observer | None,
                placement: Placement | None) -> Path:
    with _atomic_file(directory / MANIFEST_JSON, "xb") as json_file, \
            _atomic_file(directory / MANIFEST_CSV, "xb") as csv_file:
        line = io.StringIO()   # one CSV line at a time, written as bytes (its place is counted in bytes)
        writer = csv.DictWriter(line, fieldnames=[*FIELDS, *columns], lineterminator="\n")
        writer.writeheader()
        csv_at = csv_file.write(line.getvalue().encode("utf-8"))
        videos = _JsonList(json_file, project_name, api_namespace(state.namespace))
        for row, record in records(state, rows()):
            if isinstance(row, CopiedRows):   # copied from the last manifest, one block
                json_length, csv_length, spans = row.source.copy_block(row.number, row.rows, json_file,
                                                                      csv_file, videos.next_item(), csv_at)
                videos.position += json_length
                if placement is not None:
                    placement.spans.extend(spans)
                csv_at += csv_length
                if observe is not None:
                    observe.listed(row.rows)
                continue
            if row.known is not None and record is None:   # listed as its known row keeps it
                text, csv_text = row.known[KNOWN_JSON], row.known[KNOWN_CSV]
                if observe is not None:
                    observe(row, None, LISTED)
            else:
                item = entry(row, record)
                text = _entry_text(item)
                line.seek(0)
                line.truncate()
                writer.writerow(csv_row(item))
                csv_text = line.getvalue()
                if observe is not None:
                    observe(row, record, item)
            json_at = videos.add_text(text)
            written = csv_file.write(csv_text.encode("utf-8") if isinstance(csv_text, str) else csv_text)
            if placement is not None:
                placement.spans.extend((json_at, videos.position - json_at, csv_at, written))
            csv_at += written
        videos.close()
    if placement is not None:
        placement.files = {MANIFEST_JSON: json_file.identity, MANIFEST_CSV: csv_file.identity}
    return directory / MANIFEST_JSON


class Placement:
    """Where a manifest put each row's entry, for a later build to copy the bytes of the rows it
    finds unchanged (planner/last_build.py): ``spans``, per row in order, the JSON text's byte
    offset and length, then the CSV line's; ``files``, per file name, (inode, size, mtime_ns,
    ctime_ns) of the file as written (a file replaced since, by another build, is another)."""

    def __init__(self) -> None:
        self.spans = array("q")
        self.files: dict[str, tuple[int, int, int, int]] = {}


# IndexEntry.known of a row found unchanged: its output's size and mtime (ns) and its entry's
# JSON text and CSV line as ``listing`` made them when it was remembered.
KNOWN_SIZE, KNOWN_MTIME, KNOWN_JSON, KNOWN_CSV = range(4)
# What ``observe`` is shown for such a row (record None): it was done before this build.
LISTED: dict[str, Any] = {"status": "listed"}


def listing(row: IndexEntry, record: Record, columns: Sequence[str]) -> tuple[str, str]:
    """The row's entry as the writer puts it in each file: the JSON text (as ``_JsonList.add``
    writes it, without the separator before it) and the CSV line (``columns``: the project's
    chosen data columns), so a row found unchanged is listed without building its entry again."""
    item = entry(row, record)
    line = io.StringIO()
    csv.DictWriter(line, fieldnames=[*FIELDS, *columns], lineterminator="\n").writerow(csv_row(item))
    return _entry_text(item), line.getvalue()


_DUMPS = json.JSONEncoder(ensure_ascii=False).encode


@functools.lru_cache(maxsize=64)
def _name(name: str) -> str:
    return _DUMPS(name)   # an entry's field names are few: each encoded once


def _scalar(value: Any) -> str:
    """``_DUMPS(value)``, straight from the C quoting function for the usual null and string."""
    if value is None:
        return "null"
    return encode_basestring(value) if type(value) is str else _DUMPS(value)


class _JsonList:
    """Writes ``{"project": name, "api": namespace, "videos": [...]}`` exactly as
    ``json.dumps(..., indent=2)`` would, one item at a time. ``api`` names the API the video ids
    belong to (the state namespace's API part), so a manifest seeds only a state of that API."""

    def __init__(self, stream: BinaryIO, project_name: str, api: str) -> None:
        self.stream = stream
        self.empty = True
        self.position = stream.write(('{\n  "project": ' + json.dumps(project_name, ensure_ascii=False)
                                      + ',\n  "api": ' + json.dumps(api, ensure_ascii=False)
                                      + ',\n  "videos": [').encode("utf-8"))

    def add(self, item: dict[str, Any]) -> None:
        self.add_text(_entry_text(item))

    def add_text(self, text: str | bytes) -> int:
        """Add an entry already serialised by ``_entry_text`` (as text, or as its UTF-8 bytes);
        returns its byte offset (``position`` is then its end)."""
        start = self.next_item()
        self.position += self.stream.write(text.encode("utf-8") if isinstance(text, str) else text)
        return start

    def next_item(self) -> int:
        """Write the separator before the next entry; returns the entry's byte offset. The caller
        writes the entry (or entries) and adds its length to ``position``."""
        self.position += self.stream.write(b"\n    " if self.empty else b",\n    ")
        self.empty = False
        return self.position

    def close(self) -> None:
        self.position += self.stream.write(b"]\n}\n" if self.empty else b"\n  ]\n}\n")


def _entry_text(item: dict[str, Any]) -> str:
    """``item`` as ``json.dumps(item, indent=2)`` writes it, indented as one of the videos."""
    columns = item.get("columns")
    flat = item if columns is None else {name: value for name, value in item.items() if name != "columns"}
    if flat and _scalars(flat) and (columns is None or (columns and _scalars(columns))):
        # What json.dumps(item, indent=2) writes for a flat entry (and its flat columns),
        # without its pure-Python indenting encoder (100,000 rows: seconds).
        text = "{\n      " + _members(flat, "\n      ")
        if columns is not None:
            text += ',\n      "columns": {\n        ' + _members(columns, "\n        ") + "\n      }"
        return text + "\n    }"
    return json.dumps(item, indent=2, ensure_ascii=False).replace("\n", "\n    ")


def _scalars(values: dict[str, Any]) -> bool:
    return all(isinstance(value, str | int | float | None) for value in values.values())


def _members(values: dict[str, Any], separator: str) -> str:
    return ("," + separator).join(f"{_name(name)}: {_scalar(value)}" for name, value in values.items())


@contextmanager
def _atomic(path: Path) -> Iterator[TextIO]:
    """A temporary file beside ``path``, renamed over it only if the block completes."""
    with _atomic_file(path, "x", encoding="utf-8", newline="") as stream:
        yield stream


class _Written(io.BufferedWriter):
    """A binary file that keeps its (inode, size, mtime_ns, ctime_ns) once in place (``seal``)."""

    identity = (0, 0, 0, 0)

    def seal(self) -> None:
        """Note the file's identity, taken from the open file, so it is this file's even if
        another build has already replaced it (ctime: a file rewritten and its mtime set back
        is told apart)."""
        stat = os.fstat(self.fileno())
        self.identity = (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


@contextmanager
def _atomic_file(path: Path, mode: str, **text: Any) -> Iterator[Any]:
    # Not mkstemp, whose 0600 the rename would keep: the manifest gets the umask's permissions,
    # as the videos do. The name is one run.files.TEMPORARY_NAME knows (a killed build's is cleaned).
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        if "b" in mode:
            stream: Any = _Written(io.FileIO(temporary, mode))
        else:
            stream = temporary.open(mode, **text)
        with stream:
            yield stream
            stream.flush()
            os.replace(temporary, path)
            if isinstance(stream, _Written):
                stream.seal()
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
