"""The plan, build and status commands: flags in, ``vidbuild.pipeline`` called, an exit code out."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from typing import TextIO

from vidbuild.errors import EXIT_OK, SpendingRefused, UsageError
from vidbuild.heygen.backend_policy import check_build_backend, check_requested
from vidbuild.heygen.choice import BackendChoice
from vidbuild.pipeline import BuildOptions, PlanOptions, open_project
from vidbuild.pipeline import build as run_build
from vidbuild.pipeline import plan as run_plan
from vidbuild.pipeline import status as run_status
from vidbuild.pipeline.openers import parsed
from vidbuild.pipeline.spending import Approval
from vidbuild.planner.budget import confirmed
from vidbuild.planner.decide import Summary
from vidbuild.planner.saved import SavedOptions, SavedPlan, read_plan
from vidbuild.planner.shard import parse_shard
from vidbuild.report.progress import TICK_SECONDS, choose_reporter, final_word, heartbeat_from_env
from vidbuild.report.tables import PlanTable, PlanView, StatusTable
from vidbuild.spec.project import Project


def plan(path: str | None, *, state_dir: str | None = None, json_output: bool = False,
         force: Sequence[str] = (), api: str | None = None, stdout: TextIO | None = None,
         state_url: str | None = None, backend: BackendChoice | None = None,
         select: Sequence[str] | None = None, exclude: Sequence[str] | None = None,
         out: str | None = None, shard: str | None = None) -> int:
    """Say what a build would do for each selected row (default: every row; of ``shard``, "K/N"),
    why, and through which API; sends nothing. ``out``: also write the plan there, for
    ``build --plan``."""
    if out is not None and shard is not None:
        raise UsageError("plan --out saves a whole plan: not with --shard")
    part = parse_shard(shard) if shard is not None else None
    choice = announced(backend or BackendChoice.from_env())
    project, state = open_project(path, backend=choice, state_dir=state_dir, state_url=state_url)
    options = PlanOptions(force=force, api=api, state_dir=state_dir, select=select or (),
                          exclude=exclude or (), shard=part)
    try:
        view: PlanView = _plan_table(choice, stdout, json_output)
        if out is not None:
            view = _saving(view, out, parsed(project), choice, options)
        run_plan(project, state=state, view=view, options=options)
    finally:
        state.close()
    return EXIT_OK


def build(path: str | None, *, state_dir: str | None = None, jobs: int | None = None,
          dry_run: bool = False, question: bool = False, fail_fast: bool = False,
          force: Sequence[str] = (), json_output: bool = False, render_timeout: float | None = None,
          api: str | None = None, state_url: str | None = None, max_credits: float | None = None,
          yes: bool = False, stdin: TextIO | None = None, select: Sequence[str] | None = None,
          exclude: Sequence[str] | None = None, stdout: TextIO | None = None,
          stderr: TextIO | None = None, backend: BackendChoice | None = None,
          plan_file: str | None = None, shard: str | None = None, silent: bool = False) -> int:
    """Submit what changed, poll, download, write the manifest; exit code per the README.
    ``shard`` ("K/N"): only that part of the rows (see ``vidbuild.planner.shard``).
    ``-n`` prints the plan, ``-q`` only says (by its exit code) whether anything is pending,
    ``silent`` prints only the summary. With ``json_output`` the events end with ``finished``,
    ``interrupted`` (Ctrl-C, SIGTERM) or ``error``, whatever stops the build.
    ``max_credits`` (else the project's ``max_credits:``): refuse a plan estimated to spend more.
    A paying build asks first when ``stdin`` and ``stderr`` (default: the process's) are a
    terminal, unless ``yes``; SpendingRefused (exit 2, nothing sent) when the answer is no.
    ``plan_file``: carry out the plan ``plan --out`` saved there, and nothing else (its own
    selection, --force and --api), refusing if anything changed since.
    """
    choice = backend or BackendChoice.from_env()
    if plan_file is not None and (question or dry_run):
        raise UsageError("--plan carries out a saved plan: not with -n or -q (vidbuild plan shows "
                         "what a build would do now; the saved plan is checked when it is applied)")
    if question or dry_run:
        return _plan_only(path, choice, state_dir=state_dir, state_url=state_url, question=question,
                          json_output=json_output, stdout=stdout, stderr=stderr,
                          options=BuildOptions(force=force, api=api, state_dir=state_dir,
                                               select=select or (), exclude=exclude or (),
                                               shard=parse_shard(shard) if shard is not None else None))
    reporter = choose_reporter(json_output, stdout if json_output else stderr, silent=silent,
                               heartbeat=heartbeat_from_env())
    try:
        approved = None
        if plan_file is not None:
            if select or exclude or force or api:
                raise UsageError("--plan carries the selection, --force and --api it was made with: "
                                 "give them to vidbuild plan --out, not to build")
            if shard:
                raise UsageError("--plan carries out a whole saved plan: not with --shard")
            approved = read_plan(plan_file)
            select, exclude = approved.options.select, approved.options.exclude
            force, api = approved.options.force, approved.options.api
        part = parse_shard(shard) if shard is not None else None
        stdin = stdin or sys.stdin
        asked = stderr or sys.stderr
        approve = None if yes or not (stdin.isatty() and asked.isatty()) else _asking(stdin, asked)
        options = BuildOptions(jobs=jobs, fail_fast=fail_fast, force=force, render_timeout=render_timeout,
                               api=api, state_dir=state_dir, snapshot=not (json_output or approved),
                               max_credits=max_credits, approve=approve, select=select or (),
                               exclude=exclude or (), approved=approved, shard=part, tick=TICK_SECONDS)
        check_build_backend(choice)
        project, state = open_project(path, backend=choice, state_dir=state_dir, state_url=state_url)
        try:
            if approved is not None:
                from vidbuild.commands.saved_plans import current_inputs

                approved.check_backend(choice.planned_against)
                approved.check_inputs(current_inputs(parsed(project)))
            return run_build(project, state=state, backend=choice, reporter=reporter,
                             options=options).exit_code
        finally:
            state.close()
    except BaseException as exc:
        final_word(reporter, exc)
        raise


def _plan_only(path: str | None, choice: BackendChoice, *, state_dir: str | None, state_url: str | None,
               question: bool, json_output: bool, stdout: TextIO | None, stderr: TextIO | None,
               options: BuildOptions) -> int:
    """``build -q`` and ``build -n``: plan, send nothing."""
    project, state = open_project(path, backend=choice, state_dir=state_dir, state_url=state_url)
    try:
        if question:
            planning = dataclasses.replace(options.planning(), question=True)
            return run_plan(project, state=state, options=planning).exit_code
        announced(choice, stderr)
        run_plan(project, state=state, view=_plan_table(choice, stdout, json_output),
                 options=options.planning())
        return EXIT_OK
    finally:
        state.close()


def status(path: str | None, *, state_dir: str | None = None, json_output: bool = False,
           stdout: TextIO | None = None, state_url: str | None = None,
           backend: BackendChoice | None = None, select: Sequence[str] | None = None,
           exclude: Sequence[str] | None = None, shard: str | None = None) -> int:
    """Every selected row's state (default: every row; of ``shard``, "K/N") from state alone (the
    database with a state URL): no HeyGen request."""
    part = parse_shard(shard) if shard is not None else None
    choice = announced(backend or BackendChoice.from_env())
    project, state = open_project(path, backend=choice, state_dir=state_dir, state_url=state_url)
    try:
        run_status(project, state=state, view=StatusTable(stdout or sys.stdout, json_output=json_output),
                   state_dir=state_dir, select=select or (), exclude=exclude or (), shard=part)
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


def _saving(view: PlanView, out: str, project: Project, choice: BackendChoice,
            options: PlanOptions) -> PlanView:
    """``view``, also writing the plan to ``out`` (the inputs' digests taken before any row is read)."""
    from vidbuild.commands.saved_plans import SavingView, current_inputs

    saved = SavedPlan(project.name, current_inputs(project),
                      SavedOptions(tuple(options.select), tuple(options.exclude), tuple(options.force),
                                   options.api), choice.planned_against)
    return SavingView(view, saved, out)


def _asking(stdin: TextIO, stderr: TextIO) -> Approval:
    """The approval of a person at a terminal: the plan's spending shown, then [y/N]."""
    def ask(summary: Summary, warning: str | None) -> bool:
        if confirmed(summary, warning, stdin, stderr):
            return True
        raise SpendingRefused("not built: the spending was declined at the prompt; nothing sent")

    return ask
