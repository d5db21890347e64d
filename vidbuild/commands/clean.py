"""The clean command: delete the project's state (the directory, or its records in the state
database) after asking, unless a build is using it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TextIO

from vidbuild.errors import EXIT_OK, UsageError
from vidbuild.heygen.choice import BackendChoice
from vidbuild.spec.project import Project, display_path, load_project
from vidbuild.state.location import open_state, state_root
from vidbuild.state.location import state_url as chosen_state_url
from vidbuild.state.locks import build_running


def clean(path: str | None, *, state_dir: str | None = None, yes: bool = False,
          stdin: TextIO | None = None, stderr: TextIO | None = None, state_url: str | None = None,
          backend: BackendChoice | None = None) -> int:
    """Remove the state directory after asking (``--yes`` for CI); refuse while a build runs.
    With a state URL, remove the project's state for the current API from the database instead."""
    chosen = chosen_state_url(state_url, state_dir)
    project = load_project(path)
    root = state_root(project.root, state_dir)
    err = stderr or sys.stderr
    if chosen is not None:
        return _clean_database(project, root, chosen, backend or BackendChoice.from_env(), yes, stdin, err)
    if not root.exists():
        print(f"nothing to clean: {display_path(root)} does not exist", file=err)
        return EXIT_OK
    if build_running(root):
        raise UsageError(f"a vidbuild build is using {display_path(root)}; not cleaning")
    if not yes and not _confirmed(display_path(root), stdin, err):
        return EXIT_OK
    shutil.rmtree(root)
    print(f"removed {display_path(root)}", file=err)
    return EXIT_OK


def _confirmed(what: str, stdin: TextIO | None, err: TextIO) -> bool:
    """Ask before deleting ``what``; UsageError where no one can answer (not a terminal)."""
    stdin = stdin or sys.stdin
    if not stdin.isatty():
        raise UsageError("clean asks before deleting state; pass --yes to skip the question")
    err.write(f"delete {what} (all record of submitted and downloaded videos)? [y/N] ")
    err.flush()
    if stdin.readline().strip().lower() not in ("y", "yes"):
        print("not cleaned", file=err)
        return False
    return True


def _clean_database(project: Project, root: Path, url: str, backend: BackendChoice, yes: bool,
                    stdin: TextIO | None, err: TextIO) -> int:
    """Delete the project's namespace from the state database, unless a build has it open."""
    from vidbuild.state.postgres import PostgresState
    from vidbuild.state.postgres_url import scrub_url

    state = open_state(root, backend.namespace, url=url, project=project.name)
    assert isinstance(state, PostgresState)
    what = f"the state of {state.namespace} in {scrub_url(url)}"
    try:
        if state.others_running():
            raise UsageError(f"a vidbuild build is using {what}; not cleaning")
        if not yes and not _confirmed(what, stdin, err):
            return EXIT_OK
        removed = state.delete_all()
    finally:
        state.close()
    print(f"removed {what} ({removed} records)", file=err)
    return EXIT_OK
