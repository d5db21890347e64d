"""Expansion that skips the rows a build knows unchanged (see planner/fingerprint.py): the rows are
read a page at a time, looked up together, and only the others are rendered."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from vidbuild.errors import ProjectError
from vidbuild.spec.diagnostics import DiagnosticSink
from vidbuild.spec.output_paths import OutputDirectories
from vidbuild.spec.rows import Row

PAGE = 256   # rows read before they are looked up in state together

# Jobs are typed Any here: spec/expand.py imports this module, so this one can't import it back.


class Expanding(Protocol):
    """What of ``spec.expand.Expander`` reusing needs."""

    title_marker: bool
    directories: OutputDirectories

    def expand(self, row: Row, sink: DiagnosticSink, fingerprint: str | None = None) -> Any: ...
    def admit(self, row: Row, key: str, output: str, sink: DiagnosticSink, thumbnail: str | None,
              paths: bool = True) -> bool: ...


TAKEN = "taken"       # a row the reuse settled itself (admitted, its output noted): not yielded
REFUSED = "refused"   # a row the reuse found unchanged but could not admit (the problem is in the sink)


class Reuse(Protocol):
    """What a build knows of rows it built before (``expand_project``'s ``reuse``)."""

    def page(self, expander: Expanding, rows: Sequence[Row],
             sink: DiagnosticSink) -> list[tuple[str | None, Any]]:
        """Per row of ``rows``: its fingerprint (None if it has none), and a body-less Job with
        ``unchanged`` set if the row is known up to date, else None (it is then expanded), or
        ``TAKEN`` or ``REFUSED``."""
        ...


def reusing(expander: Expanding, reuse: Reuse, rows: Iterator[Row],
            sink: DiagnosticSink) -> Iterator[Any]:
    """Expand ``rows`` a page at a time, skipping those ``reuse`` knows unchanged (they are only
    admitted: see ``Expander.admit``). A file-level error (ProjectError) mid-page still lets the
    rows read before it be expanded first."""
    failure: ProjectError | None = None
    while True:
        page: list[Row] = []
        try:
            page.extend(itertools.islice(rows, PAGE))
        except ProjectError as exc:
            failure = exc
        if not page and failure is None:
            return
        for row, (fingerprint, known) in zip(page, reuse.page(expander, page, sink), strict=True):
            if known is TAKEN:
                continue
            if known is REFUSED:
                yield None
            elif known is not None:
                yield known if expander.admit(row, known.key, known.output, sink, known.thumbnail) else None
            else:
                yield expander.expand(row, sink, fingerprint)
        if failure is not None:
            raise failure
