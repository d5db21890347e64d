"""Data stage: stream a project's rows from CSV, TSV, JSON, JSON Lines, YAML or inline, with their lines."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidbuild.errors import Diagnostic, ProjectError
from vidbuild.loader import load_yaml
from vidbuild.project import Project, display_path

FORMATS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".yaml": "yaml", ".yml": "yaml"}


@dataclass(frozen=True)
class Row:
    """One data row: its values, and where it was read (file as displayed, 1-based line)."""

    index: int
    values: dict[str, Any]
    file: str
    line: int

    def diagnostic(self, message: str, key: str | None = None) -> Diagnostic:
        where = f"row {key}" if key else f"row {self.index + 1}"
        return Diagnostic(self.file, self.line, 0, where, message)


def data_source(project: Project) -> Path | None:
    source = project.spec.get("data", {}).get("source")
    return (project.root / source).resolve() if source else None


def read_rows(project: Project) -> Iterator[Row]:
    """Yield every row in order; file-level problems raise ProjectError, row-level ones come as rows."""
    data = project.spec.get("data")
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
    if not path.is_file():
        line, column = project.document.locate(("data", "source"))
        raise ProjectError([Diagnostic(project.document.display, line, column, "data.source",
                                       f"data file not found: {display}")])
    readers = {"csv": _delimited_rows, "tsv": _delimited_rows, "json": _json_rows,
               "jsonl": _jsonl_rows, "yaml": _yaml_rows}
    yield from readers[fmt](path, display, fmt)


def _inline_rows(project: Project, rows: list[Any]) -> Iterator[Row]:
    display = project.document.display
    for index, values in enumerate(rows):
        line, _ = project.document.locate(("data", "rows", index))
        yield Row(index, values, display, line)


def _file_error(display: str, line: int, message: str) -> ProjectError:
    return ProjectError([Diagnostic(display, line, 0, "", message)])


def _open_text(path: Path, display: str) -> io.StringIO:
    """The file's text, decoded whole so that a bad byte is reported at its own line."""
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        # A BOM would silently become part of the first column's name.
        raise _file_error(display, 1, "file starts with a UTF-8 byte-order mark (BOM); "
                                      "save it as UTF-8 without BOM")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise _file_error(display, line, f"not UTF-8 text (byte {exc.start + 1} of the file)") from exc
    return io.StringIO(text, newline="")


def _delimited_rows(path: Path, display: str, fmt: str) -> Iterator[Row]:
    delimiter = "\t" if fmt == "tsv" else ","
    with _open_text(path, display) as handle:
        reader = csv.reader(handle, delimiter=delimiter, strict=True)
        try:
            header = next(reader, None)
            if header is None:
                raise _file_error(display, 1, "data file is empty: expected a header line")
            _check_header(header, display)
            start = reader.line_num + 1
            index = 0
            for record in reader:
                if len(record) != len(header):
                    if not any(record):
                        start = reader.line_num + 1
                        continue
                    raise _file_error(display, start, f"row has {len(record)} fields, "
                                                      f"the header has {len(header)}")
                yield Row(index, dict(zip(header, record, strict=True)), display, start)
                index += 1
                start = reader.line_num + 1
        except csv.Error as exc:
            raise _file_error(display, reader.line_num, f"malformed {fmt.upper()}: {exc}") from exc


def _check_header(header: list[str], display: str) -> None:
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
    decoder = json.JSONDecoder()
    position = _skip_space(text, 0)
    if not text.startswith("[", position):
        raise _file_error(display, _line_at(text, position), "expected a JSON array of objects")
    position = _skip_space(text, position + 1)
    index = 0
    line, counted = 1, 0
    while not text.startswith("]", position):
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise _file_error(display, exc.lineno, f"invalid JSON: {exc.msg}") from exc
        line += text.count("\n", counted, position)
        counted = position
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
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise _file_error(display, line_number, f"invalid JSON: {exc.msg}") from exc
            yield Row(index, value, display, line_number)
            index += 1


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

