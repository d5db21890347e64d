"""The rows a build is working on: taken from the plan's stream as there is room, queued to be
submitted or waiting on a timer, counted in flight while HeyGen renders them, and tallied when done.

A row is *held* from the moment it is taken from the plan's stream (see intake) until it is built,
found up to date, failed or dropped. Only held rows keep a step and a record in memory; finished
rows leave a count, or their key if they did not finish. The window doesn't act on rows: the engine
asks it what is due and tells it what happened.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Literal

from vidbuild.run.intake import Intake
from vidbuild.run.outcome import Outcome

if TYPE_CHECKING:
    from vidbuild.planner.decide import Step
    from vidbuild.state.protocol import Record

# What a timer does when it is due: read the status, fetch the file, look a lost submission up,
# follow a record another process (or a twin row) moves on, send again under the same key, or
# put the row back at the head of the submit queue.
Task = Literal["poll", "download", "reconcile", "watch", "resend", "requeue"]


class Window:
    """Held rows: a queue to submit, timers by due time, each hash's record, the render slots in use.

    ``size`` bounds both the rows held (besides those another process is submitting) and the
    videos in flight; a rate limit narrows it, videos that finish widen it back up to ``limit``.
    ``clock`` is monotonic seconds.
    """

    def __init__(self, size: int, clock: Callable[[], float], *, limit: int | None = None) -> None:
        self.size = size
        self.limit = size if limit is None else limit
        self.clock = clock
        self._outcome = Outcome()
        self._intake = Intake((), clock)
        self._records: dict[str, Record] = {}   # the held rows' records, by hash
        self._held: Counter[str] = Counter()    # held rows by hash: twin rows share one body
        self._watching = 0                      # held rows another live process is submitting
        self._workers: dict[str, Step] = {}     # the row polling and fetching each hash's video
        self._twins: dict[str, list[Step]] = {}  # held rows waiting for their hash's worker
        self._queue: deque[Step] = deque()
        self._timers: list[tuple[float, int, Task, Step]] = []   # (due, tiebreak, task, step)
        self._tiebreak = itertools.count()
        self._in_flight: set[str] = set()       # hashes being created or rendering
        self._submit_after = 0.0                # no submit before this (a rate limit's Retry-After)
        self._sending = True                    # False once fail-fast stopped the submits

    # -- intake -------------------------------------------------------------------------------

    def open(self, steps: Iterable[Step]) -> None:
        """Take rows from ``steps`` from now on, lazily (see intake)."""
        self._intake = Intake(steps, self.clock)

    def take(self) -> Iterator[Step]:
        """The next steps of the stream while there is room (the caller holds or counts each)."""
        return self._intake.take(self.has_room)

    def has_room(self) -> bool:
        # Rows another live process is submitting don't count: its own window bounds them, and
        # counting them would leave this build trailing that one instead of sharing the work.
        waiting = sum(len(twins) for twins in self._twins.values())
        return len(self._queue) + len(self._timers) + waiting - self._watching < self.size

    @property
    def busy(self) -> bool:
        """Whether any row is queued, waits on a timer, or is still to be taken."""
        return bool(self._queue or self._timers or self._intake.more)

    def rest(self) -> Iterator[Step]:
        """Every step not taken yet (the build stopped early: they are counted, not run)."""
        return self._intake.rest()

    # -- held rows and their records ---------------------------------------------------------------

    def hold(self, step: Step) -> None:
        self._held[step.job.hash] += 1
        if step.record is not None:
            self._records[step.job.hash] = step.record

    def leave(self, step: Step) -> bool:
        """A held row is finished with; True if it was the last held row of its hash."""
        content_hash = step.job.hash
        self._held[content_hash] -= 1
        if self._held[content_hash] > 0:
            return False
        del self._held[content_hash]
        self._records.pop(content_hash, None)
        return True

    def work_on(self, step: Step) -> bool:
        """Make ``step`` the row that polls and fetches its body's video for this build, unless a
        twin row (same body) already is: then False, and ``step`` waits for it (see ``release``)."""
        worker = self._workers.setdefault(step.job.hash, step)
        if worker is step:
            return True
        twins = self._twins.setdefault(step.job.hash, [])
        if all(twin is not step for twin in twins):
            twins.append(step)
        return False

    def release(self, step: Step) -> list[Step]:
        """``step`` is finished with: if it was its body's worker, the twin rows that waited for it
        (none wait any more), else nothing."""
        if self._workers.get(step.job.hash) is not step:
            return []
        del self._workers[step.job.hash]
        return self._twins.pop(step.job.hash, [])

    def record(self, step: Step) -> Record:
        """The record the row works from (it has one once claimed, polled or downloaded)."""
        return self._records[step.job.hash]

    def find_record(self, step: Step) -> Record | None:
        return self._records.get(step.job.hash)

    def keep_record(self, step: Step, record: Record) -> None:
        """``record`` is now what the row (and its twins) work from."""
        self._records[step.job.hash] = record

    def held_records(self) -> list[Record]:
        return list(self._records.values())

    # -- the submit queue and the render slots -------------------------------------------------------

    def queue(self, step: Step) -> None:
        self._queue.append(step)

    def queue_first(self, step: Step) -> None:
        """Back at the head of the queue: its turn came and it could not be sent yet."""
        self._queue.appendleft(step)

    def next_to_submit(self) -> Step | None:
        """The next queued row, if one may be sent now: submits go on, a slot is free, no rate limit."""
        if (self._queue and self._sending and len(self._in_flight) < self.size
                and self.clock() >= self._submit_after):
            return self._queue.popleft()
        return None

    @property
    def sending(self) -> bool:
        return self._sending

    def stop_sending(self) -> list[Step]:
        """Fail-fast: nothing more is sent. Returns the queued rows, dropped (no longer queued)."""
        self._sending = False
        return self.drop_queue()

    def drop_queue(self) -> list[Step]:
        """Empty the queue; returns the rows it held, for the caller to finish with."""
        dropped = list(self._queue)
        self._queue.clear()
        return dropped

    def take_slot(self, job_hash: str) -> None:
        """The job's video is being created or renders: it counts against ``size``."""
        self._in_flight.add(job_hash)

    def free_slot(self, job_hash: str) -> None:
        self._in_flight.discard(job_hash)

    @property
    def rendering(self) -> int:
        """Videos being created or rendering (each paid for, or about to be)."""
        return len(self._in_flight)

    @property
    def queued(self) -> int:
        """Rows waiting for a render slot."""
        return len(self._queue)

    def in_flight(self, job_hash: str) -> bool:
        return job_hash in self._in_flight

    def render_finished(self, job_hash: str) -> None:
        """A render slot is free: widen a window a rate limit narrowed (one step per finished video)."""
        self._in_flight.discard(job_hash)
        if self.size < self.limit and self.clock() >= self._submit_after:
            self.size += 1

    def rate_limited(self, job_hash: str, wait: float) -> None:
        """Too many videos rendering at once: shrink to what the account accepts (those in flight,
        the refused one not among them) and send nothing for ``wait`` seconds."""
        self._in_flight.discard(job_hash)
        self.size = max(1, len(self._in_flight))
        self._submit_after = self.clock() + wait

    # -- timers -----------------------------------------------------------------------------------

    def schedule(self, delay: float, task: Task, step: Step) -> None:
        if task == "watch":
            self._watching += 1
        heapq.heappush(self._timers, (self.clock() + delay, next(self._tiebreak), task, step))

    def pop_due(self) -> tuple[Task, Step] | None:
        """The earliest timer if it is due (it is removed), else None."""
        if not self._timers or self._timers[0][0] > self.clock():
            return None
        _, _, task, step = heapq.heappop(self._timers)
        if task == "watch":
            self._watching -= 1
        return task, step

    def waiting(self, task: Task) -> list[tuple[float, Step]]:
        """(seconds until due, step) of every step waiting on a ``task`` timer (the timers stay)."""
        now = self.clock()
        return [(due - now, step) for due, _, name, step in self._timers if name == task]

    def cancel(self, task: Task, steps: list[Step]) -> None:
        """Drop the ``task`` timers of ``steps`` (taken care of early, with another step's)."""
        if steps:
            chosen = {id(step) for step in steps}
            self._timers = [timer for timer in self._timers
                            if not (timer[2] == task and id(timer[3]) in chosen)]
            heapq.heapify(self._timers)

    def retime(self, task: Task, delay: Callable[[Step], float | None]) -> None:
        """Move each ``task`` timer to ``delay(step)`` seconds from now (None: leave it be)."""
        now = self.clock()
        moved = []
        for due, tiebreak, name, step in self._timers:
            seconds = delay(step) if name == task else None
            moved.append((due if seconds is None else now + seconds, tiebreak, name, step))
        self._timers = moved
        heapq.heapify(self._timers)

    def wake_at(self) -> float | None:
        """When (on ``clock``) something may next be done: a timer falls due, a queued row may be
        sent, or rows are left to take; None if nothing ever will (submits stopped, nothing waits)."""
        wake = [self._timers[0][0]] if self._timers else []
        if self._queue and len(self._in_flight) < self.size and self._sending:
            wake.append(self._submit_after)
        if self._intake.more and self.has_room():
            wake.append(self.clock())   # more rows to take: the last take ran out of time
        return min(wake) if wake else None

    # -- the tally ---------------------------------------------------------------------------------

    def count_done(self) -> None:
        self._outcome.done += 1

    def count_cached(self) -> None:
        self._outcome.cached += 1

    def count_failed(self, step: Step) -> None:
        self._outcome.failed.append(step.key)

    def count_unfinished(self, step: Step) -> None:
        self._outcome.unfinished.append(step.key)

    def stopped(self, reason: str) -> None:
        """The build stops early, for ``reason`` (auth, quota, network, a file it can't write)."""
        self._outcome.stopped = reason

    def outcome(self) -> Outcome:
        """The tally, every row still held (queued or on a timer) listed as unfinished."""
        held = {step.key for step in self._queue} | {step.key for _, _, _, step in self._timers}
        held.update(step.key for twins in self._twins.values() for step in twins)
        self._outcome.unfinished = sorted(held.union(self._outcome.unfinished))
        return self._outcome
