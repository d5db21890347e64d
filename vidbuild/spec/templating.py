"""Spec strings compiled once in Jinja's sandbox and rendered per row, alone or as whole trees.

A string that is exactly one ``{{ expression }}`` keeps the expression's own type (a number stays a
number); any other string with Jinja syntax renders to text; plain strings are left alone. Row values
are only ever passed in as data: they are never parsed as templates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidbuild.errors import RefusedValue, TemplateError
from vidbuild.spec.hashing import canonical_value
from vidbuild.spec.template_rules import as_data, environment_class, syntax_message

_WHOLE_EXPRESSION = re.compile(r"^\{\{(?P<expression>(?:(?!\}\}|\{\{|\{%).)+)\}\}$", re.DOTALL)
_HAS_SYNTAX = ("{{", "{%", "{#")
_MISSING_ATTRIBUTE = re.compile(r"^'dict object' has no attribute '(?P<name>[^']*)'$")


@dataclass(frozen=True)
class Compiled:
    """A compiled template value: call it with a context to get the rendered value."""

    source: str
    render: Callable[[Mapping[str, Any]], Any]


class Renderer:
    """Owns the sandboxed Jinja environment whose loader searches project, then built-in templates."""

    def __init__(self, search_path: list[Path]) -> None:
        from jinja2 import FileSystemLoader, StrictUndefined

        self.search_path = [p for p in search_path if p.is_dir()]
        self.environment = environment_class()(
            undefined=StrictUndefined, loader=FileSystemLoader(self.search_path),
            autoescape=False, keep_trailing_newline=False)

    def compile(self, value: Any) -> Any:
        """A literal stays as it is; a string with Jinja syntax becomes a Compiled; the items of
        a list (such as an agent's script) are compiled one by one."""
        if isinstance(value, list):
            return [self.compile(item) for item in value]
        if isinstance(value, dict):
            return {key: self.compile(item) for key, item in value.items()}
        if not isinstance(value, str) or not any(mark in value for mark in _HAS_SYNTAX):
            return canonical_value(value)
        from jinja2 import TemplateSyntaxError

        try:
            whole = _WHOLE_EXPRESSION.match(value.strip())
            if whole:
                expression = self._expression(whole["expression"])
                return Compiled(value, _with_fast_path(_interpolation(value.strip()), expression,
                                                       whole=True))
            template = self.environment.from_string(value)
            return Compiled(value, _with_fast_path(_interpolation(value),
                                                   lambda context: template.render(context)))
        except TemplateSyntaxError as exc:
            raise TemplateError(syntax_message(exc), self._shown(exc.filename), exc.lineno) from exc
        except RecursionError as exc:  # Jinja's parser and code generator recurse per nesting level
            raise TemplateError("template nested too deeply") from exc

    def compile_condition(self, expression: str) -> Callable[[Mapping[str, Any]], Any]:
        from jinja2 import TemplateSyntaxError

        try:
            return self._expression(expression)
        except TemplateSyntaxError as exc:
            message = syntax_message(exc).replace("template syntax error", "expression syntax error")
            raise TemplateError(message) from exc
        except RecursionError as exc:
            raise TemplateError("expression nested too deeply") from exc

    def _expression(self, source: str) -> Callable[[Mapping[str, Any]], Any]:
        """Compile one expression. Its generated code has no template lines to map back to, so a
        failure is reported at the field itself, not at a line number of Jinja's generated code."""
        compiled = self.environment.compile_expression(source, undefined_to_none=False)

        def evaluate(context: Mapping[str, Any]) -> Any:
            try:
                return canonical_value(as_data(_defined(compiled(**context))))
            except Exception as exc:  # as in call(): a filter's TypeError, a SecurityError...
                raise TemplateError(_message(exc)) from exc

        return evaluate

    def call(self, compiled: Callable[[Mapping[str, Any]], Any], context: Mapping[str, Any]) -> Any:
        """Run a compiled template; every Jinja or Python failure becomes a TemplateError."""
        try:
            return compiled(context)
        except TemplateError:
            raise
        except Exception as exc:  # a template may raise anything: a filter's TypeError, a SecurityError...
            file, line = self._frame(exc)
            raise TemplateError(_message(exc), file, line) from exc

    def _frame(self, exc: BaseException) -> tuple[str | None, int]:
        """The template file and line that raised, from the traceback Jinja rewrites for us."""
        found: tuple[str | None, int] = (None, 0)
        traceback = exc.__traceback__
        while traceback is not None:
            filename = traceback.tb_frame.f_code.co_filename
            if filename == "<template>":
                found = (None, traceback.tb_lineno)
            elif any(filename.startswith(str(root)) for root in self.search_path):
                found = (self._shown(filename), traceback.tb_lineno)
            traceback = traceback.tb_next
        if found == (None, 0):
            from jinja2 import TemplateSyntaxError

            if isinstance(exc, TemplateSyntaxError):
                return self._shown(exc.filename), exc.lineno or 0
        return found

    @staticmethod
    def _shown(filename: str | None) -> str | None:
        if not filename or filename == "<template>":
            return None
        from vidbuild.spec.project import display_path

        return display_path(Path(filename))


# Most personalisation is plain substitution ("Hi {{ row.first_name }}"). Such templates are
# rendered by joining strings, which gives Jinja's exact output at a fraction of its cost; anything
# else (filters, tags, a missing column, a name that is also a dict method) goes to Jinja.
_LOOKUP = re.compile(r"\{\{\s*(?P<path>[A-Za-z]\w*(?:\.[A-Za-z]\w*)*)\s*\}\}")
_DICT_ATTRIBUTES = frozenset(dir(dict))
Part = str | tuple[str, ...]


class _NotSimple(Exception):
    """This row needs the real template: Jinja decides (and words any error)."""


def _interpolation(source: str) -> list[Part] | None:
    """Literal text and lookup paths, if ``source`` is nothing but ``{{ a.b.c }}`` substitutions."""
    if "\r" in source or source.endswith("\n"):
        return None  # Jinja rewrites newlines and drops a trailing one: let it
    parts: list[Part] = []
    position = 0
    for match in _LOOKUP.finditer(source):
        parts += [source[position:match.start()], tuple(match["path"].split("."))]
        position = match.end()
    parts.append(source[position:])
    if any(isinstance(p, str) and any(mark in p for mark in _HAS_SYNTAX) for p in parts):
        return None
    return parts


def _lookup(context: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value = context.get(path[0], _MISSING)
    for name in path[1:]:
        if type(value) is not dict or name in _DICT_ATTRIBUTES:
            raise _NotSimple
        value = value.get(name, _MISSING)
    if value is _MISSING:
        raise _NotSimple
    return value


_MISSING = object()


def _text_of(value: Any) -> str:
    if value is None:
        raise _NotSimple   # Jinja's path refuses to print it, with the row and column
    return str(value)


def _with_fast_path(parts: list[Part] | None, jinja: Callable[[Mapping[str, Any]], Any], *,
                    whole: bool = False) -> Callable[[Mapping[str, Any]], Any]:
    if parts is None:
        return jinja
    if whole:
        path = next(p for p in parts if isinstance(p, tuple))

        def value(context: Mapping[str, Any]) -> Any:
            try:
                return canonical_value(_lookup(context, path))
            except _NotSimple:
                return jinja(context)

        return value

    def text(context: Mapping[str, Any]) -> Any:
        try:
            return "".join(p if isinstance(p, str) else _text_of(_lookup(context, p)) for p in parts)
        except _NotSimple:
            return jinja(context)

    return text


def _defined(value: Any) -> Any:
    from jinja2 import Undefined

    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming what is missing
    return value


def _message(exc: BaseException) -> str:
    from jinja2 import TemplateNotFound, TemplateSyntaxError, UndefinedError
    from jinja2.exceptions import SecurityError

    if isinstance(exc, UndefinedError):
        missing = _MISSING_ATTRIBUTE.match(str(exc))
        if missing:
            return f"undefined: no column or field '{missing['name']}'"
        return f"undefined: {exc}"
    if isinstance(exc, TemplateNotFound):
        return f"template not found: {exc.name}"
    if isinstance(exc, TemplateSyntaxError):
        return syntax_message(exc)
    if isinstance(exc, RefusedValue):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "recursion too deep (a macro or include that calls itself?)"
    if isinstance(exc, SecurityError):
        return f"not allowed in the sandbox: {exc}"
    return f"{type(exc).__name__}: {exc}"


Render = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Condition:
    """A compiled scene ``when`` expression, so that a tree renderer calls it like a template."""

    test: Render


def tree_renderer(tree: Any, call: Callable[[Render, Mapping[str, Any]], Any]) -> Render:
    """A function that renders ``tree`` (Compiled values and Conditions among literals, in dicts
    and lists) per context, each template run through ``call`` (``Renderer.call``). Static parts
    are shared between rows instead of copied, so a row pays only for its templated fields."""
    build = _build_renderer(tree, call)
    return build if build is not None else _copy_top(tree)


def _build_renderer(node: Any, call: Callable[[Render, Mapping[str, Any]], Any]) -> Render | None:
    """A renderer for ``node``, or None if nothing in it is templated."""
    if isinstance(node, Compiled | Condition):
        function = node.render if isinstance(node, Compiled) else node.test
        return lambda context: call(function, context)
    if isinstance(node, dict):
        parts = [(name, child, _build_renderer(child, call)) for name, child in node.items()]
        if all(render is None for _, _, render in parts):
            return None
        static = {name: child for name, child, render in parts if render is None}
        dynamic = [(name, render) for name, _, render in parts if render is not None]
        return lambda context: {**static, **{name: render(context) for name, render in dynamic}}
    if isinstance(node, list):
        items = [(child, _build_renderer(child, call)) for child in node]
        if all(render is None for _, render in items):
            return None
        return lambda context: [child if render is None else render(context) for child, render in items]
    return None


def _copy_top(tree: Any) -> Render:
    # A static tree is shared between rows; only its top level is copied, since callers edit it.
    if isinstance(tree, dict):
        return lambda context: dict(tree)
    if isinstance(tree, list):
        return lambda context: list(tree)
    return lambda context: tree
