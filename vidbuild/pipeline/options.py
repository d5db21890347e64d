"""What a caller of ``vidbuild.build``, ``plan`` and ``status`` chooses (the options) and gets back
(the outcomes): plain values, the same ones the CLI's flags and exit codes map to."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vidbuild.errors import EXIT_FAILED, EXIT_OK, UsageError
from vidbuild.planner.shard import Shard
from vidbuild.run.outcome import Outcome
from vidbuild.spec.project import Project

if TYPE_CHECKING:
    from vidbuild.pipeline.spending import Approval
    from vidbuild.planner.decide import Summary
    from vidbuild.planner.saved import SavedPlan

# A project as the library takes it: parsed, or its directory or vidbuild.yaml (None: the current
# directory), parsed only when a command needs it (an unchanged rerun never does).
ProjectSource = Project | str | Path | None


@dataclass(frozen=True)
class PlanOptions:
    """``force``: keys of rows to plan as rebuilds (UsageError at the end for a key no row has).
    ``api``: the API generation, over the project's ``api:`` ("auto", "v3", "legacy").
    ``state_dir``: the state directory, which outputs must never overwrite and where the emulator
    keeps its videos (default: the one the disk state was opened in; with a database, as
    --state-dir's default: $VIDBUILD_STATE_DIR, else PROJECT/.vidbuild).
    ``question``: only say whether anything is pending (``build -q``): answered from the last
    complete build's snapshot when nothing changed, else deciding stops at the first row to build
    (every row is still read, so a mistake anywhere is still raised).
    ``select`` / ``exclude``: selectors of the rows to plan (see ``planner.select``; default all).
    """

    force: Sequence[str] = ()
    api: str | None = None
    state_dir: str | Path | None = None
    question: bool = False
    select: Sequence[str] = ()
    exclude: Sequence[str] = ()
    shard: Shard | None = None   # --shard K/N: only that part of the rows (planner/shard.py)

    @property
    def selects_all(self) -> bool:
        return not (self.select or self.exclude)


@dataclass(frozen=True)
class BuildOptions:
    """``jobs``: videos in flight at once (default 4); ``fail_fast``: submit nothing new after the
    first failure; ``render_timeout``: seconds a video may render, from its submission (or from
    when this build takes up one an earlier build submitted), before its row is left unfinished
    (default 3600). ``snapshot``: answer an unchanged rerun from the last complete build's
    snapshot without reading a row (False: read every row, so the reporter hears of each).
    ``force``, ``api``, ``state_dir``, ``select`` and ``exclude`` as in ``PlanOptions`` (a
    selected build acts on its rows only; the manifest still lists every row). ``max_credits`` (else the
    project's ``max_credits:``): a plan estimated to spend more is refused (UsageError, nothing
    sent). ``approve``: asked before a paying build sends (the CLI asks a person at a terminal);
    False stops it with nothing sent. ``tick``: seconds between the progress ticks a watching
    reporter gets (run/outcome.Watcher); None: none.

    UsageError for ``jobs`` below 1 or a ``render_timeout`` that is not a positive number.
    """

    jobs: int | None = None
    fail_fast: bool = False
    force: Sequence[str] = ()
    render_timeout: float | None = None
    api: str | None = None
    shard: Shard | None = None   # its manifest lists that part; it takes no snapshot
    state_dir: str | Path | None = None
    snapshot: bool = True
    max_credits: float | None = None
    approve: Approval | None = None
    select: Sequence[str] = ()
    exclude: Sequence[str] = ()
    # build --plan: the saved plan this build must match, row by row, before anything is sent.
    approved: SavedPlan | None = None
    tick: float | None = None

    def __post_init__(self) -> None:
        if self.jobs is not None and self.jobs < 1:
            raise UsageError("-j must be at least 1")
        timeout = self.render_timeout
        if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
            raise UsageError(f"--render-timeout must be a positive number of seconds, got {timeout}")

    @property
    def selects_all(self) -> bool:
        return not (self.select or self.exclude)

    def planning(self) -> PlanOptions:
        return PlanOptions(force=self.force, api=self.api, state_dir=self.state_dir, select=self.select,
                           exclude=self.exclude, shard=self.shard)


@dataclass
class BuildOutcome(Outcome):
    """How a build ended (``Outcome``: built, up to date, failed and unfinished rows, why it
    stopped, ``exit_code`` as the README documents it). ``from_snapshot``: the last complete
    build's snapshot answered, so no row was read."""

    from_snapshot: bool = False


@dataclass(frozen=True)
class PlanOutcome:
    """What a plan comes to: ``summary`` (counts per action, estimated credits) and how many
    empty data rows were skipped. Under ``question`` the counts stop at the first row to build."""

    summary: Summary
    empty_rows: int = 0
    from_snapshot: bool = False

    @property
    def up_to_date(self) -> bool:
        return self.summary.up_to_date

    @property
    def exit_code(self) -> int:
        """``build -q``'s: 0 when nothing is pending, else 1."""
        return EXIT_OK if self.up_to_date else EXIT_FAILED


@dataclass(frozen=True)
class StatusOutcome:
    """How many rows are in each status ("done", "not-built", "failed", …, as the manifest says)."""

    counts: Counter[str] = field(default_factory=Counter)
