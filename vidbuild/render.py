"""Template stage: compile spec strings once in Jinja's sandbox and render them per row.

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

_WHOLE_EXPRESSION = re.compile(r"^\{\{(?P<expression>(?:(?!\}\}|\{\{|\{%).)+)\}\}$", re.DOTALL)
_HAS_SYNTAX = ("{{", "{%", "{#")
_MISSING_ATTRIBUTE = re.compile(r"^'dict object' has no attribute '(?P<name>[^']*)'$")


class TemplateFailure(Exception):
    """A template could not be compiled or rendered; ``file``/``line`` name the template if known."""

    def __init__(self, message: str, file: str | None = None, line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line


@dataclass(frozen=True)
class Compiled:
    """A compiled template value: call it with a context to get the rendered value."""

    source: str
    render: Callable[[Mapping[str, Any]], Any]


class Renderer:
    """Owns the sandboxed Jinja environment whose loader searches project, then built-in templates."""

    def __init__(self, search_path: list[Path]) -> None:
        from jinja2 import FileSystemLoader, StrictUndefined
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        self.search_path = [p for p in search_path if p.is_dir()]
        self.environment = ImmutableSandboxedEnvironment(
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
            return value
        from jinja2 import TemplateSyntaxError

        try:
            whole = _WHOLE_EXPRESSION.match(value.strip())
            if whole:
                return Compiled(value, self._expression(whole["expression"]))
            template = self.environment.from_string(value)
            return Compiled(value, lambda context: template.render(context))
        except TemplateSyntaxError as exc:
            raise TemplateFailure(f"template syntax error: {exc.message}",
                                  self._shown(exc.filename), exc.lineno) from exc

    def compile_condition(self, expression: str) -> Callable[[Mapping[str, Any]], Any]:
        from jinja2 import TemplateSyntaxError

        try:
            return self._expression(expression)
        except TemplateSyntaxError as exc:
            raise TemplateFailure(f"expression syntax error: {exc.message}") from exc

    def _expression(self, source: str) -> Callable[[Mapping[str, Any]], Any]:
        """Compile one expression. Its generated code has no template lines to map back to, so a
        failure is reported at the field itself, not at a line number of Jinja's generated code."""
        compiled = self.environment.compile_expression(source, undefined_to_none=False)

        def evaluate(context: Mapping[str, Any]) -> Any:
            try:
                return _defined(compiled(**context))
            except Exception as exc:  # as in call(): a filter's TypeError, a SecurityError...
                raise TemplateFailure(_message(exc)) from exc

        return evaluate

    def call(self, compiled: Callable[[Mapping[str, Any]], Any], context: Mapping[str, Any]) -> Any:
        """Run a compiled template; every Jinja or Python failure becomes a TemplateFailure."""
        try:
            return compiled(context)
        except TemplateFailure:
            raise
        except Exception as exc:  # a template may raise anything: a filter's TypeError, a SecurityError...
            file, line = self._frame(exc)
            raise TemplateFailure(_message(exc), file, line) from exc

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
        from vidbuild.project import display_path

        return display_path(Path(filename))


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
        return f"template syntax error: {exc.message}"
    if isinstance(exc, SecurityError):
        return f"not allowed in the sandbox: {exc}"
    return f"{type(exc).__name__}: {exc}"
