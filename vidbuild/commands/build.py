"""The plan, build, status and clean commands: the incremental build and its local state."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from vidbuild.errors import EXIT_FAILED, EXIT_OK, UsageError
from vidbuild.expand import Job, expand_project
from vidbuild.plan import Plan, make_plan
from vidbuild.project import Project, display_path, find_project_file, load_project
from vidbuild.state import DiskState, state_root

if TYPE_CHECKING:
    from vidbuild.backend import Backend
    from vidbuild.report import Reporter


RENDER_RATIO = "render_ratio"


@dataclass
class Loaded:
    project: Project
    jobs: list[Job]
    state: DiskState
    state_root: Path


def _load(path: str | None, state_dir: str | None, force: Sequence[str] = ()) -> Loaded:
    """Validate everything first (a mistake anywhere sends nothing), then open state."""
    from vidbuild.backend import backend_namespace

    project = load_project(path)
    jobs = list(expand_project(project))
    unknown = set(force) - {job.key for job in jobs}
    if unknown:
        raise UsageError(f"--force: no row with key {', '.join(sorted(unknown))}")
    root = state_root(project.root, state_dir)
    return Loaded(project, jobs, DiskState(root, backend_namespace()), root)


def plan(path: str | None, *, state_dir: str | None = None, json_output: bool = False,
         force: Sequence[str] = (), stdout: TextIO | None = None) -> int:
    """Say what a build would do for each row, and why; sends nothing."""
    loaded = _load(path, state_dir, force)
    try:
        result = make_plan(loaded.jobs, loaded.state, loaded.project.root, force)
    finally:
        loaded.state.close()
    print_plan(result, json_output, stdout or sys.stdout)
    return EXIT_OK


def print_plan(result: Plan, json_output: bool, stream: TextIO) -> None:
    if json_output:
        for step in result.steps:
            stream.write(json.dumps({"key": step.key, "action": step.action, "reason": step.reason,
                                     "hash": step.job.hash, "output": step.job.output}) + "\n")
        stream.write(json.dumps({"summary": dict(result.counts),
                                 "estimated_credits": result.estimated_credits}) + "\n")
        return
    width = max((len(s.key) for s in result.steps), default=0)
    for step in result.steps:
        if step.action != "up-to-date":
            stream.write(f"{step.action:<11} {step.key:<{width}}  {step.reason}\n")
    counts = result.counts
    summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
    stream.write(f"{summary}; estimated {result.estimated_credits} credits\n")


def build(path: str | None, *, state_dir: str | None = None, jobs: int | None = None,
          dry_run: bool = False, question: bool = False, fail_fast: bool = False,
          force: Sequence[str] = (), json_output: bool = False,
          stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Submit what changed, poll, download, write the manifest; exit code per the README."""
    from vidbuild.backend import banner
    from vidbuild.engine import DEFAULT_JOBS, Engine, Options
    from vidbuild.report import choose_reporter

    if jobs is not None and jobs < 1:
        raise UsageError("-j must be at least 1")
    if not (force or dry_run or json_output):
        unchanged = _unchanged_since_last_build(path, state_dir)
        if unchanged is not None:
            if not question:
                err = stderr or sys.stderr
                print(banner(), file=err)
                print(f"everything is up to date ({unchanged} videos); nothing to send", file=err)
                print(f"0 built, {unchanged} up to date, 0 failed", file=err)
            return EXIT_OK
    loaded = _load(path, state_dir, force)
    root = loaded.project.root
    try:
        result = make_plan(loaded.jobs, loaded.state, root, force)
        if question:
            return EXIT_OK if result.up_to_date else EXIT_FAILED
        if dry_run:
            print_plan(result, json_output, stdout or sys.stdout)
            return EXIT_OK
        if not result.up_to_date:
            # Work is starting: until it completes, the last snapshot no longer speaks for state.
            from vidbuild.uptodate import forget

            forget(loaded.state)
        reporter = choose_reporter(json_output, stdout if json_output else stderr)
        backend = _open_backend(loaded, reporter)
        try:
            reporter.planned(result)
            options = Options(jobs=jobs or DEFAULT_JOBS, fail_fast=fail_fast,
                              render_ratio=loaded.state.get_meta(RENDER_RATIO))
            engine = Engine(backend, loaded.state, reporter, root, options)
            try:
                outcome = engine.run(result)
            finally:
                if engine.pacer.learned:   # the next build starts from this build's pace
                    loaded.state.set_meta(RENDER_RATIO, engine.pacer.ratio)
        finally:
            backend.close()
            manifest = _write_manifest(loaded)
        if outcome.exit_code == EXIT_OK:
            _remember_complete_build(loaded, manifest)
        reporter.finished(outcome)
        return outcome.exit_code
    finally:
        loaded.state.close()


def _open_backend(loaded: Loaded, reporter: Reporter) -> Backend:
    from vidbuild.backend import open_backend

    backend = open_backend(loaded.state_root)
    reporter.banner(backend.banner)
    return backend


def _write_manifest(loaded: Loaded) -> Path:
    from vidbuild.manifest import write_manifest

    return write_manifest(loaded.project.root, loaded.project.name, loaded.jobs, loaded.state)


def _unchanged_since_last_build(path: str | None, state_dir: str | None) -> int | None:
    """How many videos, if inputs and outputs are those of the last complete build (no expansion)."""
    from vidbuild.backend import backend_namespace
    from vidbuild.uptodate import is_up_to_date

    root = find_project_file(path).parent
    store = state_root(root, state_dir)
    if not (store / backend_namespace()).is_dir():
        return None
    state = DiskState(store, backend_namespace())
    try:
        return is_up_to_date(state, root)
    finally:
        state.close()


def _remember_complete_build(loaded: Loaded, manifest: Path) -> None:
    """Every row is downloaded: snapshot inputs and outputs so an unchanged rerun is instant."""
    from vidbuild.data import data_source
    from vidbuild.resources import templates_dir
    from vidbuild.uptodate import input_files, save

    project, root = loaded.project, loaded.project.root
    template_dirs = [project.templates_dir, templates_dir()]
    outputs = []
    for job in loaded.jobs:
        stat = (root / job.output).stat()
        outputs.append((job.output, stat.st_size, stat.st_mtime_ns))
    files = input_files(project.file, data_source(project), template_dirs)
    save(loaded.state, root, files, template_dirs, outputs, manifest)


def status(path: str | None, *, state_dir: str | None = None, json_output: bool = False,
           stdout: TextIO | None = None) -> int:
    """Every row's state from local state alone: no network."""
    from vidbuild.manifest import entry

    loaded = _load(path, state_dir)
    stream = stdout or sys.stdout
    try:
        rows = [entry(job, loaded.state.get(job.hash)) for job in loaded.jobs]
    finally:
        loaded.state.close()
    if json_output:
        for row in rows:
            stream.write(json.dumps(row) + "\n")
        return EXIT_OK
    width = max((len(str(r["key"])) for r in rows), default=3)
    stream.write(f"{'KEY':<{width}}  {'STATUS':<10}  {'VIDEO_ID':<32}  OUTPUT / ERROR\n")
    for row in rows:
        detail = row["error"] if row["status"] == "failed" else (row["output"] or "")
        stream.write(f"{row['key']:<{width}}  {row['status']:<10}  {row['video_id'] or '-':<32}  "
                     f"{detail}\n")
    return EXIT_OK


def clean(path: str | None, *, state_dir: str | None = None, yes: bool = False,
          stdin: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Remove the state directory after asking (``--yes`` for CI); refuse while a build runs."""
    project = load_project(path)
    root = state_root(project.root, state_dir)
    err = stderr or sys.stderr
    if not root.exists():
        print(f"nothing to clean: {display_path(root)} does not exist", file=err)
        return EXIT_OK
    if _build_running(root):
        raise UsageError(f"a vidbuild build is using {display_path(root)}; not cleaning")
    if not yes:
        stdin = stdin or sys.stdin
        if not stdin.isatty():
            raise UsageError("clean asks before deleting state; pass --yes to skip the question")
        err.write(f"delete {display_path(root)} (all record of submitted and downloaded videos)? [y/N] ")
        err.flush()
        if stdin.readline().strip().lower() not in ("y", "yes"):
            print("not cleaned", file=err)
            return EXIT_OK
    shutil.rmtree(root)
    print(f"removed {display_path(root)}", file=err)
    return EXIT_OK


def _build_running(root: Path) -> bool:
    import fcntl

    for lock in root.glob("*/owners/*.lock"):
        with lock.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
    return False

