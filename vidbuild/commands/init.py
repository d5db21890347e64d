"""The init command: scaffold a working project from vidbuild's built-in starter."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TextIO

from vidbuild.errors import EXIT_OK, UsageError
from vidbuild.resources import schemas_dir, templates_dir
from vidbuild.spec.project import PROJECT_FILE, display_path

SCHEMA_MARKER = "$schema=SCHEMA"


def init(directory: str, *, stderr: TextIO | None = None) -> int:
    """Copy templates/init/ into ``directory``; never overwrite an existing file."""
    target = Path(directory)
    starter = templates_dir() / "init"
    files = [p for p in sorted(starter.rglob("*")) if p.is_file()]
    clashes = [display_path(target / p.relative_to(starter)) for p in files
               if (target / p.relative_to(starter)).exists()]
    if clashes:
        raise UsageError(f"not overwriting existing files: {', '.join(clashes)}")
    schema = (schemas_dir() / "project.schema.json").resolve().as_uri()
    for source in files:
        destination = target / source.relative_to(starter)
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.name == PROJECT_FILE:
            text = source.read_text(encoding="utf-8").replace(SCHEMA_MARKER, f"$schema={schema}")
            destination.write_text(text, encoding="utf-8")
        else:
            shutil.copyfile(source, destination)
    print(f"created a vidbuild project in {display_path(target)}: try `vidbuild compile "
          f"{display_path(target)}`", file=stderr or sys.stderr)
    return EXIT_OK
