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
from vidbuild.planner.row_index import RowIndex, indexed
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
    if options.question and not options.force:
        unchanged = unchanged_videos(state, project_root(project))
        if unchanged is not None:
            return PlanOutcome(Summary(Counter({"up-to-date": unchanged})), from_snapshot=True)
    loaded = parsed(project)
    every_row = jobs(loaded, state_directory(loaded, options.state_dir, state), options.api, options.force,
                     state=state)
    rows = in_shard(every_row, options.shard)
    steps = plan_steps(rows, state, loaded.root, options.force)
    summary = Summary()
    if options.question:
        _until_pending(steps, summary)
        for _ in rows:   # plan_steps took rows from this very iterator: the rest are read, not decided
            pass
        return PlanOutcome(summary, loaded.empty_rows)
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
           state_dir: str | Path | None = None, shard: Shard | None = None) -> StatusOutcome:
    """Every row's state from ``state`` alone (the database with a state URL): no HeyGen request.

    ``view`` (say, a ``StatusTable``) gets each row as its manifest entry once every row has been
    read. Raises ProjectError for a mistake in any row.
    """
    from vidbuild.report.manifest import entry

    loaded = parsed(project)
    counts: Counter[str] = Counter()
    # Status reads state, which is keyed by content alone: which API a row would go through is moot.
    rows = in_shard(jobs(loaded, state_directory(loaded, state_dir, state), api="legacy", state=state), shard)
    with RowIndex() as index:
        for _ in indexed(rows, index):
            pass
        entries = (entry(row.key, row.hash, row.output, record)
                   for row, record in with_known_records(state, index.entries()))
        counted = _tallied(entries, counts)
        if view is None:
            for _ in counted:
                pass
        else:
            view.rows(counted, index.key_width if index.count else 3)
    return StatusOutcome(counts)


def _tallied(rows: Iterable[dict[str, Any]], counts: Counter[str]) -> Iterator[dict[str, Any]]:
    for row in rows:
        counts[row["status"]] += 1
        yield row


def compile(project: ProjectSource, *, rows: Sequence[str] | None = None,
            api: str | None = None) -> list[Job]:
    """Every row's Job (key, hash, output, the exact body and the route it is sent through), or
    only those of ``rows`` (keys); sends nothing and reads no state.

    Every row is expanded even when only some are wanted, so a mistake anywhere is still raised
    (ProjectError); UsageError for a key no row has.
    """
    from vidbuild.spec.expand import expand_project

    loaded = parsed(project)
    wanted = set(rows or ())
    found = [job for job in expand_project(loaded, api=api) if not wanted or job.key in wanted]
    missing = wanted - {job.key for job in found}
    if missing:
        raise UsageError(f"no row with key {', '.join(sorted(missing))} in {loaded.document.display}")
    return found
