"""The plan, build and status commands: flags in, ``vidbuild.pipeline`` called, an exit code out."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from typing import TextIO

from vidbuild.errors import EXIT_OK
from vidbuild.heygen.backend_policy import check_build_backend, check_requested
from vidbuild.heygen.choice import BackendChoice
from vidbuild.pipeline import BuildOptions, PlanOptions, open_project
from vidbuild.pipeline import build as run_build
from vidbuild.pipeline import plan as run_plan
from vidbuild.pipeline import status as run_status
from vidbuild.pipeline.spending import Approval
from vidbuild.planner.budget import confirmed
from vidbuild.planner.decide import Summary
from vidbuild.report.progress import choose_reporter
from vidbuild.report.tables import PlanTable, StatusTable


def plan(path: str | None, *, state_dir: str | None = None, json_output: bool = False,
         force: Sequence[str] = (), api: str | None = None, stdout: TextIO | None = None,
         state_url: str | None = None, backend: BackendChoice | None = None,
         select: Sequence[str] | None = None, exclude: Sequence[str] | None = None) -> int:
    """Say what a build would do for each selected row (default: every row), why, and through
    which API; sends nothing."""
    choice = announced(backend or BackendChoice.from_env())
    project, state = open_project(path, backend=choice, state_dir=state_dir, state_url=state_url)
    try:
        run_plan(project, state=state, view=_plan_table(choice, stdout, json_output),
                 options=PlanOptions(force=force, api=api, state_dir=state_dir, select=select or (),
                                     exclude=exclude or ()))
    finally:
        state.close()
    return EXIT_OK


def build(path: str | None, *, state_dir: str | None = None, jobs: int | None = None,
          dry_run: bool = False, question: bool = False, fail_fast: bool = False,
          force: Sequence[str] = (), json_output: bool = False, render_timeout: float | None = None,
          api: str | None = None, state_url: str | None = None, max_credits: float | None = None,
          yes: bool = False, stdin: TextIO | None = None, select: Sequence[str] | None = None,
          exclude: Sequence[str] | None = None, stdout: TextIO | None = None,
          stderr: TextIO | None = None, backend: BackendChoice | None = None) -> int:
    """Submit what changed, poll, download, write the manifest; exit code per the README.

    ``-n`` prints the plan, ``-q`` only says (by its exit code) whether anything is pending.
    ``max_credits`` (else the project's ``max_credits:``): refuse a plan estimated to spend more.
    A paying build asks first when ``stdin`` (default: the process's) is a terminal, unless ``yes``.
    """
    stdin = stdin or sys.stdin
    approve = None if yes or not stdin.isatty() else _asking(stdin, stderr or sys.stderr)
    options = BuildOptions(jobs=jobs, fail_fast=fail_fast, force=force, render_timeout=render_timeout,
                           api=api, state_dir=state_dir, snapshot=not json_output, max_credits=max_credits,
                           approve=approve, select=select or (), exclude=exclude or ())
    choice = backend or BackendChoice.from_env()
    if not (dry_run or question):
        check_build_backend(choice)
    project, state = open_project(path, backend=choice, state_dir=state_dir, state_url=state_url)
    try:
        if question:
            planning = dataclasses.replace(options.planning(), question=True)
            return run_plan(project, state=state, options=planning).exit_code
        if dry_run:
            announced(choice, stderr)
            run_plan(project, state=state, view=_plan_table(choice, stdout, json_output),
                     options=options.planning())
            return EXIT_OK
        reporter = choose_reporter(json_output, stdout if json_output else stderr)
        return run_build(project, state=state, backend=choice, reporter=reporter, options=options).exit_code
    finally:
        state.close()


def status(path: str | None, *, state_dir: str | None = None, json_output: bool = False,
           stdout: TextIO | None = None, state_url: str | None = None,
           backend: BackendChoice | None = None, select: Sequence[str] | None = None,
           exclude: Sequence[str] | None = None) -> int:
    """Every selected row's state (default: every row) from state alone (the database with a
    state URL): no HeyGen request."""
    choice = announced(backend or BackendChoice.from_env())
    project, state = open_project(path, backend=choice, state_dir=state_dir, state_url=state_url)
    try:
        run_status(project, state=state, view=StatusTable(stdout or sys.stdout, json_output=json_output),
                   state_dir=state_dir, select=select or (), exclude=exclude or ())
    finally:
        state.close()
    return EXIT_OK


def announced(choice: BackendChoice, stream: TextIO | None = None) -> BackendChoice:
    """``choice``, once a VIDBUILD_BACKEND it can't honour is refused and its banner printed: the
    first line of a command that reads state or may send names the backend."""
    check_requested(choice)
    print(choice.banner, file=stream or sys.stderr)
    return choice


def _plan_table(choice: BackendChoice, stdout: TextIO | None, json_output: bool) -> PlanTable:
    return PlanTable(stdout or sys.stdout, json_output=json_output, planned_against=choice.planned_against)


def _asking(stdin: TextIO, stderr: TextIO) -> Approval:
    """The approval of a person at a terminal: the plan's spending shown, then [y/N]."""
    def ask(summary: Summary, warning: str | None) -> bool:
        if confirmed(summary, warning, stdin, stderr):
            return True
        print("not built; nothing sent", file=stderr)
        return False

    return ask
