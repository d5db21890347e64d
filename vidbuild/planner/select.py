"""Plan stage, row selection: which rows a command acts on (``--select`` / ``--exclude``, as dbt's).

A selector is one of

    KEY or GLOB        a row's key, or a shell-style pattern of keys (``r0*``, ``team-?``, ``[ab]*``)
    key:KEY-OR-GLOB    the same, for a key that contains ``=`` or starts with ``state:``
    COLUMN=VALUE       rows whose data column COLUMN holds VALUE, as written (numbers and booleans
                       as JSON writes them: ``42``, ``true``; an empty cell is ``COLUMN=``)
    state:STATE        by what a build would do with the row: ``new`` (never built), ``changed``
                       (its body changed since it was built), ``failed`` (its last render or
                       submission failed), ``pending`` (submitted and not yet downloaded: polling,
                       reconciling, waiting for another build, or downloading), ``built``
                       (up to date)

Several ``--select`` values are a union; ``--exclude`` values are taken away from it. Without
``--select`` every row is selected. A plain key that names no row is an error (a typo must not
select nothing quietly), as is a column no row has; a pattern, a value or a state may match
nothing, which is said on stderr as a warning (as dbt does), as is a selection of no row at all.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from vidbuild.errors import UsageError
from vidbuild.planner.decide import Step
from vidbuild.spec.expand import Job

State = Literal["new", "changed", "failed", "pending", "built"]
STATES: tuple[State, ...] = ("new", "changed", "failed", "pending", "built")
_PENDING_ACTIONS = frozenset({"poll", "wait", "reconcile", "download"})
_GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class Selector:
    """One parsed selector; ``text`` is as the user wrote it (for messages)."""

    text: str
    option: str                                  # "--select" or "--exclude"
    kind: Literal["key", "glob", "column", "state"]
    pattern: str = ""                            # the key, the glob, or the column's value
    column: str = ""
    state: State | None = None

    def matches_job(self, job: Job) -> bool:
        """Whether the row matches; a state selector needs its step (``matches``)."""
        if self.kind == "key":
            return job.key == self.pattern
        if self.kind == "glob":
            return fnmatch.fnmatchcase(job.key, self.pattern)
        if self.kind == "column":
            values = job.row.values
            return self.column in values and cell_text(values[self.column]) == self.pattern
        return False

    def matches(self, step: Step) -> bool:
        if self.kind == "state":
            return row_state(step) == self.state
        return self.matches_job(step.job)


def parse_selector(text: str, option: str) -> Selector:
    """One selector from the command line; UsageError (exit 2) for one that can't mean anything."""
    if not text.strip():
        raise UsageError(f"{option}: an empty selector selects nothing; give a key, a pattern, "
                         f"COLUMN=VALUE or state:STATE")
    if text.startswith("state:"):
        state = text.removeprefix("state:")
        for known in STATES:
            if state == known:
                return Selector(text, option, "state", state=known)
        raise UsageError(f"{option} {text}: unknown state {state!r} (one of {', '.join(STATES)})")
    if text.startswith("key:"):
        return _key_selector(text, option, text.removeprefix("key:"))
    if "=" in text:
        column, value = text.split("=", 1)
        if not column:
            raise UsageError(f"{option} {text}: no column before '=' (write COLUMN=VALUE, or "
                             f"key:{text} for a key)")
        return Selector(text, option, "column", pattern=value, column=column)
    return _key_selector(text, option, text)


def _key_selector(text: str, option: str, key: str) -> Selector:
    if not key:
        raise UsageError(f"{option} {text}: no key after 'key:'")
    kind: Literal["key", "glob"] = "glob" if _GLOB_CHARACTERS & set(key) else "key"
    return Selector(text, option, kind, pattern=key)


def cell_text(value: Any) -> str:
    """A data cell as a selector compares it: text as written, anything else as JSON writes it."""
    return value if isinstance(value, str) else json.dumps(value)


def row_state(step: Step) -> State:
    """What the plan says about a row, in the words of ``state:`` selectors."""
    record = step.record
    if record is not None and record.status == "failed":
        return "failed"
    if step.action in _PENDING_ACTIONS:
        return "pending"
    if step.action == "up-to-date":
        return "built"
    # A submit with no record: "changed: …" when the key was built with another body.
    return "changed" if step.reason.startswith("changed") else "new"


@dataclass
class Selection:
    """The rows ``--select`` and ``--exclude`` pick, checked as the rows stream by."""

    select: tuple[Selector, ...] = ()
    exclude: tuple[Selector, ...] = ()
    _matched: set[Selector] = field(default_factory=set)
    _columns_seen: set[str] = field(default_factory=set)
    _chosen: int = 0
    _warned: bool = False

    @classmethod
    def parse(cls, select: Sequence[str] | None = None, exclude: Sequence[str] | None = None) -> Selection:
        return cls(tuple(parse_selector(text, "--select") for text in select or ()),
                   tuple(parse_selector(text, "--exclude") for text in exclude or ()))

    @property
    def everything(self) -> bool:
        return not (self.select or self.exclude)

    @property
    def needs_state(self) -> bool:
        """Whether a selector asks about state (so the rows must be planned to be selected)."""
        return any(selector.kind == "state" for selector in (*self.select, *self.exclude))

    def wants(self, step: Step) -> bool:
        """Whether the row of ``step`` is selected; records which selectors matched."""
        return self._wanted(step.job, lambda selector: selector.matches(step))

    def wants_job(self, job: Job) -> bool:
        """``wants`` for commands that don't plan (compile, validate): no state selectors."""
        if self.needs_state:
            raise UsageError("state: selectors need the build's state: use them with plan, build, "
                             "status or retry")
        return self._wanted(job, lambda selector: selector.matches_job(job))

    def steps(self, steps: Iterable[Step]) -> Iterator[Step]:
        """The selected steps, then (once every row went by) UsageError for a selector that
        names what no row has."""
        for step in steps:
            if self.wants(step):
                yield step
        self.check_matched()

    def check_matched(self) -> None:
        """UsageError for a plain key that named no row, or a column no row has; then a warning
        on stderr for each other selector that matched no row, and when no row is selected."""
        for selector in (*self.select, *self.exclude):
            if selector.kind == "key" and selector not in self._matched:
                raise UsageError(f"{selector.option} {selector.text}: no row with key {selector.pattern}")
            if selector.kind == "column" and selector.column not in self._columns_seen:
                raise UsageError(f"{selector.option} {selector.text}: no row has a data column "
                                 f"{selector.column!r}")
        if not self._warned:   # a command may check twice (a build's index, then its run)
            self._warned = True
            for text in self.unmatched():
                print(f"vidbuild: warning: {text}", file=sys.stderr)

    def unmatched(self) -> list[str]:
        """What to warn about once every row went by: ``--select`` selectors that matched no row,
        and a selection of no row at all (nothing to do)."""
        texts = [f"{selector.option} {selector.text} matches no row"   # an --exclude may well not
                 for selector in self.select if selector not in self._matched]
        if not self.everything and not self._chosen:
            texts.append("no row is selected: nothing to do")
        return texts

    def _wanted(self, job: Job, match: Callable[[Selector], bool]) -> bool:
        self._note_columns(job)
        # Both lists are tried for every row, so each selector's matches are all recorded.
        chosen = self._any(self.select, match) or not self.select
        excluded = self._any(self.exclude, match)
        self._chosen += chosen and not excluded
        return chosen and not excluded

    def _any(self, selectors: tuple[Selector, ...], match: Callable[[Selector], bool]) -> bool:
        hit = False
        for selector in selectors:   # every selector is tried, so each one's match is recorded
            if match(selector):
                self._matched.add(selector)
                hit = True
        return hit

    def _note_columns(self, job: Job) -> None:
        if any(selector.kind == "column" for selector in (*self.select, *self.exclude)):
            self._columns_seen.update(job.row.values)

