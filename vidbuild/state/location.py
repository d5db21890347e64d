"""Where a project's state lives (a directory, or a PostgreSQL database with ``--state-url``) and
the store that opens there; the namespace keeps each API's results apart.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from vidbuild.errors import UsageError
from vidbuild.heygen.routes import normalize_base_url
from vidbuild.state.disk import DiskState
from vidbuild.state.protocol import State

STATE_DIR_NAME = ".vidbuild"


def namespace_for(base_url: str) -> str:
    """A directory name for an API base URL: readable, and unique per API (every spelling of one
    URL, as ``normalize_base_url`` has it, names the same directory). UsageError if not a URL."""
    base_url = normalize_base_url(base_url)
    readable = re.sub(r"[^A-Za-z0-9.-]+", "-", base_url.split("://", 1)[-1]).strip("-")[:60]
    digest = hashlib.sha256(base_url.encode()).hexdigest()[:8]
    return f"{readable}-{digest}"


def api_namespace(namespace: str) -> str:
    """The API part of a state's namespace (a database's is ``project/api``, a directory's ``api``)."""
    return namespace.rsplit("/", 1)[-1]


def state_root(project_root: Path, override: str | None = None) -> Path:
    """--state-dir, else $VIDBUILD_STATE_DIR, else .vidbuild/ in the project directory."""
    chosen = override or os.environ.get("VIDBUILD_STATE_DIR")
    return Path(chosen).resolve() if chosen else project_root / STATE_DIR_NAME


def state_url(override: str | None = None, state_dir: str | None = None) -> str | None:
    """--state-url, else $VIDBUILD_STATE_URL unless --state-dir chose a directory: the PostgreSQL
    database that holds state instead of ``.vidbuild/``, or None for the disk.

    UsageError if both options are given. The URL itself is checked when it is opened.
    """
    if override and state_dir:
        raise UsageError("--state-url and --state-dir both say where state lives: give one")
    if override:
        return override
    if state_dir:
        return None
    return os.environ.get("VIDBUILD_STATE_URL") or None


def open_state(root: Path, namespace: str, *, url: str | None = None, project: str = "") -> State:
    """The build state: a ``DiskState`` under ``root``, or with ``url`` a ``PostgresState``
    namespaced by ``project`` (its name) and the API ``namespace``, as the disk is by directory.

    Raises UsageError for a URL that is not PostgreSQL's or without psycopg installed, StateError
    when the store can't be opened; a URL's password never appears in either.
    """
    if url is None:
        return DiskState(root, namespace)
    from vidbuild.state.postgres import PostgresState

    return PostgresState(url, f"{project}/{namespace}")


def state_exists(root: Path, namespace: str, *, url: str | None = None) -> bool:
    """Whether state may hold anything yet (a database always may: it is asked)."""
    return url is not None or (root / namespace).is_dir()
