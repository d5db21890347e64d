"""The plan, build and status commands: flags in, ``vidbuild.pipeline`` called, an exit code out."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from vidbuild.errors import EXIT_OK
from vidbuild.heygen.choice import BackendChoice
from vidbuild.pipeline import BuildOptions, PlanOptions, open_project
from vidbuild.pipeline import build as run_build
from vidbuild.pipeline import plan as run_plan
from vidbuild.pipeline import status as run_status
from vidbuild.planner.shard import parse_shard
from vidbuild.report.progress import TICK_SECONDS, choose_reporter, final_word, heartbeat_from_env
from vidbuild.report.tables import PlanTable, StatusTable


def plan(path: str | None, *, state_dir: str | None = None, json_output: bool = False,
         force: Sequence[str] = (), api: str | None = None, stdout: TextIO | None = None,
         state_url: str | None = None, backend: BackendChoice | None = None, shard: str | None = None) -> int:
    """Say what a build would do for each row (of ``shard``, "K/N"), why, and through which API;
    sends nothing."""
    part = parse_shard(shard) if shard is not None else None
    choice = backend or BackendChoice.from_env()
    project, state = open_project(path, backend=choice, state_dir=state_dir, state_url=state_url)
    try:
        run_plan(project, state=state, view=PlanTable(stdout or sys.stdout, json_output=json_output),
                 options=PlanOptions(force=force, api=api, state_dir=state_dir, shard=part))
    finally:
        state.close()
    return EXIT_OK


def build(path: str | None, *, state_dir: str | None = None, jobs: int | None = None,
          dry_run: bool = False, question: bool = False, fail_fast: bool = False,
          force: Sequence[str] = (), json_output: bool = False, render_timeout: float | None = None,
          api: str | None = None, state_url: str | None = None,
          stdout: TextIO | None = None, stderr: TextIO | None = None,
          backend: BackendChoice | None = None, shard: str | None = None, silent: bool = False) -> int:
    """Submit what changed, poll, download, write the manifest; exit code per the README.

    ``shard`` ("K/N"): only that part of the rows (see ``vidbuild.planner.shard``).

    ``-n`` prints the plan, ``-q`` only says (by its exit code) whether anything is pending,
    ``silent`` prints only the summary. With ``json_output`` the events end with ``finished``,
    ``interrupted`` (Ctrl-C, SIGTERM) or ``error``, whatever stops the build.
    """
    def settings() -> BuildOptions:
        part = parse_shard(shard) if shard is not None else None
        return BuildOptions(jobs=jobs, fail_fast=fail_fast, force=force, render_timeout=render_timeout,
                            api=api, state_dir=state_dir, snapshot=not json_output, shard=part,
                            tick=TICK_SECONDS)

    choice = backend or BackendChoice.from_env()
    if question or dry_run:
        return _plan_only(path, choice, settings(), question=question, json_output=json_output,
                          stdout=stdout, state_url=state_url)
    reporter = choose_reporter(json_output, stdout if json_output else stderr, silent=silent,
                               heartbeat=heartbeat_from_env())
    try:
        options = settings()
        project, state = open_project(path, backend=choice, state_dir=state_dir, state_url=state_url)
        try:
            return run_build(project, state=state, backend=choice, reporter=reporter,
                             options=options).exit_code
        finally:
            state.close()
    except BaseException as exc:
        final_word(reporter, exc)
        raise


def _plan_only(path: str | None, choice: BackendChoice, options: BuildOptions, *, question: bool,
               json_output: bool, stdout: TextIO | None, state_url: str | None) -> int:
    """``build -q`` and ``build -n``: plan, send nothing."""
    project, state = open_project(path, backend=choice, state_dir=options.state_dir,
                                  state_url=state_url)
    try:
        if question:
            planning = PlanOptions(force=options.force, api=options.api, state_dir=options.state_dir,
                                   question=True, shard=options.shard)
            return run_plan(project, state=state, options=planning).exit_code
        run_plan(project, state=state, view=PlanTable(stdout or sys.stdout, json_output=json_output),
                 options=options.planning())
        return EXIT_OK
    finally:
        state.close()


def status(path: str | None, *, state_dir: str | None = None, json_output: bool = False,
           stdout: TextIO | None = None, state_url: str | None = None,
           backend: BackendChoice | None = None, shard: str | None = None) -> int:
    """Every row's state (of ``shard``, "K/N") from state alone (the database with a state URL):
    no HeyGen request."""
    part = parse_shard(shard) if shard is not None else None
    choice = backend or BackendChoice.from_env()
    project, state = open_project(path, backend=choice, state_dir=state_dir, state_url=state_url)
    try:
        run_status(project, state=state, view=StatusTable(stdout or sys.stdout, json_output=json_output),
                   state_dir=state_dir, shard=part)
    finally:
        state.close()
    return EXIT_OK
