"""The review command: write the static review page for a project, before or after a build."""

from __future__ import annotations

import sys
import webbrowser
from pathlib import Path
from typing import Any, TextIO

from vidbuild.errors import EXIT_OK, UsageError
from vidbuild.heygen.choice import BackendChoice
from vidbuild.planner.decide import Summary, plan_steps
from vidbuild.report import review as review_page
from vidbuild.report.review import Catalogue, ReviewRow
from vidbuild.spec.project import Project, display_path, load_project
from vidbuild.state.disk import DiskState
from vidbuild.state.location import open_state, state_exists, state_root
from vidbuild.state.location import state_url as chosen_state_url
from vidbuild.state.protocol import State


def review(path: str | None, *, state_dir: str | None = None, state_url: str | None = None,
           api: str | None = None, open_page: bool = False,
           stdout: TextIO | None = None, stderr: TextIO | None = None,
           backend: BackendChoice | None = None) -> int:
    """Write ``review.html`` beside the manifest (see ``report.review.page_path``) and print its
    path; ``open_page``: also open it in the default browser. Sends nothing to HeyGen.

    Raises ProjectError for an invalid project (nothing written), UsageError when the page would
    overwrite a row's output, InvalidRequestError when its directory leads out of the project or
    onto one of its inputs, LocalWriteError when it can't be written.
    """
    project = load_project(path)
    root = state_root(project.root, state_dir)
    namespace = (backend or BackendChoice.from_env()).namespace
    catalogue = _cached_catalogue(root, namespace)
    state = open_state(root, namespace, url=chosen_state_url(state_url, state_dir), project=project.name)
    try:
        rows, summary = _rows(project, state, root, catalogue, api)
    finally:
        state.close()
    page = _page_for(project, root, rows)
    rows = [review_page.placed(row, project.root, page) for row in rows]
    _write(page, review_page.render_page(rows, summary, project.name))
    print(display_path(page), file=stdout or sys.stdout)
    if open_page and not webbrowser.open(page.resolve().as_uri()):
        print(f"vidbuild: no browser to open; open {display_path(page)} yourself", file=stderr or sys.stderr)
    return EXIT_OK


def _rows(project: Project, state: State, root: Path, catalogue: Catalogue,
          api: str | None) -> tuple[list[ReviewRow], Summary]:
    """Every row as ``vidbuild plan`` decides it (the same planner), with its summary."""
    from vidbuild.spec.expand import expand_project

    summary = Summary()
    rows = []
    for step in plan_steps(expand_project(project, root, api=api), state, project.root):
        summary.add(step)
        rows.append(review_page.review_row(step, catalogue))
    return rows, summary


def _cached_catalogue(root: Path, namespace: str) -> Catalogue:
    """Names from the catalogues ``vidbuild avatars``/``voices`` (or ``validate --online``) cached
    in the state directory, however old: names rarely change, and review asks nothing online."""
    if not state_exists(root, namespace):
        return Catalogue({})
    cache = DiskState(root, namespace)
    try:
        avatars: Any = cache.get_meta("catalogue:avatars")
        voices: Any = cache.get_meta("catalogue:voices")
    finally:
        cache.close()
    return Catalogue.from_cache(avatars, voices)


def _page_for(project: Project, state_dir: Path, rows: list[ReviewRow]) -> Path:
    """The page's path, checked like the manifest's: inside the project, on none of its inputs,
    and not a row's output."""
    from vidbuild.run.files import check_inside
    from vidbuild.spec.protected import ProtectedFiles

    page = review_page.page_path(project.root, (row.output for row in rows))
    clash = next((row.key for row in rows if (project.root / row.output).resolve() == page.resolve()), None)
    if clash is not None:
        raise UsageError(f"row {clash}'s output is {display_path(page)}, where the review page goes: "
                         "choose another output name")
    check_inside(project.root, page, ProtectedFiles.of(project, state_dir), output=False)
    return page


def _write(page: Path, text: str) -> None:
    from vidbuild.errors import LocalWriteError

    try:
        page.parent.mkdir(parents=True, exist_ok=True)
        review_page.write_page(page, text)
    except OSError as exc:   # a file where the folder was, a full disk: named, never a crash
        raise LocalWriteError(f"can't write the review page {page}: {exc.strerror or exc}") from exc
