"""The plan, build, status and clean commands: the incremental build and its local state."""

from __future__ import annotations

import fcntl
import json
import math
import os
import posixpath
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from vidbuild.errors import EXIT_FAILED, EXIT_OK, UsageError
from vidbuild.plan.decide import PAYING_ACTIONS, Step, Summary, holds_video, plan_steps, route_fields, via
from vidbuild.plan.row_index import RowIndex, Spool, indexed, same_as_indexed
from vidbuild.report.progress import choose_reporter
from vidbuild.spec.project import Project, display_path, find_project_file, load_project
from vidbuild.spec.rows import empty_rows_note
from vidbuild.state.location import open_state, state_exists, state_root
from vidbuild.state.location import state_url as chosen_state_url
from vidbuild.state.protocol import State, with_records

if TYPE_CHECKING:
    from vidbuild.heygen.backend import Backend
    from vidbuild.plan.up_to_date import InputsSeen
    from vidbuild.run.engine import Options
    from vidbuild.run.outcome import Reporter
    from vidbuild.spec.expand import Job
    from vidbuild.spec.protected import ProtectedFiles


RENDER_RATIO = "render_ratio"


@dataclass
class Loaded:
    project: Project
    state: State
    state_root: Path           # local files (the emulator's videos) live here even with a state URL
    api: str | None = None     # --api: the API generation to choose, over the project's `api:`


def _load(path: str | None, state_dir: str | None, api: str | None = None,
          url: str | None = None) -> Loaded:
    """Load the project and open its state (``url``: --state-url); the rows are read afterwards,
    as streams, and each command reads every one of them (so finds every mistake) before it
    sends or prints anything."""
    from vidbuild.heygen.backend import backend_namespace

    chosen = chosen_state_url(url, state_dir)
    project = load_project(path)
    root = state_root(project.root, state_dir)
    return Loaded(project, open_state(root, backend_namespace(), url=chosen, project=project.name), root, api)


def _jobs(loaded: Loaded, force: Sequence[str] = ()) -> Iterator[Job]:
    """Every row's Job, expanded as it is asked for; an unknown --force key is an error at the end."""
    from vidbuild.spec.expand import expand_project

    missing = set(force)
    for job in expand_project(loaded.project, loaded.state_root, api=loaded.api):
        missing.discard(job.key)
        yield job
    if missing:
        raise UsageError(f"--force: no row with key {', '.join(sorted(missing))}")


def plan(path: str | None, *, state_dir: str | None = None, json_output: bool = False,
         force: Sequence[str] = (), api: str | None = None, stdout: TextIO | None = None,
         state_url: str | None = None) -> int:
    """Say what a build would do for each row, why, and through which API; sends nothing."""
    loaded = _load(path, state_dir, api, state_url)
    try:
        steps = plan_steps(_jobs(loaded, force), loaded.state, loaded.project.root, force)
        print_plan(steps, json_output, stdout or sys.stdout, loaded.project)
    finally:
        loaded.state.close()
    return EXIT_OK


def print_plan(steps: Iterable[Step], json_output: bool, stream: TextIO,
               project: Project | None = None) -> None:
    """Print each step, then the summary, once every row has been read and found valid.

    Until then the lines wait in a spool (on disk past a megabyte): a mistake in the last row
    still prints nothing but the mistake, and the key column is as wide as the widest key.
    """
    summary = Summary()
    width = 0
    with Spool() as lines:
        for step in steps:
            summary.add(step)
            width = max(width, len(step.key))
            if json_output:
                lines.add_line(json.dumps({"key": step.key, "action": step.action, "reason": step.reason,
                                           "hash": step.job.hash, "output": step.job.output,
                                           **route_fields(step.job)}))
            elif step.action != "up-to-date":
                # Actions and keys hold no tab or newline; a reason (an API error) might.
                reason = f"{step.reason}; {via(step.job)}" if step.action in PAYING_ACTIONS else step.reason
                lines.add_line(f"{step.action}\t{step.key}\t{reason.encode('unicode_escape').decode()}")
        for line in lines.lines():
            if json_output:
                stream.write(line + "\n")
            else:
                action, key, reason = line.split("\t", 2)
                stream.write(f"{action:<11} {key:<{width}}  {reason.encode().decode('unicode_escape')}\n")
    empty = project.empty_rows if project is not None else 0
    if json_output:
        record = {"summary": dict(summary.counts), "estimated_credits": summary.estimated_credits}
        stream.write(json.dumps({**record, **({"empty_rows_skipped": empty} if empty else {})}) + "\n")
        return
    counts = ", ".join(f"{n} {a}" for a, n in sorted(summary.counts.items()))
    note = empty_rows_note(project) if project is not None else ""
    stream.write(f"{counts}; estimated {summary.estimated_credits} credits{note}\n")


def build(path: str | None, *, state_dir: str | None = None, jobs: int | None = None,
          dry_run: bool = False, question: bool = False, fail_fast: bool = False,
          force: Sequence[str] = (), json_output: bool = False, render_timeout: float | None = None,
          api: str | None = None, state_url: str | None = None,
          stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Submit what changed, poll, download, write the manifest; exit code per the README.

    ``render_timeout``: seconds a video may render, from its submission (or from when this build
    takes up one an earlier build submitted), before its row is left unfinished (exit 3).
    """
    from vidbuild.heygen.backend import banner
    from vidbuild.plan.up_to_date import file_stat
    from vidbuild.run.engine import DEFAULT_JOBS, DEFAULT_RENDER_TIMEOUT, Options

    if jobs is not None and jobs < 1:
        raise UsageError("-j must be at least 1")
    if render_timeout is not None and not (math.isfinite(render_timeout) and render_timeout > 0):
        raise UsageError(f"--render-timeout must be a positive number of seconds, got {render_timeout}")
    if not (force or dry_run or json_output):
        unchanged = _unchanged_since_last_build(path, state_dir, state_url)
        if unchanged is not None:
            if not question:
                err = stderr or sys.stderr
                print(banner(), file=err)
                print(f"everything is up to date ({unchanged} videos); nothing to send", file=err)
                print(f"0 built, {unchanged} up to date, 0 failed", file=err)
            return EXIT_OK
    # Before the project file is parsed: a change from here on must keep the build from counting
    # as a snapshot of these inputs.
    project_stat = file_stat(find_project_file(path))
    loaded = _load(path, state_dir, api, state_url)
    try:
        if question:
            return EXIT_FAILED if _anything_to_do(loaded, force) else EXIT_OK
        if dry_run:
            steps = plan_steps(_jobs(loaded, force), loaded.state, loaded.project.root, force)
            print_plan(steps, json_output, stdout or sys.stdout, loaded.project)
            return EXIT_OK
        options = Options(jobs=jobs or DEFAULT_JOBS, fail_fast=fail_fast,
                          render_ratio=loaded.state.get_meta(RENDER_RATIO),
                          protected=_protected(loaded),
                          render_timeout=render_timeout or DEFAULT_RENDER_TIMEOUT)
        seen = _inputs_seen(loaded, {str(loaded.project.file): project_stat})
        with RowIndex() as index:
            return _run_build(loaded, force, options, index,
                              choose_reporter(json_output, stdout if json_output else stderr), seen)
    finally:
        loaded.state.close()


def _anything_to_do(loaded: Loaded, force: Sequence[str]) -> bool:
    """``build -q``: whether any row is not up to date. Deciding stops at the first such row;
    reading the rows does not, so a mistake anywhere is still reported."""
    jobs = _jobs(loaded, force)
    steps = plan_steps(jobs, loaded.state, loaded.project.root, force)
    pending = any(step.action != "up-to-date" for step in steps)
    for _ in jobs:   # plan_steps took rows from this very iterator: the rest are read, not decided
        pass
    return pending


def _run_build(loaded: Loaded, force: Sequence[str], options: Options, index: RowIndex,
               reporter: Reporter, seen: InputsSeen) -> int:
    """Read every row once to validate, plan and index it (keeping no body), then again to act."""
    root = loaded.project.root
    summary = Summary()
    for step in plan_steps(indexed(_jobs(loaded, force), index), loaded.state, root, force):
        summary.add(step)
    with _BuildLock(root) as lock:
        if lock.alone():
            _clean_leftovers(root, index)
        lock.share()
        return _act(loaded, force, options, index, reporter, summary, seen)


def _act(loaded: Loaded, force: Sequence[str], options: Options, index: RowIndex,
         reporter: Reporter, summary: Summary, seen: InputsSeen) -> int:
    from vidbuild.run.engine import Engine

    root = loaded.project.root
    if not summary.up_to_date:
        # Work is starting: until it completes, the last snapshot no longer speaks for state.
        from vidbuild.plan.up_to_date import forget

        forget(loaded.state)
    backend = _open_backend(loaded, reporter)
    try:
        if loaded.project.empty_rows:
            reporter.note(None, empty_rows_note(loaded.project).lstrip(", "))
        reporter.planned(summary)
        engine = Engine(backend, loaded.state, reporter, root, options)
        again = same_as_indexed(_jobs(loaded, force), index)
        try:
            outcome = engine.run(plan_steps(again, loaded.state, root, force))
        finally:
            if engine.pacer.learned:   # the next build starts from this build's pace
                loaded.state.set_meta(RENDER_RATIO, engine.pacer.ratio)
        for text in backend.notes():
            reporter.note(None, text)
    finally:
        backend.close()
        manifest = _write_manifest(loaded, index)
    if outcome.exit_code == EXIT_OK:
        changed = _remember_complete_build(loaded, index, manifest, seen)
        if changed:
            shown = ", ".join(display_path(Path(name)) for name in changed[:3])
            more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
            outcome.stopped = (f"the project's inputs changed during the build ({shown}{more}): "
                               f"what was built is kept; run vidbuild build again")
    reporter.finished(outcome)
    return outcome.exit_code


class _BuildLock:
    """A flock on the project directory: every build holds it shared while it may leave temporary
    files; a build that gets it exclusively is the only one running, so any temporary file it
    finds was left by a build that is gone (killed). Held per project whatever --state-dir says."""

    def __init__(self, root: Path) -> None:
        self._descriptor = os.open(root, os.O_RDONLY)

    def alone(self) -> bool:
        try:
            fcntl.flock(self._descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def share(self) -> None:
        """Hold it shared (waiting while another build cleans up)."""
        fcntl.flock(self._descriptor, fcntl.LOCK_SH)

    def __enter__(self) -> _BuildLock:
        return self

    def __exit__(self, *_: object) -> None:
        os.close(self._descriptor)   # releases the lock


def _clean_leftovers(root: Path, index: RowIndex) -> None:
    """Remove temporary files killed builds left beside the outputs and the manifest."""
    from vidbuild.report.manifest import shared_dir
    from vidbuild.run.files import remove_leftovers

    directories = {posixpath.dirname(row.output) or "." for row in index.entries()}
    manifest = shared_dir(root, directories)
    remove_leftovers([manifest, *(root / directory for directory in sorted(directories))])


def _open_backend(loaded: Loaded, reporter: Reporter) -> Backend:
    from vidbuild.heygen.backend import open_backend

    backend = open_backend(loaded.state_root)
    reporter.banner(backend.banner)
    return backend


def _write_manifest(loaded: Loaded, index: RowIndex) -> Path:
    from vidbuild.report.manifest import write_manifest

    return write_manifest(loaded.project.root, loaded.project.name, index.entries, loaded.state,
                          _protected(loaded))


def _protected(loaded: Loaded) -> ProtectedFiles:
    from vidbuild.spec.protected import ProtectedFiles

    return ProtectedFiles.of(loaded.project, loaded.state_root)


def _unchanged_since_last_build(path: str | None, state_dir: str | None, url: str | None) -> int | None:
    """How many videos, if inputs and outputs are those of the last complete build (no expansion)."""
    from vidbuild.heygen.backend import backend_namespace
    from vidbuild.plan.up_to_date import is_up_to_date

    chosen = chosen_state_url(url, state_dir)
    root = find_project_file(path).parent
    store = state_root(root, state_dir)
    if not state_exists(store, backend_namespace(), url=chosen):
        return None
    # A database's namespace holds the project's name (parsing the project file is quick).
    name = load_project(path).name if chosen else ""
    state = open_state(store, backend_namespace(), url=chosen, project=name)
    try:
        return is_up_to_date(state, root)
    finally:
        state.close()


def _template_dirs(project: Project) -> list[Path]:
    from vidbuild.resources import templates_dir

    return [project.templates_dir, templates_dir()]


def _inputs_seen(loaded: Loaded, earlier: dict[str, tuple[int, ...] | None]) -> InputsSeen:
    """The inputs' stats and fingerprint, taken before the rows are read."""
    from vidbuild.plan.up_to_date import input_files, inputs_seen
    from vidbuild.spec.rows import data_source

    project = loaded.project
    template_dirs = _template_dirs(project)
    files = input_files(project.file, data_source(project), template_dirs)
    return inputs_seen(files, loaded.state.namespace, template_dirs, earlier)


class _NotAsRecorded(Exception):
    """An output is not the file state records for its row: no snapshot."""


def _remember_complete_build(loaded: Loaded, index: RowIndex, manifest: Path, seen: InputsSeen) -> list[str]:
    """Every row is downloaded: snapshot inputs and outputs so an unchanged rerun is instant.

    Only if the inputs are as the build found them before reading them (else the files that
    changed are returned, and no snapshot is taken) and every output is the file state records
    for its row (another build may have taken a row over).
    """
    from vidbuild.plan.up_to_date import changed_since, save

    template_dirs = _template_dirs(loaded.project)
    changed = changed_since(seen, _inputs_seen(loaded, {}))
    if changed:
        return changed
    try:
        save(loaded.state, loaded.project.root, list(seen.files), template_dirs,
             _recorded_outputs(loaded, index), manifest, read=seen)
    except (OSError, _NotAsRecorded):
        pass   # an output vanished or was replaced meanwhile: the next build checks every row
    return []


def _recorded_outputs(loaded: Loaded, index: RowIndex) -> Iterator[tuple[str, int, int]]:
    """(output, size, mtime_ns) per row, each checked against the row's record in state."""
    root = loaded.project.root
    for row, record in with_records(loaded.state, index.entries()):
        stat = (root / row.output).stat()
        if record is None or record.status != "downloaded":
            raise _NotAsRecorded(row.key)
        own = (record.output == row.output
               and (stat.st_size, stat.st_mtime_ns) == (record.size, record.mtime_ns))
        if not own and not holds_video(root / row.output, record):   # a twin row's copy
            raise _NotAsRecorded(row.key)
        yield row.output, stat.st_size, stat.st_mtime_ns


def status(path: str | None, *, state_dir: str | None = None, json_output: bool = False,
           stdout: TextIO | None = None, state_url: str | None = None) -> int:
    """Every row's state from state alone (the database with a state URL): no HeyGen request."""
    from vidbuild.report.manifest import entry

    # Status reads state, which is keyed by content alone: which API a row would go through is moot.
    loaded = _load(path, state_dir, api="legacy", url=state_url)
    stream = stdout or sys.stdout
    try:
        with RowIndex() as index:
            for _ in indexed(_jobs(loaded), index):
                pass
            rows = (entry(*row, record) for row, record in with_records(loaded.state, index.entries()))
            _print_status(rows, index.key_width if index.count else 3, json_output, stream)
    finally:
        loaded.state.close()
    return EXIT_OK


def _print_status(rows: Iterable[dict[str, Any]], width: int, json_output: bool, stream: TextIO) -> None:
    if json_output:
        for row in rows:
            stream.write(json.dumps(row) + "\n")
        return
    stream.write(f"{'KEY':<{width}}  {'STATUS':<10}  {'VIDEO_ID':<32}  OUTPUT / ERROR\n")
    for row in rows:
        detail = row["error"] if row["status"] in ("failed", "uncertain") else (row["output"] or "")
        stream.write(f"{row['key']:<{width}}  {row['status']:<10}  {row['video_id'] or '-':<32}  "
                     f"{detail}\n")


def clean(path: str | None, *, state_dir: str | None = None, yes: bool = False,
          stdin: TextIO | None = None, stderr: TextIO | None = None, state_url: str | None = None) -> int:
    """Remove the state directory after asking (``--yes`` for CI); refuse while a build runs.
    With a state URL, remove the project's state for the current API from the database instead."""
    chosen = chosen_state_url(state_url, state_dir)
    project = load_project(path)
    root = state_root(project.root, state_dir)
    err = stderr or sys.stderr
    if chosen is not None:
        return _clean_database(project, root, chosen, yes, stdin, err)
    if not root.exists():
        print(f"nothing to clean: {display_path(root)} does not exist", file=err)
        return EXIT_OK
    if _build_running(root):
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


def _clean_database(project: Project, root: Path, url: str, yes: bool, stdin: TextIO | None,
                    err: TextIO) -> int:
    """Delete the project's namespace from the state database, unless a build has it open."""
    from vidbuild.heygen.backend import backend_namespace
    from vidbuild.state.postgres import PostgresState, scrub_url

    state = open_state(root, backend_namespace(), url=url, project=project.name)
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


def _build_running(root: Path) -> bool:
    for lock in root.glob("*/owners/*.lock"):
        with lock.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
    return False

