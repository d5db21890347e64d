"""The validate and compile commands: expand a project offline and show or write what would be sent."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from vidbuild.errors import EXIT_OK
from vidbuild.heygen.choice import BackendChoice
from vidbuild.pipeline import compile as compile_jobs
from vidbuild.pipeline import load_project
from vidbuild.spec.project import display_path
from vidbuild.spec.rows import empty_rows_note


def validate(path: str | None, *, online: bool = False, api: str | None = None,
             stderr: TextIO | None = None, backend: BackendChoice | None = None,
             select: Sequence[str] | None = None, exclude: Sequence[str] | None = None) -> int:
    """Check everything that can be checked before sending; ProjectError carries every problem.

    Under ``api`` (or the project's ``api:``) 'v3', a row v3 can't render is one of them.
    ``select`` / ``exclude`` narrow the online check and the count to some rows; every row is
    still expanded and checked offline.
    """
    project = load_project(path)
    jobs = compile_jobs(project, api=api, select=select or (), exclude=exclude or ())
    if online:
        from vidbuild.commands.catalogue import check_online

        check_online(project, jobs, stderr=stderr, backend=backend)
    count = len(jobs)
    print(f"{project.document.display}: ok, {count} video{'s' if count != 1 else ''}"
          f"{empty_rows_note(project)}", file=stderr or sys.stderr)
    return EXIT_OK


def compile_bodies(path: str | None, *, rows: Sequence[str] | None = None, out: str | None = None,
                   api: str | None = None, stdout: TextIO | None = None,
                   stderr: TextIO | None = None, select: Sequence[str] | None = None,
                   exclude: Sequence[str] | None = None) -> int:
    """Print one JSON line per job (or pretty JSON for a single --row), or write DIR/KEY.json
    files; ``select`` / ``exclude`` as for plan (no state: selectors, compile reads no state)."""
    from vidbuild.report.bodies import print_bodies, write_bodies

    project = load_project(path)
    jobs = compile_jobs(project, rows=rows, api=api, select=select or (), exclude=exclude or ())
    if out is not None:
        write_bodies(jobs, project, Path(out))
        print(f"wrote {len(jobs)} request bod{'y' if len(jobs) == 1 else 'ies'} to {display_path(Path(out))}",
              file=stderr or sys.stderr)
    else:
        print_bodies(jobs, stdout or sys.stdout, pretty=len(set(rows or ())) == 1)
    return EXIT_OK
