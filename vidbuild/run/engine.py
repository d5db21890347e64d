"""Carry out a plan (submit, poll, download) with a bounded window, never paying twice.

The plan comes as a stream of steps, taken only when there is room (see window and intake), so
the engine holds about a window's worth of rows, whatever the number of rows. The engine's loop
takes rows, sends the queued ones while render slots are free, and runs each timer as it falls
due with its handler: ``Submitter`` (submit.py), ``Poller`` (poll.py), ``Downloader``
(download.py), ``Reconciler`` (reconcile.py), ``Recovery`` (recover.py). They share one
``RunContext`` (context.py): the state store, the window, the retry counts, the pace.

Every transition is written to state before the next action: a claim before each submit, the
video_id as soon as it is known, the checksum once the file is in place. So a process killed at
any moment leaves state that the next build resumes from. The engine never prints: it calls
the reporter's hooks, and a reporter that watches (outcome.Watcher) also gets a tick with the
rows in flight while the engine waits, and a last word when Ctrl-C or SIGTERM stops the build.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from vidbuild.errors import EXIT_INTERRUPTED, AuthError, BuildStopped, QuotaError
from vidbuild.run.context import RunContext
from vidbuild.run.download import Downloader
from vidbuild.run.options import DEFAULT_JOBS, DEFAULT_RENDER_TIMEOUT, Options
from vidbuild.run.outcome import Progress, Watcher
from vidbuild.run.poll import Poller, Reader
from vidbuild.run.reconcile import Reconciler
from vidbuild.run.recover import AccountSearch, Recovery
from vidbuild.run.submit import Submitter
from vidbuild.run.window import Task, Window

if TYPE_CHECKING:
    from vidbuild.heygen.backend import Backend
    from vidbuild.planner.decide import Step
    from vidbuild.run.outcome import Outcome, Reporter
    from vidbuild.run.pacing import Pacer
    from vidbuild.state.protocol import State

__all__ = ["DEFAULT_JOBS", "DEFAULT_RENDER_TIMEOUT", "Engine", "Options"]


class Engine:
    """Carries out one plan against one backend and one state store.

    ``clock`` (monotonic seconds) and ``sleep`` pace every wait; tests pass a fake pair. The
    times written to state stay wall-clock: other processes and later builds read them.
    """

    def __init__(self, backend: Backend, state: State, reporter: Reporter, root: Path,
                 options: Options | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.options = options or Options()
        self.sleep = sleep
        self.clock = clock
        self.window = Window(max(1, self.options.jobs), clock, limit=self.options.jobs)
        self.context = RunContext(state, reporter, root, self.options, backend.timing, self.window, clock)
        reader = Reader(backend.client, state)
        self.recovery = Recovery(self.context, AccountSearch(reader))
        self.downloader = Downloader(self.context, backend.client)
        self.poller = Poller(self.context, reader, self.downloader)
        self.submitter = Submitter(self.context, backend.client, self.recovery)
        self.reconciler = Reconciler(self.context, self.submitter, self.recovery)
        self._tasks: dict[Task, Callable[[Step], None]] = {
            "poll": self.poller.poll, "download": self.downloader.download,
            "reconcile": self.reconciler.reconcile, "watch": self.reconciler.watch,
            "resend": self.reconciler.resend, "requeue": self.window.queue_first}
        self._watcher = reporter if isinstance(reporter, Watcher) else None
        self._next_tick = clock()

    @property
    def pacer(self) -> Pacer:
        """The render pace: ``ratio``, learned from this build's videos when ``learned``."""
        return self.context.pacer

    def run(self, steps: Iterable[Step]) -> Outcome:
        """Carry out ``steps``, taking each from the stream only when there is room for it."""
        self.window.open(steps)
        try:
            self._take_rows()
            while self.window.busy:
                self._submit_ready()
                if not self._run_due_timer():
                    self._idle()
                self._take_rows()
                self._tick()
        except BuildStopped as exc:
            self.window.stopped(str(exc))
            self._count_the_rest()
        except KeyboardInterrupt as exc:   # Ctrl-C, or SIGTERM (exit_code 143: see cli)
            if self._watcher is not None:
                self._watcher.interrupted(self.window.rendering,
                                          getattr(exc, "exit_code", EXIT_INTERRUPTED))
            raise
        return self.window.outcome()

    def _tick(self) -> None:
        """Tell a watching reporter what is in flight, every ``options.tick`` seconds."""
        every = self.options.tick
        if self._watcher is None or every is None or self.clock() < self._next_tick:
            return
        self._next_tick = self.clock() + every
        render_left, typical = self.pacer.outlook(time.time())
        window = self.window
        self._watcher.tick(Progress(rendering=window.rendering, queued=window.queued,
                                    slots=window.size, render_left=render_left, typical=typical))

    def _take_rows(self) -> None:
        for step in self.window.take():
            self._start(step)

    def _start(self, step: Step) -> None:
        context, window = self.context, self.window
        if step.same_as is not None and not context.keep_same_video(step):
            window.hold(step)   # another record of the body came first: follow it, as a twin row's
            window.schedule(0.0, "watch", step)
            return
        if step.action == "up-to-date":
            context.cached(step)
            return
        if step.action == "failed":   # failed for good (see heygen/failures.py): reported, not sent
            window.count_failed(step)
            context.reporter.failed(step, step.reason)
            return
        if step.action in ("submit", "retry") and not window.sending:
            return   # fail-fast: nothing more is sent
        window.hold(step)
        if step.action in ("submit", "retry"):
            window.queue(step)
        elif step.action == "poll":
            context.begin_polling(step, step.record, at_once=True)
        elif step.action == "download" and step.record and step.record.status == "downloaded":
            # Rows are planned as they are taken, so a twin row (same body) taken after its twin
            # was built finds the video on disk: it gets a copy, as when planned before the build.
            context.follow_existing(step, "exists", step.record)
        elif step.action == "download":
            window.schedule(0.0, "download", step)
        elif step.action == "reconcile":
            context.reconcile_later(step)
        else:  # "wait": another live process is submitting it
            window.schedule(context.timing.poll_min, "watch", step)

    def _submit_ready(self) -> None:
        while (step := self.window.next_to_submit()) is not None:
            self.submitter.submit(step)

    def _run_due_timer(self) -> bool:
        due = self.window.pop_due()
        if due is None:
            return False
        task, step = due
        try:
            self._tasks[task](step)
        except (AuthError, QuotaError) as exc:
            self.window.schedule(0.0, task, step)  # keeps the row listed as unfinished
            raise BuildStopped(str(exc)) from exc
        except BuildStopped:
            self.window.schedule(0.0, task, step)  # the row that gave up is unfinished too
            raise
        return True

    def _idle(self) -> None:
        now = self.clock()
        wake = self.window.wake_at()
        if wake is None:   # nothing in flight and submits stopped (fail-fast)
            for step in self.window.drop_queue():
                self.context.leave(step)
            return
        wait = max(0.0, wake - now)
        # Progress ticks need the loop to come round while a render takes minutes.
        self.sleep(wait if self.options.tick is None else min(wait, self.options.tick))

    def _count_the_rest(self) -> None:
        """The build stopped: the rows not taken yet are up to date or unfinished, as planned."""
        for step in self.window.rest():
            if step.action == "up-to-date":
                self.context.cached(step)
            else:
                self.window.count_unfinished(step)
