"""Load stage: read YAML into plain Python values while keeping every value's source position."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidbuild.errors import Diagnostic, ProjectError

PathKey = tuple[str | int, ...]


@dataclass
class Document:
    """A parsed YAML file: plain data plus the (line, column) of each value and mapping key.

    Positions are 1-based. ``display`` is the file name as it should appear in messages.
    """

    display: str
    data: Any
    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    # Strings written as block scalars (``|`` or ``>``): their text starts on the next line.
    block_scalars: set[PathKey] = field(default_factory=set)

    def locate(self, path: PathKey, *, key: bool = False) -> tuple[int, int]:
        """Position of the value at ``path`` (or of its key), else of its nearest ancestor."""
        if key and path in self.keys:
            return self.keys[path]
        for depth in range(len(path), -1, -1):
            position = self.values.get(path[:depth])
            if position is not None:
                return position
        return (1, 1)

    def diagnostic(self, path: PathKey, where: str, message: str, *, key: bool = False) -> Diagnostic:
        line, column = self.locate(path, key=key)
        return Diagnostic(self.display, line, column, where, message)

    def text_position(self, path: PathKey, text_line: int) -> tuple[int, int]:
        """Position of line ``text_line`` (1-based; 0 if unknown) of the string at ``path``.

        Exact for one-line and literal (``|``) strings; approximate where YAML folds lines.
        """
        line, column = self.locate(path)
        if path in self.block_scalars and text_line:
            return line + text_line, 0
        if text_line > 1:
            return line + text_line - 1, 0
        return line, column


def load_yaml(path: Path, display: str) -> Document:
    """Parse one YAML document; syntax errors and duplicate keys become a ProjectError."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError([Diagnostic(display, 0, 0, "", f"cannot read file: {_reason(exc)}")]) from exc
    yaml = YAML(typ="rt")
    try:
        tree = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise ProjectError([Diagnostic(display, line, column, "", f"invalid YAML: {message}")]) from exc
    document = Document(display, None)
    document.values[()] = (1, 1)
    document.data = _plain(tree, (), document)
    return document


def _plain(node: Any, path: PathKey, document: Document) -> Any:
    """Convert ruamel's commented containers to dicts and lists, recording positions."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString

    if isinstance(node, CommentedMap):
        result: dict[str, Any] = {}
        for key, value in node.items():
            child = (*path, str(key))
            key_line, key_column = node.lc.key(key)
            document.keys[child] = (key_line + 1, key_column + 1)
            value_line, value_column = node.lc.value(key)
            document.values[child] = (value_line + 1, value_column + 1)
            result[str(key)] = _plain(value, child, document)
        return result
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            line, column = node.lc.item(index)
            document.values[(*path, index)] = (line + 1, column + 1)
            items.append(_plain(value, (*path, index), document))
        return items
    if isinstance(node, LiteralScalarString | FoldedScalarString):
        document.block_scalars.add(path)
    return plain_scalar(node)


def plain_scalar(value: Any) -> Any:
    """ruamel's scalar subclasses become builtins; dates become ISO strings (JSON has no dates)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    return value


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start})"
    return str(exc)
