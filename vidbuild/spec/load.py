"""Reads YAML into plain Python values while keeping every value's source position."""

from __future__ import annotations

import datetime
import functools
import io
import math
import re
import warnings
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidbuild.errors import Diagnostic, ProjectError

PathKey = tuple[str | int, ...]

MAX_DEPTH = 100             # nesting levels; real projects use under ten
MAX_INTEGER_DIGITS = 300    # more digits than any float: such a "number" is an identifier


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


def load_yaml(path: Path, display: str, raw: bytes | None = None) -> Document:
    """Parse one YAML document, keeping every scalar as written (see ``_AsWrittenConstructor``):
    the file at ``path``, or its bytes ``raw`` as the caller read them.

    Syntax errors, duplicate keys, unsupported tags, nesting deeper than ``MAX_DEPTH``, aliases
    that would expand past ``alias_budget`` values, characters UTF-8 can't carry and integers of
    more than ``MAX_INTEGER_DIGITS`` digits all become a located ProjectError.
    """
    try:
        # As read_text reads a file: its newlines made "\n" (universal newlines).
        text = (path.read_text(encoding="utf-8-sig") if raw is None
                else io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8-sig").read())
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError([Diagnostic(display, 0, 0, "", f"cannot read file: {_reason(exc)}")]) from exc
    tree = _parse(text, display)
    document = Document(display, None)
    document.values[()] = (1, 1)
    document.data = _Converter(document, alias_budget(text)).plain(tree, (), 0)
    return document


def alias_budget(text: str) -> int:
    """How many values aliases may add to a document: as many as it has characters, at least
    100,000. A legitimate alias (``*defaults``) copies a few values; an alias bomb (anchors that
    nest aliases of aliases) would copy billions, and grew to 13 GB before this bound."""
    return max(100_000, len(text))


def _parse(text: str, display: str) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, ReusedAnchorWarning, YAMLError

    yaml = YAML(typ="rt")
    yaml.Constructor = _as_written_constructor()
    yaml.max_depth = MAX_DEPTH
    try:
        with warnings.catch_warnings():
            # YAML lets an anchor be defined again (an alias means the latest): not worth a warning.
            warnings.simplefilter("ignore", ReusedAnchorWarning)
            return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        if type(exc).__name__ == "MaxDepthExceededError":
            message = f"nested deeper than {MAX_DEPTH} levels"
        raise ProjectError([Diagnostic(display, line, column, "", f"invalid YAML: {message}")]) from exc
    except YAMLError as exc:  # the reader's errors (a NUL byte, a control character) carry an offset
        position = getattr(exc, "position", None)
        line, column = _line_column(text, position) if isinstance(position, int) else (0, 0)
        reason = str(exc).splitlines()[0]
        raise ProjectError([Diagnostic(display, line, column, "", f"invalid YAML: {reason}")]) from exc
    except RecursionError as exc:
        raise ProjectError([Diagnostic(display, 0, 0, "", f"invalid YAML: nested deeper than {MAX_DEPTH} "
                                                          "levels")]) from exc


def _line_column(text: str, position: int) -> tuple[int, int]:
    line = text.count("\n", 0, position) + 1
    return line, position - (text.rfind("\n", 0, position) + 1) + 1


_DECIMAL_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
_DECIMAL_FLOAT = re.compile(r"-?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_BOOLEAN = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}


@functools.cache
def _as_written_constructor() -> type:
    """A round-trip constructor that never changes what a scalar says.

    YAML's implicit typing turns ``0755`` into 755, ``+49151`` into 49151, ``1_000`` into 1000,
    ``0x1F`` into 31, ``2024-1-5`` into a date and, in a ``%YAML 1.1`` file, ``yes`` into true and
    ``1:20`` into 80. A zip code, store number or phone number would silently lose its digits.
    Here a scalar becomes a number only when its text is a plain decimal number (as JSON writes
    it) whose value is finite, a boolean only when it is spelled true or false, and everything
    else (timestamps included) stays the text written.
    """
    from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor

    class AsWrittenConstructor(RoundTripConstructor):  # type: ignore[misc]
        def construct_yaml_int(self, node: Any) -> Any:
            text = str(node.value)
            if not _DECIMAL_INTEGER.fullmatch(text):
                return text
            digits = len(text.lstrip("-"))
            if digits > MAX_INTEGER_DIGITS:
                raise ConstructorError(None, None, f"a number of {digits:,} digits is longer than "
                                                   f"{MAX_INTEGER_DIGITS}; quote it if it is text",
                                       node.start_mark)
            return int(text)

        def construct_yaml_float(self, node: Any) -> Any:
            text = str(node.value)
            if not _DECIMAL_FLOAT.fullmatch(text):
                return text
            value = float(text)
            return value if math.isfinite(value) else text

        def construct_yaml_sbool(self, node: Any) -> Any:
            return _BOOLEAN.get(str(node.value), str(node.value))

        def construct_yaml_timestamp(self, node: Any, values: Any = None) -> Any:
            return str(node.value)

    for tag, method in (("int", "construct_yaml_int"), ("float", "construct_yaml_float"),
                        ("bool", "construct_yaml_sbool"), ("timestamp", "construct_yaml_timestamp")):
        AsWrittenConstructor.add_constructor(f"tag:yaml.org,2002:{tag}",
                                             getattr(AsWrittenConstructor, method))
    return AsWrittenConstructor


class _Converter:
    """Turns ruamel's commented containers into dicts and lists, recording positions, and
    refuses what JSON can't carry: tagged values, non-text keys, strings UTF-8 can't encode."""

    def __init__(self, document: Document, budget: int) -> None:
        self.document = document
        self.budget = budget
        self.seen: set[int] = set()
        self.copying = 0   # > 0 while converting a container met before: an alias's copy
        self.alias_at: PathKey = ()

    def plain(self, node: Any, path: PathKey, depth: int) -> Any:
        from ruamel.yaml.comments import CommentedMap, CommentedSeq
        from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString

        if self.copying:
            self.budget -= 1
            if self.budget < 0:
                raise self._alias_bomb()
        if isinstance(node, CommentedMap | CommentedSeq):
            if depth >= MAX_DEPTH:  # reachable through aliases of aliases, each one level deeper
                raise self._error(path, f"nested deeper than {MAX_DEPTH} levels")
            again = id(node) in self.seen
            self.seen.add(id(node))
            if again and not self.copying:
                self.alias_at = path
            self.copying += again
            try:
                if isinstance(node, CommentedMap):
                    return self._mapping(node, path, depth)
                return self._sequence(node, path, depth)
            finally:
                self.copying -= again
        if isinstance(node, LiteralScalarString | FoldedScalarString):
            self.document.block_scalars.add(path)
        if isinstance(node, str):
            self._check_text(node, path)
        if isinstance(node, list | tuple | AbstractSet | dict):
            raise self._error(path, "unsupported YAML collection (a tag such as !!pairs or !!set): "
                                    "write a plain list or mapping")
        value = plain_scalar(node)
        if not (value is None or isinstance(value, str | int | float)):
            raise self._error(path, f"unsupported YAML value {_tag_of(node)}: write text, a number, "
                                    "true/false, a list or a mapping")
        return value

    def _mapping(self, node: Any, path: PathKey, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in node.items():
            name = self._key(key, path)
            child = (*path, name)
            here = self.document.locate(path)
            self.document.keys[child] = _merged_position(node, key, "key") or here
            self.document.values[child] = _merged_position(node, key, "value") or here
            result[name] = self.plain(value, child, depth + 1)
        return result

    def _sequence(self, node: Any, path: PathKey, depth: int) -> list[Any]:
        items = []
        for index, value in enumerate(node):
            position = node.lc.item(index)
            self.document.values[(*path, index)] = (
                (position[0] + 1, position[1] + 1) if position else self.document.locate(path))
            items.append(self.plain(value, (*path, index), depth + 1))
        return items

    def _key(self, key: Any, path: PathKey) -> str:
        if isinstance(key, str):
            self._check_text(key, path)
            return str(key)
        if isinstance(key, int) and not isinstance(key, bool):
            return str(key)
        raise self._error(path, f"a mapping key must be text, not {_show(key)}")

    def _check_text(self, text: str, path: PathKey) -> None:
        if "\x00" in text:   # written as "\0" or "\x00": no file name, script or URL can hold it
            raise self._error(path, "a NUL character (\\0) is not text")
        if text.isascii():
            return
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise self._error(path, f"character U+{ord(text[exc.start]):04X} (a lone surrogate) "
                                    "is not text: UTF-8 can't carry it") from exc

    def _alias_bomb(self) -> ProjectError:
        # ruamel places an alias at its anchor; the key holding it is where it was used.
        path = self.alias_at
        keys = self.document.keys
        keyed = next((path[:depth] for depth in range(len(path), 0, -1) if path[:depth] in keys), ())
        line, column = self.document.keys.get(keyed, (1, 1))
        return ProjectError([Diagnostic(self.document.display, line, column, _path_text(path),
                                        "aliases expand this file past its limit of values (an alias "
                                        "bomb?); write the values out instead")])

    def _error(self, path: PathKey, message: str) -> ProjectError:
        return ProjectError([self.document.diagnostic(path, _path_text(path), message)])


def _merged_position(node: Any, key: Any, which: str) -> tuple[int, int] | None:
    """Where ``key`` (or its value) was written: in the mapping itself or, for a key it has
    through a merge key (``<<: *defaults``), in the mapping it was merged from; None if ruamel
    didn't record it (an ``!!omap``)."""
    try:
        position = node.lc.key(key) if which == "key" else node.lc.value(key)
    except KeyError:
        position = None
    if position:
        return position[0] + 1, position[1] + 1
    for source in getattr(node, "merge", ()):
        if key in source:
            return _merged_position(source, key, which)
    return None


def _tag_of(node: Any) -> str:
    tag = getattr(node, "tag", None)
    name = getattr(tag, "value", None) or (tag if isinstance(tag, str) else None)
    return f"{name} ({type(node).__name__})" if name else f"of type {type(node).__name__}"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _path_text(path: PathKey) -> str:
    out = ""
    for part in path[:8]:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out + ("..." if len(path) > 8 else "")


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
