"""The project's ``manifest:`` section and ``thumbnail:`` field: which data columns each row's
manifest entry carries, checked against vidbuild's own manifest fields and against every row."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping

    from vidbuild.errors import Diagnostic
    from vidbuild.spec.diagnostics import DiagnosticSink
    from vidbuild.spec.load import PathKey
    from vidbuild.spec.project import Project
    from vidbuild.spec.rows import Row

class Expander(Protocol):
    """What of ``spec.expand.Expander`` the thumbnail and the columns need (it imports this module)."""

    project: Project
    thumbnail: Any
    columns: list[str]

    def _compile_field(self, path: tuple[str, ...], default: str, diagnostics: list[Diagnostic]) -> Any: ...
    def _render_output(self, row: Row, key: str, context: Mapping[str, Any], sink: DiagnosticSink,
                       path: PathKey = ("output",)) -> str | None: ...
    def _admit_output(self, row: Row, key: str, output: str, sink: DiagnosticSink) -> bool: ...


# Every manifest entry's own fields, in the CSV's column order; chosen data columns follow them.
# checksum (sha256 of the file) and size (bytes) let a later build trust a restored file (state/seed.py).
MANIFEST_FIELDS = ("key", "hash", "video_id", "status", "output", "thumbnail", "title", "duration",
                   "created_at", "completed_at", "video_page_url", "video_url", "thumbnail_url",
                   "urls_expire_at", "credits_estimated", "error", "checksum", "size")


def manifest_columns(project: Project, diagnostics: list[Diagnostic]) -> list[str]:
    """The data columns named in ``manifest.columns`` (none if absent); a name that is one of
    ``MANIFEST_FIELDS`` (the CSV would hold two columns of that name) is added to
    ``diagnostics`` at its line."""
    from vidbuild.spec.scenes import Origin

    section = project.spec.get("manifest")
    columns = section.get("columns", []) if isinstance(section, dict) else []
    if not isinstance(columns, list):
        return []
    for index, column in enumerate(columns):
        if column in MANIFEST_FIELDS:
            origin = Origin(project.document, ("manifest", "columns", index))
            diagnostics.append(origin.diagnostic(
                f"column {column!r} is one of the manifest's own fields ({', '.join(MANIFEST_FIELDS)}); "
                "rename it in the data or leave it out"))
    return [str(column) for column in columns]


def row_columns(project: Project, columns: list[str], row: Row,
                note: str) -> tuple[dict[str, Any], list[tuple[Diagnostic, str]]]:
    """The row's values of ``columns``, as written; and, for each column the row lacks, a
    diagnostic at its line in ``manifest.columns`` (``note`` names the row) with its place."""
    from vidbuild.spec.scenes import Origin

    values: dict[str, Any] = {}
    problems: list[tuple[Diagnostic, str]] = []
    for index, column in enumerate(columns):
        if column in row.values:
            values[column] = row.values[column]
            continue
        origin = Origin(project.document, ("manifest", "columns", index))
        known = ", ".join(map(str, row.values)) or "none"
        problems.append((origin.diagnostic(f"unknown column {column!r}: the data has no such column "
                                           f"(its columns: {known}){note}"), origin.where))
    return values, problems


def manifest_extras(expander: Expander, row: Row, key: str, output: str, context: Mapping[str, Any],
                    sink: DiagnosticSink) -> dict[str, Any] | None:
    """The row's Job fields ``thumbnail`` (rendered, checked as an output is and unique among the
    outputs) and ``columns`` (its manifest columns), or None (its problems in ``sink``)."""
    thumbnail = None
    if expander.thumbnail is not None:
        thumbnail = expander._render_output(row, key, context, sink, ("thumbnail",))
        if thumbnail == output:
            sink.add(row.diagnostic(f"thumbnail {thumbnail!r} is the row's video output", key),
                     "thumbnail is output")
            return None
        if thumbnail is None or not expander._admit_output(row, key, thumbnail, sink):
            return None
    values, problems = row_columns(expander.project, expander.columns, row, _row_note(row, key))
    for diagnostic, place in problems:
        sink.add(diagnostic, place)
    return None if problems else {"thumbnail": thumbnail, "columns": values}


def compile_extras(expander: Expander, diagnostics: list[Diagnostic]) -> tuple[Any, list[str]]:
    """The project's compiled ``thumbnail`` template (None if not asked for) and its manifest columns."""
    thumbnail = (expander._compile_field(("thumbnail",), "", diagnostics)
                 if "thumbnail" in expander.project.spec else None)
    return thumbnail, manifest_columns(expander.project, diagnostics)


def _row_note(row: Row, key: str) -> str:
    """Which row, as ``spec.expand`` names it in its messages."""
    return f" (row {key} at {row.file}:{row.line})"
