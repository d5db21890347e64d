"""Opening what a build works on, the way the CLI does: the project, its state store and the
backend, each chosen from explicit arguments (the CLI's flags) and the environment."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vidbuild.heygen.choice import EMULATOR_NAMESPACE, BackendChoice
from vidbuild.pipeline.options import ProjectSource
from vidbuild.spec.project import Project, find_project_file
from vidbuild.spec.project import load_project as _parse_project
from vidbuild.state.disk import DiskState
from vidbuild.state.location import open_state as _open_store
from vidbuild.state.location import state_exists, state_root, state_url
from vidbuild.state.protocol import State
from vidbuild.state.seed import seed_from_manifest

if TYPE_CHECKING:
    from vidbuild.heygen.backend import Backend
    from vidbuild.planner.row_index import RowIndex
    from vidbuild.spec.expand import Job

__all__ = ["choose_backend", "load_project", "open_backend", "open_project", "open_state"]


def load_project(path: str | Path | None = None) -> Project:
    """Parse and schema-check ``path`` (a project directory or its vidbuild.yaml; default: the
    current directory). UsageError if there is no project there, ProjectError listing every problem."""
    return _parse_project(path)


def choose_backend(environ: Mapping[str, str] | None = None) -> BackendChoice:
    """The API the environment (default: the process's) chooses: HeyGen with HEYGEN_API_KEY, an
    API server with HEYGEN_API_BASE too, else the built-in emulator. Opens nothing."""
    return BackendChoice.from_env() if environ is None else BackendChoice.from_env(environ)


def open_state(project: ProjectSource, *, backend: BackendChoice | Backend | None = None,
               state_dir: str | Path | None = None,
               state_url: str | None = None) -> State:
    """The project's state for ``backend``'s API (default: the environment's choice): on disk in
    ``state_dir`` (default $VIDBUILD_STATE_DIR, else PROJECT/.vidbuild), or in the PostgreSQL
    database at ``state_url`` (default $VIDBUILD_STATE_URL unless ``state_dir`` is given).

    The caller closes it. UsageError if both places are given or the URL can't be used, StateError
    when the store can't be opened.
    """
    chosen = state_url_for(state_url, state_dir)
    root = project_root(project)
    namespace = (backend or BackendChoice.from_env()).namespace
    # A database's namespace holds the project's name.
    name = parsed(project).name if chosen else ""
    return _open_store(state_root(root, _text(state_dir)), namespace, url=chosen, project=name)


def open_project(path: str | Path | None, *, backend: BackendChoice,
                 state_dir: str | Path | None = None,
                 state_url: str | None = None) -> tuple[ProjectSource, State]:
    """The project and its state, for a command: the project stays a path (parsed only if the
    command needs it: an unchanged rerun does not) when its state exists; else it is parsed first,
    so an invalid project creates no state."""
    from vidbuild.pipeline.parsed_projects import keep, parse

    chosen = state_url_for(state_url, state_dir)
    file = find_project_file(path)
    exists = state_exists(state_root(file.parent, _text(state_dir)), backend.namespace, url=chosen)
    project: ProjectSource = file
    raw = None
    if chosen or not exists:
        project, raw = parse(path)
    state = open_state(project, backend=backend, state_dir=state_dir, state_url=state_url)
    if isinstance(project, Project) and raw is not None and not chosen:   # for the next command
        keep(project, raw, state_directory(project, state_dir, state))
    # A new state, out/ restored (state/seed.py). Not for the built-in emulator, whose account
    # lives in the state directory: a new state is a new, empty account.
    if isinstance(project, Project) and backend.namespace != EMULATOR_NAMESPACE:
        try:
            seed_from_manifest(state, project)
        except BaseException:
            state.close()
            raise
    return project, state


def open_backend(project: ProjectSource = None, *, choice: BackendChoice | None = None,
                 state_dir: str | Path | None = None) -> Backend:
    """A client for ``choice``'s API (default: the environment's), for a caller that wants to hold
    one itself (``build`` opens its own from a ``BackendChoice``). The emulator keeps its videos in
    the state directory (``state_dir``, else the project's default). The caller closes it."""
    from vidbuild.heygen.backend import open_backend as open_chosen

    return open_chosen(state_directory(project, state_dir), choice)


def state_directory(project: ProjectSource, state_dir: str | Path | None, state: State | None = None) -> Path:
    """Where local state lives: the disk store, the emulator's videos; outputs must never
    overwrite it. ``state_dir`` if given, else the directory ``state`` (a disk store) is in, else
    $VIDBUILD_STATE_DIR, else PROJECT/.vidbuild."""
    if state_dir is None and isinstance(state, DiskState):
        return state.directory.parent
    return state_root(project_root(project), _text(state_dir))


def state_url_for(url: str | None, state_dir: str | Path | None) -> str | None:
    return state_url(url, _text(state_dir))


def project_root(project: ProjectSource) -> Path:
    """The project directory, without parsing the project file."""
    if isinstance(project, Project):
        return project.root
    return find_project_file(project).parent


def project_file(project: ProjectSource) -> Path:
    if isinstance(project, Project):
        return project.file
    return find_project_file(project)


def parsed(project: ProjectSource, state_dir: Path | None = None) -> Project:
    """``project`` parsed, if it is still a path: from the parsed projects kept in ``state_dir``
    (a state directory: see pipeline/parsed_projects.py) when given, else from its file."""
    if isinstance(project, Project):
        return project
    if state_dir is not None:
        from vidbuild.pipeline.parsed_projects import parsed_project

        return parsed_project(project, state_dir)
    return _parse_project(project)


def jobs(project: Project, state_dir: Path, api: str | None, force: Sequence[str] = (), *,
         state: State | None = None, building: bool = False, settle: RowIndex | None = None,
         fingerprint: str | None = None) -> Iterator[Job]:
    """Every row's Job, expanded as it is asked for; a ``force`` selector (planner/forcing.py)
    naming a key or column no row has is an error at the end.

    With ``state``, rows known unchanged since their download are not rendered (see
    planner/fingerprint.py), and those ``settle`` takes are not yielded (a build that selects
    every row: see ``RowIndex.settle``, and ``settle_last`` if it follows the last complete
    build); a build (``building``) fingerprints every row, to remember it, under the project
    fingerprint ``fingerprint`` when it has one (planner/fingerprint.py's ``project_fingerprint``)."""
    from vidbuild.planner.fingerprint import KnownRows
    from vidbuild.planner.forcing import Forcing
    from vidbuild.spec.expand import expand_project

    forcing = Forcing(force)
    keys: set[str] = set()
    columns: set[str] = set()
    reuse = KnownRows(state, project, api, forcing, settle, fingerprint) if state is not None else None
    if reuse is not None and not (building or reuse.look_up):
        reuse = None
    for job in expand_project(project, state_dir, api=api, reuse=reuse,
                              settle=settle.settle if settle is not None else None):
        if forcing:
            keys.add(job.key)
            columns.update(job.row.values)
        yield job
    forcing.check(keys, columns)


def _text(path: str | Path | None) -> str | None:
    return None if path is None else os.fspath(path)
