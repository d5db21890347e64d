"""What a build would do, what it did, and what it would send, without sending anything: the plan
(every row's action and reason), the status (every row's state from state alone) and the compiled
request bodies."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidbuild.errors import UsageError
from vidbuild.pipeline.openers import jobs, parsed, project_root, state_directory
from vidbuild.pipeline.options import PlanOptions, PlanOutcome, ProjectSource, StatusOutcome
from vidbuild.pipeline.snapshot import unchanged_videos
from vidbuild.planner.decide import Step, Summary, plan_steps
from vidbuild.planner.fingerprint import with_known_records
from vidbuild.planner.forcing import Forcing
from vidbuild.planner.row_index import RowIndex, indexed
from vidbuild.planner.select import Selection
from vidbuild.planner.shard import Shard, in_shard
from vidbuild.state.protocol import State

if TYPE_CHECKING:
    from vidbuild.report.tables import PlanView, StatusView
    from vidbuild.spec.expand import Job


def plan(project: ProjectSource, *, state: State, view: PlanView | None = None,
         options: PlanOptions | None = None) -> PlanOutcome:
    """Decide what a build would do for each row and why, through which API; sends nothing.

    ``view`` (say, a ``PlanTable``) gets every step once every row has been read, then the
    summary. Under ``options.question`` only whether anything is pending is found out (the view
    hears nothing). Raises ProjectError for a mistake in any row, UsageError for an unknown
    ``force`` key.
    """
    options = options or PlanOptions()
    selection = Selection.parse(options.select, options.exclude)
    if options.question and not options.force and selection.everything:
        unchanged = unchanged_videos(state, project_root(project))
        if unchanged is not None:
            return PlanOutcome(Summary(Counter({"up-to-date": unchanged})), from_snapshot=True)
    directory = state_directory(project, options.state_dir, state)
    loaded = parsed(project, directory)
    every_row = jobs(loaded, directory, options.api, options.force, state=state)
    rows = in_shard(every_row, options.shard)
    # A question stops at its first pending row: nothing to look up ahead for.
    steps = plan_steps(rows, state, loaded.root, Forcing(options.force), lookahead=not options.question)
    summary = Summary()
    if options.question:
        _until_pending((step for step in steps if selection.wants(step)), summary)
        for _ in rows:   # plan_steps took rows from this very iterator: the rest are read, not decided
            pass
        if summary.up_to_date:
            selection.check_matched()
        return PlanOutcome(summary, loaded.empty_rows)
    steps = selection.steps(steps)
    counted = _counted(steps, summary)
    if view is None:
        for _ in counted:
            pass
    else:
        view.steps(counted)
        view.summary(summary, loaded)
    return PlanOutcome(summary, loaded.empty_rows)


def _until_pending(steps: Iterable[Step], summary: Summary) -> None:
    """Decide until the first row that is not up to date."""
    for step in steps:
        summary.add(step)
        if step.action != "up-to-date":
            return


def _counted(steps: Iterable[Step], summary: Summary) -> Iterator[Step]:
    for step in steps:
        summary.add(step)
        yield step


def status(project: ProjectSource, *, state: State, view: StatusView | None = None,
           state_dir: str | Path | None = None, select: Sequence[str] = (),
           exclude: Sequence[str] = (), shard: Shard | None = None) -> StatusOutcome:
    """Every selected row's state (default: every row; of ``shard``) from ``state`` alone (the
    database with a state URL): no HeyGen request.

    ``view`` (say, a ``StatusTable``) gets each row as its manifest entry once every row has been
    read. Raises ProjectError for a mistake in any row, UsageError for a selector naming nothing.
    """
    from vidbuild.report.manifest import entry

    loaded = parsed(project)
    counts: Counter[str] = Counter()
    # Status reads state, which is keyed by content alone: which API a row would go through is moot.
    directory = state_directory(loaded, state_dir, state)
    every = in_shard(jobs(loaded, directory, api="legacy", state=state), shard)
    rows = _selected(every, Selection.parse(select, exclude), state, loaded.root)
    with RowIndex() as index:
        for _ in indexed(rows, index):
            pass
        entries = (entry(row, record) for row, record in with_known_records(state, index.entries()))
        counted = _tallied(entries, counts)
        if view is None:
            for _ in counted:
                pass
        else:
            view.rows(counted, index.key_width if index.count else 3)
    return StatusOutcome(counts)


def _selected(rows: Iterator[Job], selection: Selection, state: State, root: Path) -> Iterator[Job]:
    """The selected rows' jobs, planned first where a selector asks about state."""
    if selection.needs_state:
        yield from (step.job for step in selection.steps(plan_steps(rows, state, root)))
        return
    yield from (job for job in rows if selection.wants_job(job))
    selection.check_matched()


def _tallied(rows: Iterable[dict[str, Any]], counts: Counter[str]) -> Iterator[dict[str, Any]]:
    for row in rows:
        counts[row["status"]] += 1
        yield row


def compile(project: ProjectSource, *, rows: Sequence[str] | None = None, api: str | None = None,
            select: Sequence[str] = (), exclude: Sequence[str] = ()) -> list[Job]:
    """Every row's Job (key, hash, output, the exact body and the route it is sent through), or
    only those of ``rows`` (keys) and the selectors (no ``state:`` ones: compile reads no state);
    sends nothing and reads no state.

    Every row is expanded even when only some are wanted, so a mistake anywhere is still raised
    (ProjectError); UsageError for a key no row has, or a selector that can't be used here.
    """
    from vidbuild.spec.expand import expand_project

    loaded = parsed(project)
    wanted = set(rows or ())
    selection = Selection.parse(select, exclude)
    if selection.needs_state:
        raise UsageError("state: selectors need the build's state: use them with plan, build, "
                         "status or retry")
    chosen = [job for job in expand_project(loaded, api=api) if selection.wants_job(job)]
    selection.check_matched()
    found = [job for job in chosen if not wanted or job.key in wanted]
    missing = wanted - {job.key for job in found}
    if missing:
        raise UsageError(f"no row with key {', '.join(sorted(missing))} in {loaded.document.display}")
    return found
