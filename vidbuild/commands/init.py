"""The init command: scaffold a working project from vidbuild's built-in starter."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TextIO

from vidbuild.commands.schema import SCHEMA_COPY, schema_text
from vidbuild.errors import EXIT_OK, LocalWriteError, UsageError
from vidbuild.resources import templates_dir
from vidbuild.spec.project import PROJECT_FILE, display_path

SCHEMA_MARKER = "$schema=SCHEMA"
GITIGNORE = ".gitignore"
# State (never shared through git: it names this machine's processes) and the starter's outputs
# (videos, manifests, the review page: rebuilt from the inputs, and large).
IGNORED = ("/.vidbuild/", "/out/")


def init(directory: str, *, stderr: TextIO | None = None) -> int:
    """Copy templates/init/ into ``directory`` with a copy of the project schema that the project
    file names relatively (so it works wherever the project is copied, with or without vidbuild
    installed) and a .gitignore; never overwrite an existing file (a .gitignore gets the missing
    lines appended). UsageError naming the files that exist."""
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise UsageError(f"can't make a project in {display_path(target)}: it is a file, not a folder")
    starter = templates_dir() / "init"
    files = [p for p in sorted(starter.rglob("*")) if p.is_file()]
    written = [target / p.relative_to(starter) for p in files] + [target / SCHEMA_COPY]
    clashes = [display_path(path) for path in written if path.exists()]
    if clashes:
        raise UsageError(f"not overwriting existing files: {', '.join(clashes)}")
    try:
        _write(target, starter, files)
    except OSError as exc:   # a file on the way, no permission, a read-only or full disk
        raise LocalWriteError(f"can't make a project in {display_path(target)}: "
                              f"{exc.strerror or exc} ({exc.filename or target})") from exc
    print(f"created a vidbuild project in {display_path(target)}: try `vidbuild compile "
          f"{display_path(target)}`", file=stderr or sys.stderr)
    return EXIT_OK


def _write(target: Path, starter: Path, files: list[Path]) -> None:
    """The starter's files, the schema copy and the .gitignore, written under ``target``."""
    for source in files:
        destination = target / source.relative_to(starter)
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.name == PROJECT_FILE:
            text = source.read_text(encoding="utf-8").replace(SCHEMA_MARKER, f"$schema={SCHEMA_COPY}")
            destination.write_text(text, encoding="utf-8")
        else:
            shutil.copyfile(source, destination)
    (target / SCHEMA_COPY).write_text(schema_text(), encoding="utf-8")
    _ignore(target / GITIGNORE)


def _ignore(path: Path) -> None:
    """Write the .gitignore, or append to an existing one the lines it lacks."""
    existing = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    present = {line.strip().strip("/") for line in existing}
    missing = [line for line in IGNORED if line.strip("/") not in present]
    if not missing:
        return
    lead = "" if not existing or path.read_text(encoding="utf-8").endswith("\n") else "\n"
    with path.open("a", encoding="utf-8") as handle:
        lines = ["# vidbuild: state and built outputs", *missing]
        handle.write(lead + "".join(f"{line}\n" for line in lines))
