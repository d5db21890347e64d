"""Streams a project's rows from CSV, TSV, JSON, JSON Lines, YAML or inline, with their lines."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from vidbuild.errors import Diagnostic, ProjectError
from vidbuild.spec.data_layout import DataLayout, Stretches
from vidbuild.spec.load import MAX_DEPTH, MAX_INTEGER_DIGITS, load_yaml
from vidbuild.spec.project import Project, display_path

FORMATS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".yaml": "yaml", ".yml": "yaml"}


class RowTaker(Protocol):
    """The reader's hook that takes CSV and TSV rows the last complete build had as they are
    (planner/taken_rows.py): a row taken is not yielded."""

    # Called with a row's (index, values, line) as it is read, before a Row is made of it: True if
    # it took the row. An attribute, not a method: it is called for every row.
    take: Callable[[int, dict[str, str], int], bool]

    def stretches(self, layout: DataLayout,
                  values_at: Callable[[int, int], dict[str, str]]) -> Stretches | None:
        """For a file whose header was read (``layout``, no row yet): the stretches as the last
        build read them, if any; ``values_at(first, end)`` reads the record on lines ``first`` to
        ``end`` - 1."""
        ...


@dataclass(slots=True)
class Row:
    """One data row: its values, and where it was read (file as displayed, 1-based line). Not
    frozen, but never changed: a build makes one per row, and a frozen dataclass's ``__init__``
    costs three times as much (its values, a dict, make it unhashable either way)."""

    index: int
    values: dict[str, Any]
    file: str
    line: int

    def diagnostic(self, message: str, key: str | None = None) -> Diagnostic:
        where = f"row {key}" if key else f"row {self.index + 1}"
        return Diagnostic(self.file, self.line, 0, where, message)


def data_source(project: Project) -> Path | None:
    source: str | None = project.spec.get("data", {}).get("source")
    if not source:
        return None
    try:
        return (project.root / source).resolve()
    except (OSError, ValueError):   # a name the OS can't look up: read_rows reports it
        return project.root / source


def _unreadable(path: Path, display: str) -> str | None:
    """Why ``path`` can't be read as a data file, or None; a name the OS can't even look up (a NUL
    byte, a name too long) is the user's mistake, not an internal error."""
    try:
        if path.is_file():
            return None
    except (OSError, ValueError) as exc:
        return f"data file can't be opened: {display}: {getattr(exc, 'strerror', None) or exc}"
    return f"data file not found: {display}"


def read_rows(project: Project, take: RowTaker | None = None) -> Iterator[Row]:
    """Yield every row in order; file-level problems raise ProjectError, row-level ones come as rows.

    Rows of a CSV or TSV file whose every cell is empty (spreadsheets write them as ``,,`` lines
    at the end of a sheet) are skipped and counted in ``project.empty_rows``. A CSV or TSV row
    that ``take`` takes is not yielded (its index is still its own); other formats ignore ``take``.
    """
    data = project.spec.get("data")
    project.empty_rows = 0
    project.data_layout = None
    if data is None:
        yield Row(0, {}, project.document.display, 1)
        return
    if "rows" in data:
        yield from _inline_rows(project, data["rows"])
        return
    path = data_source(project)
    assert path is not None
    display = display_path(path)
    fmt = data.get("format") or FORMATS.get(path.suffix.lower())
    if fmt is None:
        line, column = project.document.locate(("data", "source"))
        known = ", ".join(sorted(set(FORMATS.values())))
        raise ProjectError([Diagnostic(project.document.display, line, column, "data.source",
                                       f"can't tell the format of '{path.name}' from its extension; "
                                       f"set data.format to one of {known}")])
    problem = _unreadable(path, display)
    if problem:
        line, column = project.document.locate(("data", "source"))
        raise ProjectError([Diagnostic(project.document.display, line, column, "data.source", problem)])
    if fmt in ("csv", "tsv"):
        delimiter = data.get("delimiter")
        yield from _delimited_rows(project, path, display, fmt, delimiter, take)
        return
    if "delimiter" in data:
        line, column = project.document.locate(("data", "delimiter"), key=True)
        raise ProjectError([Diagnostic(project.document.display, line, column, "data.delimiter",
                                       f"a delimiter applies to CSV and TSV files, not to {fmt}")])
    readers = {"json": _json_rows, "jsonl": _jsonl_rows, "yaml": _yaml_rows}
    yield from readers[fmt](path, display, fmt)


def empty_rows_note(project: Project) -> str:
    """``", 2 empty rows skipped"`` after the rows were read, for a command's summary; else ""."""
    count = project.empty_rows
    return f", {count} empty row{'s' if count != 1 else ''} skipped" if count else ""


def _inline_rows(project: Project, rows: list[Any]) -> Iterator[Row]:
    display = project.document.display
    for index, values in enumerate(rows):
        line, _ = project.document.locate(("data", "rows", index))
        yield Row(index, values, display, line)


def _file_error(display: str, line: int, message: str) -> ProjectError:
    return ProjectError([Diagnostic(display, line, 0, "", message)])


def _open_text(path: Path, display: str) -> io.StringIO:
    """The file's text, decoded whole so that a bad byte is reported at its own line.

    A UTF-8 byte-order mark is dropped: Excel's "CSV UTF-8" export starts with one, and it is an
    encoding mark, not part of the first column's name. Other encodings are refused, not guessed.
    """
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _file_error(display, 1, "file is UTF-16 text (it starts with a UTF-16 byte-order mark); "
                                      "save it as UTF-8 (in Excel: CSV UTF-8)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise _file_error(display, line, f"not UTF-8 text (byte {exc.start + 1} of the file); save it as "
                                         "UTF-8 (in Excel: CSV UTF-8)") from exc
    return io.StringIO(text, newline="")


def _delimited_rows(project: Project, path: Path, display: str, fmt: str,
                    delimiter: str | None, take: RowTaker | None = None) -> Iterator[Row]:
    """The rows of a CSV or TSV file; ``project.data_layout`` is set once every one was read. With
    ``take``, rows at the start and at the end of the file that are as the last complete build
    read them are taken by their place (``Stretches``), the others as they are read."""
    with _open_text(path, display) as handle:
        lines = handle.readlines()
    mark = delimiter or ("\t" if fmt == "tsv" else ",")
    reader = csv.reader(lines, delimiter=mark, strict=True)
    base = 0   # the lines before those ``reader`` reads (it reads from the end of a head stretch)
    try:
        header = next(reader, None)
        if header is None:
            raise _file_error(display, 1, "data file is empty: expected a header line")
        _check_header(header, display, None if delimiter else reader.dialect.delimiter)
        layout = DataLayout(lines, reader.line_num + 1)

        def values_at(first: int, end: int) -> dict[str, str]:
            record = next(csv.reader(lines[first - 1:end - 1], delimiter=mark, strict=True))
            return dict(zip(header, record, strict=True))

        stretches = take.stretches(layout, values_at) if take is not None else None
        take_row = take.take if take is not None else None
        start, index = layout.first, 0
        if stretches is not None and stretches.head:
            untaken, project.empty_rows = stretches.take_head()
            yield from _untaken(untaken, layout, values_at, display)
            index, start = stretches.head, layout.ends[-1]
            reader, base = csv.reader(lines[start - 1:], delimiter=mark, strict=True), start - 1
        tail, number = stretches.tail_from(start) if stretches is not None else (sys.maxsize, -1)
        starts, ends, empties = layout.starts.append, layout.ends.append, layout.empties.append
        for record in reader if tail != start else ():
            end = base + reader.line_num + 1
            if not "".join(record).strip():   # every cell blank
                project.empty_rows += 1
            elif len(record) != len(header):
                raise _file_error(display, start, f"row has {len(record)} fields, "
                                                  f"the header has {len(header)}")
            else:   # as long as the header (checked above): zip's strict check cost 0.5 µs a row
                values = dict(zip(header, record))  # noqa: B905 (a keyword costs ~0.2 µs)
                starts(start)
                ends(end)
                empties(project.empty_rows)
                if take_row is None or not take_row(index, values, start):
                    yield Row(index, values, display, start)
                index += 1
            start = end
            if start >= tail:
                assert stretches is not None
                tail, number = stretches.tail_from(start)
                if tail == start:
                    break
        if tail == start:   # the rest of the file is as the last build read it
            assert stretches is not None
            untaken, project.empty_rows = stretches.take_tail(index, number, project.empty_rows)
            yield from _untaken(untaken, layout, values_at, display)
        else:
            layout.empty = project.empty_rows
    except csv.Error as exc:
        raise _file_error(display, base + reader.line_num, f"malformed {fmt.upper()}: {exc}") from exc
    project.data_layout = layout


def _untaken(positions: list[int], layout: DataLayout, values_at: Callable[[int, int], dict[str, str]],
             display: str) -> Iterator[Row]:
    """The rows of a stretch that could not be taken by their place, read from their lines."""
    for position in positions:
        start = layout.starts[position]
        yield Row(position, values_at(start, layout.ends[position]), display, start)


_DELIMITERS = {";": "';'", "\t": "tab", ",": "','", "|": "'|'"}


def _check_header(header: list[str], display: str, assumed: str | None) -> None:
    """Names must be unique, named and unpadded. With ``assumed`` (the delimiter by default, not
    set by the user), a one-column header holding another delimiter means the file uses that one."""
    if assumed is not None and len(header) == 1:
        found = [mark for mark in _DELIMITERS if mark != assumed and mark in header[0]]
        if found:
            written = "\\t" if found[0] == "\t" else found[0]
            raise _file_error(display, 1, f"the header is one column {header[0]!r}: the file looks "
                                          f"{_DELIMITERS[found[0]]}-separated; set data.delimiter: "
                                          f'"{written}"')
    problems = []
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        if name != name.strip():
            problems.append(f"column {position} {name!r} has leading or trailing spaces")
        elif not name:
            problems.append(f"column {position} has no name")
        elif name in seen:
            problems.append(f"column {name!r} appears twice")
        seen.add(name)
    if problems:
        raise ProjectError([Diagnostic(display, 1, 0, "header", p) for p in problems])


def _json_rows(path: Path, display: str, fmt: str) -> Iterator[Row]:
    # Decode element by element so each row keeps the line it starts on.
    text = _read_text(path, display)
    position = _skip_space(text, 0)
    if not text.startswith("[", position):
        raise _file_error(display, _line_at(text, position), "expected a JSON array of objects")
    position = _skip_space(text, position + 1)
    index = 0
    line, counted = 1, 0
    while not text.startswith("]", position):
        line += text.count("\n", counted, position)
        counted = position
        value, end = _decode(text, position, display, line)
        yield Row(index, value, display, line)
        index += 1
        position = _skip_space(text, end)
        if text.startswith(",", position):
            position = _skip_space(text, position + 1)
        elif not text.startswith("]", position):
            raise _file_error(display, _line_at(text, position), "invalid JSON: expected ',' or ']'")


def _jsonl_rows(path: Path, display: str, fmt: str) -> Iterator[Row]:
    with _open_text(path, display) as handle:
        index = 0
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            text = line.rstrip("\r\n")
            value, end = _decode(text, _skip_space(text, 0), display, line_number)
            if text[end:].strip():
                raise _file_error(display, line_number, "invalid JSON: one value per line, found more")
            yield Row(index, value, display, line_number)
            index += 1


class _NotData(ValueError):
    """A JSON text the standard library would accept but that can't be data as written."""


def _decode(text: str, position: int, display: str, line: int) -> tuple[Any, int]:
    """One JSON value starting at ``position`` and where it ends, refusing what Python's decoder
    lets through: NaN and Infinity (not JSON), numbers out of range, duplicate keys (the last
    would silently win), lone surrogates (UTF-8 can't carry them) and nesting past MAX_DEPTH."""
    try:
        value, end = _DECODER.raw_decode(text, position)
    except json.JSONDecodeError as exc:
        raise _file_error(display, line + text.count("\n", position, exc.pos),
                          f"invalid JSON: {exc.msg}") from exc
    except _NotData as exc:
        raise _file_error(display, line, str(exc)) from exc
    except RecursionError as exc:
        raise _file_error(display, line, f"nested deeper than {MAX_DEPTH} levels") from exc
    if _SURROGATE_ESCAPE.search(text, position, end):
        _check_text(value, display, line)
    if _NUL_ESCAPE.search(text, position, end) and _holds_nul(value):
        raise _file_error(display, line, "a NUL character (\\u0000) is not text")
    if text.count("[", position, end) + text.count("{", position, end) > MAX_DEPTH:
        if _depth(value) > MAX_DEPTH:
            raise _file_error(display, line, f"nested deeper than {MAX_DEPTH} levels")
    return value, end


def _json_integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _NotData(f"a number of {len(text.lstrip('-')):,} digits is longer than {MAX_INTEGER_DIGITS}; "
                       f"write it as a string if it is text")
    return int(text)


def _json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotData(f"the number {text[:40]} is out of range")
    return value


def _json_constant(text: str) -> Any:
    raise _NotData(f"invalid JSON: {text} is not a JSON value")


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise _NotData(f"key {name!r} appears twice in one object")
        result[name] = value
    return result


_DECODER = json.JSONDecoder(parse_int=_json_integer, parse_float=_json_float,
                            parse_constant=_json_constant, object_pairs_hook=_json_object)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_NUL_ESCAPE = re.compile(r"\\u0000")


def _check_text(value: Any, display: str, line: int) -> None:
    """Refuse a lone surrogate (``"\\ud800"``): a valid JSON escape, but not a character."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _file_error(display, line, "a \\u escape names a lone surrogate, which is not a "
                                         "character: UTF-8 can't carry it") from exc


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    return isinstance(value, list) and any(_holds_nul(item) for item in value)


def _depth(value: Any) -> int:
    depth, level = 0, [value]
    while level:
        depth += 1
        level = [child for item in level if isinstance(item, dict | list)
                 for child in (item.values() if isinstance(item, dict) else item)]
    return depth - 1


def _yaml_rows(path: Path, display: str, fmt: str) -> Iterator[Row]:
    document = load_yaml(path, display)
    if not isinstance(document.data, list):
        raise _file_error(display, 1, "expected a YAML list of mappings")
    for index, value in enumerate(document.data):
        yield Row(index, value, display, document.locate((index,))[0])


def _read_text(path: Path, display: str) -> str:
    return _open_text(path, display).getvalue()


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _line_at(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1

