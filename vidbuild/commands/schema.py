"""The schema command: the project file's JSON Schema, for editors and other tools."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from vidbuild.errors import EXIT_OK, LocalWriteError
from vidbuild.resources import schemas_dir
from vidbuild.spec.project import display_path

PROJECT_SCHEMA = "project.schema.json"
# The copy `vidbuild init` puts beside vidbuild.yaml, which names it relatively on its first line.
SCHEMA_COPY = "vidbuild.schema.json"


def schema_text() -> str:
    """The project schema exactly as vidbuild ships it (JSON, draft 2020-12, no external $ref)."""
    return (schemas_dir() / PROJECT_SCHEMA).read_text(encoding="utf-8")


def schema(out: str | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Print the project schema, or write it to ``out`` (replacing that file, creating its
    directory) and say where.
    LocalWriteError (exit 3) naming the path if it can't be written."""
    text = schema_text()
    if out is None:
        (stdout or sys.stdout).write(text)
        return EXIT_OK
    target = Path(out)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise LocalWriteError(f"can't write the schema to {display_path(target)}: "
                              f"{exc.strerror or exc}") from exc
    print(f"wrote the project schema to {display_path(target)}", file=stderr or sys.stderr)
    return EXIT_OK
