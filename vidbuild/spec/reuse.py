"""Expansion that skips the rows a build knows unchanged (see planner/fingerprint.py): the rows are
read a page at a time, looked up together, and only the others are rendered."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from vidbuild.errors import ProjectError
from vidbuild.spec.diagnostics import DiagnosticSink
from vidbuild.spec.output_paths import OutputDirectories
from vidbuild.spec.rows import Row, RowTaker

PAGE = 256   # rows read before they are looked up in state together

# Jobs are typed Any here: spec/expand.py imports this module, so this one can't import it back.


class Expanding(Protocol):
    """What of ``spec.expand.Expander`` reusing needs."""

    title_marker: bool
    directories: OutputDirectories

    def expand(self, row: Row, sink: DiagnosticSink, fingerprint: str | None = None) -> Any: ...
    def admit(self, row: Row, key: str, output: str, sink: DiagnosticSink, thumbnail: str | None) -> bool: ...
    def admit_known(self, index: int, file: str, line: int, key: str, output: str, thumbnail: str | None,
                    sink: DiagnosticSink) -> bool: ...
    def admit_known_many(self, indexes: Sequence[int], file: str, lines: Sequence[int], keys: list[str],
                         outputs: list[str], thumbnails: list[str]) -> bool: ...


# A row the reuse found as the last complete build had it: the number of its last row there (an
# ``int``, cheaper than any wrapper for 100,000 rows). It is admitted and settled in its place in
# the data (``Reuse.settle_taken``), never yielded.
Taken = int


class Reuse(Protocol):
    """What a build knows of rows it built before (``expand_project``'s ``reuse``)."""

    def page(self, expander: Expanding, rows: Sequence[Row]) -> list[tuple[str | None, Any]]:
        """Per row of ``rows``: its fingerprint (None if it has none), and a body-less Job with
        ``unchanged`` set if the row is known up to date, or a ``Taken`` (int), else None (it is
        then expanded)."""
        ...

    def settle_taken(self, expander: Expanding, row: Row, taken: Taken, sink: DiagnosticSink) -> bool:
        """Admit and settle a ``Taken`` row, in its place in the data: False (its problem in
        ``sink``) if it can't be admitted."""
        ...

    def taker(self) -> RowTaker | None:
        """The reader's hook that takes rows as they are read, never yielded (None: none is)."""
        ...

    def settle_read(self, expander: Expanding, sink: DiagnosticSink, before: int | None) -> None:
        """Admit and settle the rows ``taker`` took before position ``before`` (None: all)."""
        ...


def reusing(expander: Expanding, reuse: Reuse, rows: Iterator[Row],
            sink: DiagnosticSink) -> Iterator[Any]:
    """Expand ``rows`` a page at a time, skipping those ``reuse`` knows unchanged (they are only
    admitted: see ``Expander.admit``), and settling in their places the rows ``reuse.taker`` took
    as they were read (``rows`` must come from ``read_rows`` with that taker). A file-level error
    (ProjectError) mid-page still lets the rows read before it be expanded first."""
    failure: ProjectError | None = None
    while True:
        page: list[Row] = []
        try:
            page.extend(itertools.islice(rows, PAGE))
        except ProjectError as exc:
            failure = exc
        if not page and failure is None:
            reuse.settle_read(expander, sink, None)
            return
        for row, (fingerprint, known) in zip(page, reuse.page(expander, page), strict=True):
            reuse.settle_read(expander, sink, row.index)
            if type(known) is int:   # Taken
                if not reuse.settle_taken(expander, row, known, sink):
                    yield None
            elif known is not None:
                yield known if expander.admit(row, known.key, known.output, sink, known.thumbnail) else None
            else:
                yield expander.expand(row, sink, fingerprint)
        reuse.settle_read(expander, sink, None)
        if failure is not None:
            raise failure
