"""The state export and import commands: move a project's state between stores as JSON lines."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from vidbuild.errors import EXIT_OK, LocalWriteError, UsageError
from vidbuild.spec.project import display_path, load_project
from vidbuild.state.location import open_state, state_root
from vidbuild.state.location import state_url as chosen_state_url
from vidbuild.state.protocol import State


def _open(path: str | None, state_dir: str | None, state_url: str | None) -> tuple[State, str]:
    from vidbuild.heygen.choice import BackendChoice

    url = chosen_state_url(state_url, state_dir)
    project = load_project(path)
    root = state_root(project.root, state_dir)
    return open_state(root, BackendChoice.from_env().namespace, url=url, project=project.name), project.name


def export(path: str | None, *, output: str | None = None, state_dir: str | None = None,
           state_url: str | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Write the project's state for the current API (the directory, or the ``--state-url``
    database) as JSON lines to ``output`` (``-`` or None: stdout); see vidbuild/state/transfer.py.
    LocalWriteError if ``output`` can't be written."""
    from vidbuild.state.transfer import export_state

    state, name = _open(path, state_dir, state_url)
    try:
        if output in (None, "-"):
            count = export_state(state, name, stdout or sys.stdout)
        else:
            count = _export_to(state, name, Path(output))
    finally:
        state.close()
    print(f"exported {count} records of {state.namespace}", file=stderr or sys.stderr)
    return EXIT_OK


def _export_to(state: State, name: str, target: Path) -> int:
    from vidbuild.state.transfer import export_state

    try:
        with target.open("w", encoding="utf-8") as stream:
            return export_state(state, name, stream)
    except OSError as exc:
        raise LocalWriteError(f"can't write {display_path(target)}: {exc.strerror or exc}") from exc


def import_(path: str | None, source: str, *, state_dir: str | None = None, state_url: str | None = None,
            stdin: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Merge an export (``source``: a file, or ``-`` for stdin) into the project's state for the
    current API, never overwriting a newer record. Every line is checked before anything is
    written: UsageError (exit 2) naming ``source:LINE`` otherwise."""
    from vidbuild.state.location import api_namespace
    from vidbuild.state.transfer import import_records, read_export

    state, _ = _open(path, state_dir, state_url)
    try:
        records = read_export(_lines(source, stdin), source, api_namespace(state.namespace))
        done = import_records(state, records)
    finally:
        state.close()
    print(f"imported {done.written} records into {state.namespace}; kept {done.kept} that were as new "
          f"or newer", file=stderr or sys.stderr)
    return EXIT_OK


def _lines(source: str, stdin: TextIO | None) -> list[str]:
    if source == "-":
        return (stdin or sys.stdin).read().splitlines()
    try:
        return Path(source).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"can't read {source}: {reason}") from exc
