"""What vidbuild's Jinja refuses, so that a body is what its row says.

Jinja is lenient where a build tool can't be: ``"fast" | float`` is a silent ``0.0``; ``random``
and ``lipsum`` give a different body on every expansion (an unchanged row would be paid for again,
and ``lipsum`` made every build fail); printing a generator or a method prints a memory address,
which changes from run to run. Each of these becomes an error naming what was refused.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from typing import Any

from vidbuild.errors import RefusedValue
from vidbuild.spec.load import MAX_INTEGER_DIGITS

# Jinja names whose result changes between two renders of the same row.
NON_DETERMINISTIC_FILTERS = frozenset({"random"})
NON_DETERMINISTIC_GLOBALS = frozenset({"lipsum"})
MAX_BUILT_LENGTH = 10_000_000   # characters or items a template may build by repetition
MAX_POWER_BITS = 100_000

_INTEGER = re.compile(r"\s*[-+]?[0-9]+\s*")
_DECIMAL = re.compile(r"\s*[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*")
_DECIMAL_COMMA = re.compile(r"\s*[-+]?[0-9]*,[0-9]+\s*")
_UNSET: Any = object()
_PLAIN = (str, int, float, bool, type(None))


NULL_PRINTED = ("can't print a null (an empty value in the data): give the row a value, or write "
                "`| default('…', true)` or test it with `is none`")


def not_deterministic(name: str, kind: str) -> str:
    """The message for a filter or global whose result changes between renders of one row."""
    shown = f"the `{name}` filter" if kind == "filter" else f"`{name}()`"
    return (f"{shown} is not allowed: it gives a different body on every expansion, so an unchanged "
            f"row would be rebuilt and paid for again; a body must depend on its row alone")


def refused_uses(tree: Any) -> list[tuple[int, str]]:
    """(line, message) for every non-deterministic filter or global in a parsed template or expression."""
    from jinja2 import nodes

    found = []
    for node in (tree, *tree.find_all((nodes.Filter, nodes.Name))):
        if isinstance(node, nodes.Filter) and node.name in NON_DETERMINISTIC_FILTERS:
            found.append((node.lineno, not_deterministic(node.name, "filter")))
        elif isinstance(node, nodes.Name) and node.ctx == "load" and node.name in NON_DETERMINISTIC_GLOBALS:
            found.append((node.lineno, not_deterministic(node.name, "global")))
    return found


@functools.cache
def environment_class() -> type:
    """Jinja's immutable sandbox, refusing non-deterministic names in every template it parses
    (the project's strings, included files and ``when`` expressions alike) and printing only data."""
    from jinja2 import TemplateSyntaxError, pass_context
    from jinja2.parser import Parser
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def check(tree: Any, name: str | None, filename: str | None) -> None:
        refused = refused_uses(tree)
        if refused:
            line, message = refused[0]
            error = TemplateSyntaxError(message, line, name, filename)
            error.refused = True  # type: ignore[attr-defined]
            raise error

    class StrictEnvironment(ImmutableSandboxedEnvironment):  # type: ignore[misc]
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            refused = oversized(operator, left, right)
            if refused:
                raise RefusedValue(refused)
            return super().call_binop(context, operator, left, right)

        def __init__(self, **options: Any) -> None:
            super().__init__(finalize=printable, **options)
            for name in NON_DETERMINISTIC_FILTERS:
                self.filters.pop(name, None)  # also unreachable through map('random')
            for name in NON_DETERMINISTIC_GLOBALS:
                self.globals.pop(name, None)
            # The strict number filters take the render context to name the column of a bad value.
            self.filters["float"] = pass_context(to_float)
            self.filters["int"] = pass_context(to_int)

        def _parse(self, source: str, name: str | None, filename: str | None) -> Any:
            tree = super()._parse(source, name, filename)
            check(tree, name, filename)
            return tree

        def compile_expression(self, source: str, undefined_to_none: bool = True) -> Any:
            try:
                expression = Parser(self, source, state="variable").parse_expression()
            except TemplateSyntaxError:
                expression = None  # Jinja's own compile says what is wrong with it
            if expression is not None:
                check(expression, None, None)
            return super().compile_expression(source, undefined_to_none)

    return StrictEnvironment


def oversized(operator: str, left: Any, right: Any) -> str | None:
    """Why ``left operator right`` would build a value too big to be part of a body, or None.

    ``'x' * 10**10`` would allocate 10 GB and ``10**10**10`` would compute for hours.
    """
    if operator == "*":
        for sequence, count in ((left, right), (right, left)):
            if isinstance(sequence, str | list | tuple) and isinstance(count, int):
                if len(sequence) * count > MAX_BUILT_LENGTH:
                    return f"repeating a sequence {count:,} times makes more than {MAX_BUILT_LENGTH:,} items"
    elif isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
        if right * abs(left).bit_length() > MAX_POWER_BITS:
            return f"{left} ** {right} is too large a number"
    return None


def syntax_message(exc: Any) -> str:
    """A TemplateSyntaxError as shown: a refusal speaks for itself, anything else is a syntax error."""
    return str(exc.message) if getattr(exc, "refused", False) else f"template syntax error: {exc.message}"


def printable(value: Any) -> Any:
    """What ``{{ }}`` may print: data (text, numbers, booleans, lists, mappings), not an object
    whose text holds a memory address (a generator, a method, a cycler), nor a null, which Python
    would print as the word "None" into a paid video."""
    if value is None:
        raise RefusedValue(NULL_PRINTED)
    if type(value) in _PLAIN:
        return value
    from jinja2 import Undefined

    if isinstance(value, Undefined):
        return value
    return as_data(value)


def as_data(value: Any) -> Any:
    """``value`` as plain JSON-like data: Jinja's Markup (from ``tojson`` or ``escape``) becomes a
    plain str, tuples become lists; anything else that isn't data raises RefusedValue."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {key: as_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [as_data(item) for item in value]
    kind = "function or method" if callable(value) else type(value).__name__
    hint = " (add `| list` or `| join(', ')`)" if kind == "generator" else ""
    raise RefusedValue(f"can't print a {kind}: only text, numbers, lists and mappings{hint}")


def to_float(context: Any, value: Any, default: Any = _UNSET) -> Any:
    """The ``float`` filter: a number, or a string written as a decimal number; else the default
    if one is given, else an error naming the value and its column (Jinja's would be ``0.0``)."""
    if _finite_number(value):
        return float(value)
    if isinstance(value, str) and _DECIMAL.fullmatch(value) and math.isfinite(float(value)):
        return float(value)
    if default is not _UNSET:
        return default
    raise RefusedValue(_not_a_number(context, value, "float"))


def to_int(context: Any, value: Any, default: Any = _UNSET, base: int = 10) -> Any:
    """The ``int`` filter: an integer, a number (truncated, as Jinja does) or a string written as
    one in ``base``; else the default if one is given, else an error naming the value and column."""
    if _finite_number(value):
        return int(value)
    if isinstance(value, str) and len(value.strip()) <= MAX_INTEGER_DIGITS:
        if base == 10 and _INTEGER.fullmatch(value):
            return int(value)
        if base == 10 and _DECIMAL.fullmatch(value) and math.isfinite(float(value)):
            return int(float(value))
        if base != 10:
            try:
                return int(value, base)
            except ValueError:
                pass
    if default is not _UNSET:
        return default
    raise RefusedValue(_not_a_number(context, value, "int"))


def _finite_number(value: Any) -> bool:
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _not_a_number(context: Any, value: Any, filter_name: str) -> str:
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    message = f"{shown}{_column_of(context, value)} is not a number (`| {filter_name}`)"
    if isinstance(value, str) and _DECIMAL_COMMA.fullmatch(value):
        message += ("; a decimal comma? write it with a point, or convert it: "
                    f"`| replace(',', '.') | {filter_name}`")
    return message


def _column_of(context: Any, value: Any) -> str:
    """`` in column X`` if ``value`` is one of the row's cells (the very object, else an equal one)."""
    row = context.get("row") if hasattr(context, "get") else None
    if not isinstance(row, Mapping):
        return ""
    names = [name for name, cell in row.items() if cell is value]
    if len(names) != 1:
        names = [name for name, cell in row.items() if type(cell) is type(value) and cell == value]
    return f" in column {names[0]}" if len(names) == 1 else ""
