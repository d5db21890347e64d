"""Run stage, bookkeeping: the rows the engine is working on, and the tally of those it is done with.

A row is *held* from the moment the engine takes it from the plan's stream (see intake) until
it is built, found up to date, failed or dropped: queued to be submitted, or waiting on a timer
(poll, download, reconcile, watch). Only held rows keep a step, a body and a record in memory;
finished rows leave a count, or their key if they failed.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vidbuild.errors import EXIT_FAILED, EXIT_OK, EXIT_UNFINISHED
from vidbuild.run.intake import Intake

if TYPE_CHECKING:
    from vidbuild.plan.decide import Step
    from vidbuild.report.progress import Reporter
    from vidbuild.state.disk import Record


@dataclass
class Outcome:
    """How a build ended: how many rows were built and up to date; the keys of the others."""

    done: int = 0
    cached: int = 0
    failed: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    stopped: str | None = None   # why the build stopped early (auth, quota, network)

    @property
    def exit_code(self) -> int:
        if self.stopped or self.unfinished:
            return EXIT_UNFINISHED
        return EXIT_FAILED if self.failed else EXIT_OK


class Worklist:
    """The held rows: a queue to submit, timers by due time, and each hash's record."""

    def __init__(self, reporter: Reporter, clock: Callable[[], float], window: int) -> None:
        self.reporter = reporter
        self.clock = clock
        self.window = window
        self.outcome = Outcome()
        self.records: dict[str, Record] = {}   # the held rows' records, by hash
        self._held: Counter[str] = Counter()   # held rows by hash: twin rows share one body
        self._watching = 0                     # held rows another live process is submitting
        self._intake = Intake((), clock)
        self._queue: deque[Step] = deque()
        self._timers: list[tuple[float, int, str, Step]] = []   # (due, tiebreak, task, step)
        self._tiebreak = itertools.count()

    def _has_room(self) -> bool:
        # Rows another live process is submitting don't count: its own window bounds them, and
        # counting them would leave this build trailing that one instead of sharing the work.
        return len(self._queue) + len(self._timers) - self._watching < self.window

    def _hold(self, step: Step) -> None:
        self._held[step.job.hash] += 1
        if step.record is not None:
            self.records[step.job.hash] = step.record

    def _leave(self, step: Step) -> bool:
        """A held row is finished with; True if it was the last held row of its hash."""
        content_hash = step.job.hash
        self._held[content_hash] -= 1
        if self._held[content_hash] > 0:
            return False
        del self._held[content_hash]
        self.records.pop(content_hash, None)
        return True

    def _cached(self, step: Step) -> None:
        self.outcome.cached += 1
        self.reporter.cached(step)

    def _drop_queue(self) -> None:
        while self._queue:
            self._leave(self._queue.popleft())

    def _schedule(self, delay: float, task: str, step: Step) -> None:
        if task == "watch":
            self._watching += 1
        heapq.heappush(self._timers, (self.clock() + delay, next(self._tiebreak), task, step))

    def _pop_due(self) -> tuple[str, Step] | None:
        if not self._timers or self._timers[0][0] > self.clock():
            return None
        _, _, task, step = heapq.heappop(self._timers)
        if task == "watch":
            self._watching -= 1
        return task, step

    def _waiting(self, task: str) -> list[tuple[float, Step]]:
        """(seconds until due, step) of every step waiting on a ``task`` timer (the timers stay)."""
        now = self.clock()
        return [(due - now, step) for due, _, name, step in self._timers if name == task]

    def _cancel(self, task: str, steps: list[Step]) -> None:
        """Drop the ``task`` timers of ``steps`` (taken care of early, with another step's)."""
        if steps:
            chosen = {id(step) for step in steps}
            self._timers = [timer for timer in self._timers
                            if not (timer[2] == task and id(timer[3]) in chosen)]
            heapq.heapify(self._timers)

    def _count_the_rest(self) -> None:
        """The build stopped: the rows not taken yet are up to date or unfinished, as planned."""
        for step in self._intake.rest():
            if step.action == "up-to-date":
                self._cached(step)
            else:
                self.outcome.unfinished.append(step.key)

    def _list_unfinished(self) -> None:
        held = {s.key for s in self._queue} | {s.key for _, _, _, s in self._timers}
        self.outcome.unfinished = sorted(held.union(self.outcome.unfinished))
