"""The build, end to end: answer an unchanged rerun from the snapshot, else read every row once to
validate, plan and index it (rows known unchanged are not rendered), clean up after killed builds,
submit, poll and download what the plan says from the Jobs that one pass kept, then write the
manifest, remember the rows that ended downloaded and take a new snapshot."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from vidbuild import collector
from vidbuild.errors import EXIT_FAILED, EXIT_OK, LocalWriteError, VidbuildError
from vidbuild.heygen.choice import BackendChoice, Timing
from vidbuild.pipeline.openers import jobs, parsed, project_file, project_root, state_directory
from vidbuild.pipeline.options import BuildOptions, BuildOutcome, ProjectSource
from vidbuild.pipeline.snapshot import (
    RecordedOutputs,
    forget,
    inputs_seen,
    refuse_changed_inputs,
    remember_complete_build,
    unchanged_videos,
)
from vidbuild.pipeline.spending import spending_approved
from vidbuild.planner.account_search import mark_account_searched
from vidbuild.planner.budget import check_limit, credit_limit
from vidbuild.planner.decide import UP_TO_DATE_REASON, Step, Summary, plan_steps
from vidbuild.planner.forcing import Forcing
from vidbuild.planner.row_index import IndexEntry, JobSpool, RowIndex, settled_jobs
from vidbuild.planner.select import Selection
from vidbuild.planner.shard import in_shard
from vidbuild.report.progress import PlainReporter
from vidbuild.run.outcome import CountsCached, Reporter
from vidbuild.spec.project import Project, display_path
from vidbuild.spec.rows import empty_rows_note
from vidbuild.state.locks import BuildLock
from vidbuild.state.protocol import State

if TYPE_CHECKING:
    from vidbuild.heygen.backend import Backend
    from vidbuild.planner.up_to_date import InputsSeen
    from vidbuild.report.run_results import RowTally, RunFacts
    from vidbuild.run.options import Options
    from vidbuild.run.outcome import Outcome
    from vidbuild.spec.protected import ProtectedFiles

RENDER_RATIO = "render_ratio"   # state's meta entries: the render pace the last build learned


def render_ratio_entry(timing: Timing) -> str:
    """The meta entry for the pace learned against ``timing``: a ratio is only meaningful against
    the model it was learned for (an emulator at another speed, another timing scale)."""
    return f"{RENDER_RATIO} {timing.render_overhead:g}+{timing.render_per_second:g}/s"


def build(project: ProjectSource, *, state: State, backend: BackendChoice | Backend | None = None,
          reporter: Reporter | None = None, options: BuildOptions | None = None) -> BuildOutcome:
    """Submit what changed, poll, download, write the manifest (``out/manifest.json`` and ``.csv``).

    ``project``: a parsed ``Project``, or its path (then parsed only if the snapshot does not
    answer). ``state``: the store (see ``open_state``), which the caller closes. ``backend``: a
    ``BackendChoice`` (opened only if a row needs the API, and closed again) or an open
    ``Backend`` (the caller's to close); default: the environment's choice. ``reporter``: hears
    every event (default: plain lines on stderr). Raises ProjectError (nothing sent) for a mistake
    in the project or any row, UsageError, InputsChangedError when an input changed while the rows
    were read (nothing sent), StateError; failures of single videos are counted in the outcome instead.
    """
    started = time.time()
    options = options or BuildOptions()
    choice = backend or BackendChoice.from_env()
    reporter = reporter or PlainReporter()
    if options.snapshot and not options.force and options.planning().selects_all:
        unchanged = unchanged_videos(state, project_root(project))
        if unchanged is not None:
            outcome = _answered_from_snapshot(unchanged, choice, reporter)
            _results_after_snapshot(state, project, outcome, choice, RunStart(started, options))
            return outcome
    # Before the project file is parsed: a change from here on must keep the build from counting
    # as a snapshot of these inputs.
    from vidbuild.planner.up_to_date import file_stat

    stat = {str(project_file(project)): file_stat(project_file(project))}
    loaded = parsed(project, state_directory(project, options.state_dir, state))
    return _Build(loaded, state, choice, reporter, options, started).run(stat)


def _answered_from_snapshot(videos: int, backend: BackendChoice | Backend,
                            reporter: Reporter) -> BuildOutcome:
    reporter.banner(backend.banner)
    reporter.planned(Summary(Counter({"up-to-date": videos})))
    outcome = BuildOutcome(cached=videos, from_snapshot=True)
    reporter.finished(outcome)
    return outcome


class _Build:
    """One build's collaborators: the project, its state and state directory, the backend, the
    reporter and the options."""

    def __init__(self, project: Project, state: State, backend: BackendChoice | Backend,
                 reporter: Reporter, options: BuildOptions, started: float) -> None:
        self.project = project
        self.started = started
        self.root = project.root
        self.state = state
        self.state_dir = state_directory(project, options.state_dir, state)
        self.backend = backend
        self.reporter = reporter
        self.options = options
        self.selection = Selection.parse(options.select, options.exclude)
        self.unselected: set[str] = set()   # keys of the rows --select/--exclude leave out
        self.reported_up_to_date = 0   # settled rows reported on the way to the engine (_replanned)

    def run(self, stats: dict[str, tuple[int, ...] | None]) -> BuildOutcome:
        engine_options = self._engine_options()
        seen = inputs_seen(self.project, self.state, stats)
        with RowIndex() as index, JobSpool() as spool:
            self.spool = spool
            return self._validated(index, engine_options, seen)

    def _engine_options(self) -> Options:
        from vidbuild.run.options import DEFAULT_JOBS, DEFAULT_RENDER_TIMEOUT, Options

        options = self.options
        return Options(jobs=options.jobs or DEFAULT_JOBS, fail_fast=options.fail_fast,
                       protected=self._protected(),
                       render_timeout=options.render_timeout or DEFAULT_RENDER_TIMEOUT,
                       tick=options.tick)

    def _validated(self, index: RowIndex, engine_options: Options, seen: InputsSeen) -> BuildOutcome:
        """Read every row once to validate, plan and index it, spooling the Jobs with work to do
        (the engine takes them from there: see ``_replanned``), then act. Rows known unchanged since
        their download are not rendered (see planner/fingerprint.py)."""
        summary = Summary()
        options = self.options
        approved = options.approved
        # A build of every row (no --select, --exclude, --shard, --force or saved plan) settles
        # the rows found unchanged straight into the index: they are up to date, with nothing
        # to decide, select or check (10,000 of them: ~0.3 s less).
        every_row = options.shard is None and options.selects_all and not options.force and approved is None
        if every_row:   # and those found as the last complete build had them, without a lookup
            from vidbuild.planner.last_build import LastBuild

            index.last = LastBuild.load(self.state, self.root)
        from vidbuild.planner.fingerprint import project_fingerprint  # its rows' and the known rows'
        self.fingerprint = fingerprint = project_fingerprint(self.project, options.api, self.state.namespace)
        rows = in_shard(jobs(self.project, self.state_dir, options.api, options.force, state=self.state,
                             building=True, settle=index if every_row else None, fingerprint=fingerprint),
                        options.shard)
        # Nothing is sent before every row is decided: rows may be looked up ahead.
        decided = plan_steps(rows, self.state, self.root, Forcing(options.force), lookahead=True)
        steps = self._indexed_selection(decided, index)
        for step in approved.checked(steps) if approved is not None else steps:
            summary.add(step)
            if step.action != "up-to-date" or step.same_as is not None:
                self.spool.add_job(step.job)
        summary.add_up_to_date(index.settled_count)
        check_limit(summary, credit_limit(self.options.max_credits, self.project.spec,
                                          display_path(self.project.file)))
        with BuildLock(self.root) as lock:
            if lock.alone():
                self._clean_leftovers(index)
            lock.share()
            return self._act(index, engine_options, summary, seen)

    def _act(self, index: RowIndex, engine_options: Options, summary: Summary,
             seen: InputsSeen) -> BuildOutcome:
        if not summary.up_to_date:
            forget(self.state)
        backend, owned = self._open_backend()
        outcome: BuildOutcome | None = None
        tally = _tally(self.started)
        stopped_by: BaseException | None = None
        try:
            if self.project.empty_rows:
                self.reporter.note(None, empty_rows_note(self.project).lstrip(", "))
            self.reporter.planned(summary)
            if not spending_approved(backend, summary, self.reporter, self.options.approve):
                return BuildOutcome()   # declined: nothing sent
            refuse_changed_inputs(self.project, self.state, seen)
            outcome = self._engine_run(backend, index, engine_options)
            for text in backend.notes():
                self.reporter.note(None, text)
        except (KeyboardInterrupt, VidbuildError) as exc:
            stopped_by = exc
            raise
        finally:
            if owned:
                backend.close()
            # A complete build's outputs are noted for the snapshot as the manifest reads records.
            complete = outcome is not None and outcome.exit_code == EXIT_OK and self.options.shard is None
            with RecordedOutputs(self.root) as outputs:
                manifest = self._write_manifest(index, outputs if complete else None, tally)
                changed = remember_complete_build(self.project, self.state, outputs, manifest, seen,
                                                  self.state_dir) \
                    if complete else []
            if stopped_by is not None:   # Ctrl-C, SIGTERM, an error: the file still says how it ended
                self._results_when_stopped(stopped_by, manifest.parent, summary, backend, tally)
        assert outcome is not None   # else the try above returned or raised
        self._write_run_results(manifest.parent, outcome, summary, backend, tally)
        if complete:   # a shard's would vouch for all
            if changed:
                shown = ", ".join(display_path(Path(name)) for name in changed[:3])
                more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
                outcome.stopped = (f"the project's inputs changed during the build ({shown}{more}): "
                                   f"what was built is kept; run vidbuild build again")
        self.reporter.finished(outcome)
        return outcome

    def _indexed_selection(self, steps: Iterable[Step], index: RowIndex) -> Iterator[Step]:
        """Index every row (the manifest lists them all) and yield the selected ones (--select,
        --exclude); a row not selected is indexed as settled, so the engine never takes it up.
        Once every row went by, UsageError for a selector that names what no row has."""
        for step in steps:
            chosen = self.selection.wants(step)
            # A row that keeps an earlier body's video goes to the engine, which records it.
            done = step.action == "up-to-date" and step.same_as is None
            index.add_job(step.job, settled=not chosen or done)
            if chosen:
                yield step
            else:
                self.unselected.add(step.key)
        self.selection.check_matched()

    def _engine_run(self, backend: Backend, index: RowIndex, engine_options: Options) -> BuildOutcome:
        from vidbuild.planner.fingerprint import remember
        from vidbuild.run.engine import Engine

        learned = render_ratio_entry(backend.timing)
        engine_options = dataclasses.replace(engine_options, render_ratio=self.state.get_meta(learned))
        engine = Engine(backend, self.state, self.reporter, self.root, engine_options)
        collector.for_sending()
        started = time.time()
        try:
            outcome = engine.run(self._replanned(index))
            outcome.cached += self.reported_up_to_date
        finally:
            if engine.pacer.learned:   # the next build starts from this build's pace
                self.state.set_meta(learned, engine.pacer.ratio)
        remember(self.state, self.project, index.fresh_entries(), self.fingerprint)
        if self._took_up_every_row(outcome.exit_code):
            mark_account_searched(self.state, started)
        return _build_outcome(outcome)

    def _replanned(self, index: RowIndex) -> Iterator[Step]:
        """The engine's steps, in data order: every row but those settled when planned, decided
        again from its spooled Job as the engine takes it (its record may have moved since the
        plan: another build sent or finished it). A settled row is up to date as it was (or left
        out, if not selected): it is reported so on the way, in its place in the data, and counted
        in ``reported_up_to_date``, without going through the engine; rows settled past planning
        (``RowIndex.settle``) are counted a run at a time if the reporter shows none of them."""
        settled_job = settled_jobs(self.project.kind)
        decided = plan_steps(self.spool.jobs(), self.state, self.root, Forcing(self.options.force))
        reporter = self.reporter
        position = 0
        for before, entry in self._engine_entries(index):
            if before and isinstance(reporter, CountsCached):
                reporter.cached_rows(before)
                self.reported_up_to_date += before
                position += before
            if entry is None:
                continue
            position += 1
            if entry.settled:
                if entry.key not in self.unselected:
                    reporter.cached(Step(settled_job(entry, position - 1), "up-to-date", UP_TO_DATE_REASON))
                    self.reported_up_to_date += 1
                continue
            step = next(decided)
            assert (step.key, step.job.hash) == (entry.key, entry.hash), "the spool follows the index"
            if step.key not in self.unselected:
                yield step

    def _engine_entries(self, index: RowIndex) -> Iterator[tuple[int, IndexEntry | None]]:
        """The index for the engine's pass: its runs (``RowIndex.runs``) if rows were settled past
        planning and the reporter takes them as counts, else each entry after no run."""
        reporter = self.reporter
        if index.settled_count and isinstance(reporter, CountsCached) and reporter.cached_rows(0):
            return index.runs()
        return ((0, entry) for entry in index.entries(known=False))

    def _took_up_every_row(self, exit_code: int) -> bool:
        """Whether every row of the project was decided and any unknown one looked up in the account
        (a failed video doesn't stop the others unless --fail-fast; one --shard or --select is not
        every row)."""
        finished = exit_code == EXIT_OK or (exit_code == EXIT_FAILED and not self.options.fail_fast)
        return self.options.shard is None and self.options.selects_all and finished

    def _open_backend(self) -> tuple[Backend, bool]:
        """The backend, and whether this build opened it (and so closes it)."""
        if isinstance(self.backend, BackendChoice):
            from vidbuild.heygen.backend import open_backend

            backend, owned = open_backend(self.state_dir, self.backend), True
        else:
            backend, owned = self.backend, False
        self.reporter.banner(backend.banner)
        return backend, owned

    def _clean_leftovers(self, index: RowIndex) -> None:
        """Remove temporary files killed builds left beside the outputs, thumbnails and manifest."""
        from vidbuild.report.manifest import shared_dir
        from vidbuild.run.files import remove_leftovers

        directories = sorted(index.directories)
        manifest = shared_dir(self.root, directories)
        remove_leftovers([manifest, *(self.root / directory
                                      for directory in [*directories, *sorted(index.thumbnail_directories)])])

    def _write_manifest(self, index: RowIndex, outputs: RecordedOutputs | None, tally: RowTally) -> Path:
        from vidbuild.planner.fingerprint import with_known_records
        from vidbuild.report.manifest import Pairing, write_manifest
        from vidbuild.spec.manifest_spec import manifest_columns

        records: Pairing = with_known_records
        if outputs is not None:
            records = lambda state, rows: outputs.pairs(with_known_records(state, rows))  # noqa: E731
        return write_manifest(self.root, self.project.name, index.listing, self.state, self._protected(),
                              records=records, directories=index.directories,
                              columns=manifest_columns(self.project, []), observe=tally,
                              placement=outputs.placement if outputs is not None else None)

    def _write_run_results(self, directory: Path, outcome: Outcome, summary: Summary, backend: Backend,
                           tally: RowTally, exit_code: int | None = None) -> None:
        from vidbuild.report.run_results import RunFacts, options_json

        facts = RunFacts(self.started, _backend_facts(backend), options_json(self.options),
                         summary.estimated_credits, rows=tally)
        _write_results(directory, self.project.name, outcome, facts, exit_code)

    def _results_when_stopped(self, exc: BaseException, directory: Path, summary: Summary, backend: Backend,
                              tally: RowTally) -> None:
        from vidbuild.errors import EXIT_INTERRUPTED
        from vidbuild.report.run_results import interrupted_outcome

        code = getattr(exc, "exit_code", EXIT_INTERRUPTED)
        outcome = interrupted_outcome(code, tally)
        if isinstance(exc, VidbuildError):
            outcome.stopped = str(exc)
        self._write_run_results(directory, outcome, summary, backend, tally, code)


    def _protected(self) -> ProtectedFiles:
        from vidbuild.spec.protected import ProtectedFiles

        return ProtectedFiles.of(self.project, self.state_dir)


def _tally(started: float) -> RowTally:
    from vidbuild.report.run_results import RowTally

    return RowTally(started)


def _backend_facts(backend: BackendChoice | Backend) -> dict[str, Any]:
    """Which API the build spoke to, for run_results.json (never the key)."""
    return {"name": "emulator" if backend.emulated else "heygen",
            "base_url": None if backend.emulated else backend.base_url}


class RunStart(NamedTuple):
    """When the build started (Unix seconds) and with which options."""

    started: float
    options: BuildOptions


def _results_after_snapshot(state: State, project: ProjectSource, outcome: BuildOutcome,
                            backend: BackendChoice | Backend, start: RunStart) -> None:
    """An unchanged rerun still leaves its run_results.json, beside the snapshot's manifest (the
    project's name taken from the last one, as the project file is not parsed)."""
    from vidbuild.planner.up_to_date import SNAPSHOT
    from vidbuild.report.run_results import RunFacts, last_project_name, options_json

    snapshot = state.get_meta(SNAPSHOT)
    if not isinstance(snapshot, dict) or not isinstance(snapshot.get("manifest"), str):
        return
    directory = Path(snapshot["manifest"]).parent
    name = project.name if isinstance(project, Project) else last_project_name(directory)
    facts = RunFacts(start.started, _backend_facts(backend), options_json(start.options), 0.0)
    _write_results(directory, name, outcome, facts)


def _write_results(directory: Path, project_name: str | None, outcome: Outcome, facts: RunFacts,
                   exit_code: int | None = None) -> None:
    from vidbuild.report.run_results import RUN_RESULTS, write_run_results

    try:
        write_run_results(directory, project_name, outcome, facts, exit_code)
    except OSError as exc:   # as the manifest: named, never a crash
        raise LocalWriteError(f"can't write {directory / RUN_RESULTS}: {exc.strerror or exc}; "
                              "what was built is kept in state") from exc


def _build_outcome(outcome: Outcome) -> BuildOutcome:
    return BuildOutcome(**{field.name: getattr(outcome, field.name) for field in dataclasses.fields(outcome)})
