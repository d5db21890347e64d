"""Collects the located problems of a project and its rows, and raises them together as one
ProjectError: one mistake repeated on 100,000 rows is shown a few times, then counted."""

from __future__ import annotations

from collections.abc import Sequence

from vidbuild.errors import Diagnostic, ProjectError

ERRORS_SHOWN_PER_PLACE = 10


class DiagnosticSink:
    """Collects diagnostics; one mistake repeated on 100,000 rows is shown a few times, then counted."""

    def __init__(self, reported: Sequence[Diagnostic] = ()) -> None:
        self.shown: list[Diagnostic] = list(reported)
        self._reported_spots = {(d.file, d.line, d.column) for d in reported}
        self._counts: dict[tuple[str, str], int] = {}
        # Per group: how many were left out, and the last of them (the summary goes there).
        self.hidden: dict[tuple[str, str], tuple[int, Diagnostic]] = {}

    def add(self, diagnostic: Diagnostic, place: str = "") -> None:
        """Show ``diagnostic``, unless it repeats a mistake already shown often enough.

        ``place`` names the mistake that may repeat on every row: the spec field it is written in
        (``scenes[intro].voice.text``) or a kind of row problem (``duplicate key``). Without a
        place, the diagnostic is always shown.
        """
        if not place:
            self.shown.append(diagnostic)
            return
        if (diagnostic.file, diagnostic.line, diagnostic.column) in self._reported_spots:
            return  # the schema already flagged this very value in the project file
        group = (diagnostic.file, place)
        seen = self._counts.get(group, 0)
        self._counts[group] = seen + 1
        if seen < ERRORS_SHOWN_PER_PLACE:
            self.shown.append(diagnostic)
        else:
            self.hidden[group] = (self.hidden.get(group, (0, diagnostic))[0] + 1, diagnostic)

    def __bool__(self) -> bool:
        return bool(self.shown)

    def raise_if_any(self) -> None:
        if not self.shown:
            return
        extra = [Diagnostic(last.file, last.line, last.column, place,
                            f"... and {count} more rows with this error")
                 for (_, place), (count, last) in self.hidden.items()]
        not_shown = sum(count for count, _ in self.hidden.values()) - len(extra)
        raise ProjectError([*self.shown, *extra], not_shown=not_shown)
