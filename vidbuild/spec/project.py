"""Finds ``vidbuild.yaml``, checks it against the project schema, and types it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidbuild.errors import Diagnostic, ProjectError, UsageError
from vidbuild.spec.data_layout import DataLayout
from vidbuild.spec.load import Document, load_yaml
from vidbuild.spec.validate import schema_report

PROJECT_FILE = "vidbuild.yaml"
DEFAULT_OUTPUT = "out/{{ key }}.mp4"


@dataclass
class Project:
    """A validated project: the parsed document plus the few facts every stage needs."""

    file: Path            # absolute path of vidbuild.yaml
    root: Path            # absolute project directory
    document: Document
    # Schema violations of single values: reported together with what expansion finds.
    value_errors: list[Diagnostic] = field(default_factory=list)
    # Data rows with nothing in them, skipped: counted by the last read of the rows.
    empty_rows: int = 0
    # Where a CSV or TSV file's rows lie, once the last read of the rows read them all (a complete
    # build keeps it for the next: see spec/data_layout.py); else None.
    data_layout: DataLayout | None = None

    @property
    def spec(self) -> dict[str, Any]:
        data: dict[str, Any] = self.document.data
        return data

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def kind(self) -> str:
        return str(self.spec.get("kind", "video"))

    @property
    def templates_dir(self) -> Path:
        return self.root / "templates"


def display_path(path: Path) -> str:
    """A path as messages show it: relative to the working directory when it is below it, else
    absolute (``../../tmp/x`` would make the reader count levels)."""
    try:
        relative = os.path.relpath(path)
    except ValueError:   # another drive (Windows)
        return str(path)
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return os.path.abspath(path)
    return relative


def find_project_file(path: str | Path | None) -> Path:
    """PATH may be the project directory or its file; default: the current directory."""
    candidate = Path(path) if path is not None else Path.cwd()
    if candidate.is_dir():
        candidate = candidate / PROJECT_FILE
    if not candidate.is_file():
        raise UsageError(f"no project at {display_path(candidate)} "
                         f"(expected a directory with {PROJECT_FILE}, or the file itself)")
    return candidate.resolve()


def load_project(path: str | Path | None, raw: bytes | None = None) -> Project:
    """Parse and schema-check the project file (from its bytes ``raw`` if the caller read them);
    raise ProjectError listing every problem."""
    file = find_project_file(path)
    document = load_yaml(file, display_path(file), raw)
    if not isinstance(document.data, dict):
        raise ProjectError([Diagnostic(document.display, 1, 1, "", "the project file must be a mapping")])
    diagnostics, structural = schema_report(document)
    if structural:
        raise ProjectError(diagnostics)
    return Project(file=file, root=file.parent, document=document, value_errors=diagnostics)
