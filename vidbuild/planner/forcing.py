"""Plan stage, forcing: which rows ``--force`` plans as rebuilds, chosen with the selectors
``--select`` takes (planner/select.py): a key, a key glob, ``COLUMN=VALUE``, ``state:STATE``.

A row a key, glob or column selector names is forced whatever state says (it pays again). A
``state:`` selector is asked of the row's unforced step, so ``--force state:failed`` resubmits
exactly the rows that failed, permanent failures included. A plain key that names no row is an
error, as with ``--select`` (a typo must not force nothing quietly), as is a column no row has.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any

from vidbuild.errors import UsageError
from vidbuild.planner.decide import Step
from vidbuild.planner.select import Selector, cell_text, parse_selector, row_state
from vidbuild.spec.expand import Job


class Forcing:
    """The parsed ``--force`` values; UsageError (exit 2) for one that can't mean anything."""

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self.selectors = tuple(parse_selector(text, "--force") for text in texts)
        self._states = tuple(selector for selector in self.selectors if selector.kind == "state")

    def __bool__(self) -> bool:
        return bool(self.selectors)

    def may_force(self, key: str, values: Mapping[str, Any]) -> bool:
        """Whether the row with ``key`` and data ``values`` could be forced, before it is planned:
        then it must not be taken as unchanged (a known-unchanged row has no body to send).
        Only ``state:built`` can force a row known unchanged, which is built by definition."""
        if any(selector.state == "built" for selector in self._states):
            return True
        return any(_names(selector, key, values) for selector in self.selectors)

    def forces_job(self, job: Job) -> bool:
        """Whether a key, glob or column selector forces ``job``."""
        return any(_names(selector, job.key, job.row.values) for selector in self.selectors)

    def applied(self, step: Step) -> Step:
        """``step`` (planned unforced), or a forced rebuild when a ``state:`` selector matches it."""
        for selector in self._states:
            if row_state(step) == selector.state:
                return dataclasses.replace(step, action="submit", look_first=False,
                                           reason=f"forced rebuild (--force {selector.text})")
        return step

    def missing(self, keys_seen: set[str], columns_seen: set[str]) -> list[str]:
        """What the selectors name that no row has, as messages (after every row went by)."""
        unknown = sorted(selector.pattern for selector in self.selectors
                         if selector.kind == "key" and selector.pattern not in keys_seen)
        problems = [f"no row with key {', '.join(unknown)}"] if unknown else []
        problems += [f"{selector.text}: no row has a data column {selector.column!r}"
                     for selector in self.selectors
                     if selector.kind == "column" and selector.column not in columns_seen]
        return problems

    def check(self, keys_seen: set[str], columns_seen: set[str]) -> None:
        problems = self.missing(keys_seen, columns_seen)
        if problems:
            raise UsageError("--force: " + "; ".join(problems))


def _names(selector: Selector, key: str, values: Mapping[str, Any]) -> bool:
    if selector.kind == "column":
        return selector.column in values and cell_text(values[selector.column]) == selector.pattern
    if selector.kind == "glob":
        return fnmatch.fnmatchcase(key, selector.pattern)
    return selector.kind == "key" and key == selector.pattern
