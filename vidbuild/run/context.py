"""What the run's handlers share: the state store, the window, the retry counts, the render pace and
deadlines, and the moves common to all of them.

Every move writes to state before it acts (``mark``): if another build superseded the row's record
meanwhile (a newer claim, say ``--force`` elsewhere), this build drops its copy and follows the
current one. The handlers (submit, poll, download, recover, reconcile) each hold this context;
the engine's loop runs the timers they set.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from vidbuild.errors import ApiError, BuildStopped, RateLimitError, UnsafeOutputError
from vidbuild.planner.decide import estimate_seconds, thumbnail_missing
from vidbuild.planner.fields import key_entry
from vidbuild.run.files import own_copy
from vidbuild.run.pacing import Pacer, RenderDeadlines
from vidbuild.run.retries import Retries, Retry
from vidbuild.state.history import Transition

if TYPE_CHECKING:
    from collections.abc import Callable

    from vidbuild.heygen.backend import Timing
    from vidbuild.planner.decide import Step
    from vidbuild.run.options import Options
    from vidbuild.run.outcome import Reporter
    from vidbuild.run.window import Task, Window
    from vidbuild.state.protocol import Record, State, Status

MAX_GRACE_FACTOR = 16       # the wait before a lookup doubles with each lost reply, up to 16 times


class RunContext:
    """The collaborators of one run and the moves every handler makes on a row.

    ``clock`` is the monotonic clock timers run on; the times written to state are wall-clock.
    """

    def __init__(self, state: State, reporter: Reporter, root: Path, options: Options, timing: Timing,
                 window: Window, clock: Callable[[], float]) -> None:
        self.state = state
        self.reporter = reporter
        self.root = root
        self.options = options
        self.timing = timing
        self.window = window
        self.retries = Retries()
        self.pacer = Pacer(timing, options.render_ratio)
        self.deadlines = RenderDeadlines(options.render_timeout, clock)
        self._known_ids: set[str] | None = None   # see known_video_ids
        self.failed_bodies: set[str] = set()   # hashes whose video failed in this build

    # -- state ------------------------------------------------------------------------------------

    def mark(self, step: Step, record: Record, status: str) -> bool:
        """Write the record's new status; False if another build superseded it (a newer claim,
        say ``--force`` elsewhere): then this build drops its copy and follows the current one."""
        record.status = status  # type: ignore[assignment]
        if self.state.record(record):
            return True
        self.follow_current(step)
        return False

    def follow_current(self, step: Step) -> None:
        self.window.free_slot(step.job.hash)
        self.pacer.forget(step.job.hash)
        self.reporter.note(step, "another build moved this row on (it got there first, or claimed it "
                                 "anew with --force): following its record instead of this one")
        self.window.schedule(0.0, "watch", step)

    def follow_existing(self, step: Step, outcome: str, record: Record) -> None:
        """Someone else (another process, or an earlier run) got there first: follow its record."""
        self.window.keep_record(step, record)   # what poll and download work from
        if outcome == "busy":
            self.window.schedule(self.timing.poll_min, "watch", step)
        elif outcome == "orphaned" or record.status in ("claimed", "uncertain"):
            # Or our own submission whose reply was lost, queued again after a rate limit.
            self.reconcile_later(step)
        elif record.status in ("submitted", "rendering"):
            self.begin_polling(step, record, at_once=True)
        elif not self.window.work_on(step):
            return   # a twin row of this build fetches the video: this row waits for it
        elif record.status == "completed":
            self.window.schedule(0.0, "download", step)
        else:
            self.take_copy(step, record)

    def take_copy(self, step: Step, record: Record) -> None:
        """The body's video is downloaded (to another row's output, if a twin's): the row is up to
        date if its output holds it, built if a copy of the twin's file is put there, else its
        video is downloaded again (as it is for a thumbnail the project asks for and lacks: the
        video's bytes already there are kept). Either way the row's key now names this body."""
        made = own_copy(self.root, step.job.output, record, self.options.protected)
        if made is None or thumbnail_missing(step.job, self.root):
            self.window.schedule(0.0, "download", step)
            return
        self.remember_row(step)
        self.leave(step)
        if made == "held":
            self.cached(step)
            return
        self.state.note(step.job.hash, Transition(time.time(), "copied",
                                                  f"{step.job.output} (same body as {record.output})"))
        self.window.count_done()
        self.reporter.done(step, record)

    def keep_same_video(self, step: Step) -> bool:
        """Record the video the step's row keeps from its key's last body (``Step.same_as``, see
        planner/same_video.py) under its body's hash, and remember the body for its key: True;
        False (nothing written) if a record of the hash came first (another build, a twin row)."""
        job, record = step.job, step.record
        assert record is not None and step.same_as is not None
        if not self.state.record(record):
            return False
        detail = f"as body {step.same_as[:12]}: it differs only where a value restates HeyGen's default"
        self.state.note(job.hash, Transition(time.time(), "same video", detail))
        self.state.remember_body(job.hash, job.body)
        self.remember_row(step)
        return True

    def remember_row(self, step: Step) -> None:
        """The row's key names its body from now on: what the next plan and explain compare a new
        body with (as a submit remembers it). A row known unchanged carries no body, and its key
        is already remembered."""
        if step.job.body:
            self.state.remember_key(step.job.key, key_entry(step.job.hash, step.job.body))

    def known_video_ids(self) -> set[str]:
        """Every video known to belong to some hash. The window keeps only the held rows'
        records, so the first lookup reads the others from state; ids learned later are added."""
        if self._known_ids is None:
            self._known_ids = {r.video_id for r in self.state.records() if r.video_id}
        self._known_ids.update(r.video_id for r in self.window.held_records() if r.video_id)
        return self._known_ids

    # -- a row's end --------------------------------------------------------------------------------

    def leave(self, step: Step) -> bool:
        """A held row is finished with; True if it was its body's last (then its counts go too).
        The twin rows that waited for it look at the body's record again at once."""
        for twin in self.window.release(step):
            self.window.schedule(0.0, "watch", twin)
        record = self.window.find_record(step)
        if self._known_ids is not None and record is not None and record.video_id:
            self._known_ids.add(record.video_id)
        last = self.window.leave(step)
        if last:
            self.pacer.forget(step.job.hash)
            self.deadlines.forget(step.job.hash)
            self.retries.forget(step.job.hash)
        return last

    def cached(self, step: Step) -> None:
        self.window.count_cached()
        self.reporter.cached(step)

    def fail(self, step: Step, record: Record, message: str, *, permanent: bool,
             status: Status = "failed") -> None:
        """Record the row as failed (or ``uncertain``) and report it; with fail-fast, send nothing more."""
        record.error, record.error_permanent = message, permanent
        if not self.mark(step, record, status):
            return
        if status == "failed":   # a twin row taken later fails alike instead of paying again
            self.failed_bodies.add(step.job.hash)
        self.leave(step)
        self.window.count_failed(step)
        self.reporter.failed(step, message)
        if self.options.fail_fast:
            for queued in self.window.stop_sending():
                self.leave(queued)

    # -- waiting ------------------------------------------------------------------------------------

    def transient(self, step: Step, task: Task, exc: ApiError | UnsafeOutputError) -> None:
        """Try ``task`` again after a backoff; a poll no later than the row's render deadline
        (a render that can't even be read in time is left unfinished, as a slow one is)."""
        if task == "poll" and self.deadlines.within(step.job.hash, 0.0) is None:
            self.poll_again(step, 0.0, f"status reads still failing ({exc})")
            return
        failures = self.retries.add(step.job.hash, Retry.TRANSIENT)
        if failures > Retry.TRANSIENT.limit:
            raise BuildStopped(f"{step.key}: {exc}")
        wait = exc.retry_after if isinstance(exc, RateLimitError) and exc.retry_after else \
            min(self.timing.poll_max, self.timing.poll_min * 2 ** failures)
        if task == "poll":
            wait = self.deadlines.within(step.job.hash, wait) or 0.0
        self.reporter.note(step, f"{task} failed ({exc}); retrying in {wait:.1f} s")
        self.window.schedule(wait, task, step)

    def begin_polling(self, step: Step, record: Record | None, *, at_once: bool) -> None:
        """Track a rendering video: its first poll now (state from an earlier run or another
        process may be stale) or when the pacer expects it to be nearly done. A body is polled by
        one row: a twin row of this build already polling it is waited for instead."""
        if not self.window.work_on(step):
            return
        self.window.take_slot(step.job.hash)
        submitted_at = record.submitted_at if record and record.submitted_at else time.time()
        # Counted from submission; a video an earlier build submitted gets its time from now.
        self.deadlines.begin(step.job.hash, submitted_at)
        delay = self.pacer.start(step.job.hash, estimate_seconds(step.job), submitted_at, time.time(),
                                 sent_here=not at_once)
        self.window.schedule(0.0 if at_once else delay, "poll", step)

    def poll_again(self, step: Step, delay: float, what: str) -> None:
        """Poll the row after ``delay`` seconds, or no later than its render deadline; once that
        has passed, leave the row unfinished (``what`` says why it was still waiting)."""
        left = self.deadlines.within(step.job.hash, delay)
        if left is None:
            self.pacer.forget(step.job.hash)
            self.give_up_waiting(step, what)
        else:
            self.window.schedule(left, "poll", step)

    def give_up_waiting(self, step: Step, what: str) -> None:
        """The render deadline passed: the row is unfinished, its state kept for a rerun to resume."""
        self.window.free_slot(step.job.hash)
        self.reporter.note(step, f"{what} after {self.deadlines.timeout:g} s (--render-timeout); "
                                 f"left unfinished: a rerun resumes it")
        self.window.count_unfinished(step)
        self.leave(step)

    # -- lost replies -------------------------------------------------------------------------------

    def reconcile_later(self, step: Step) -> None:
        """Look the row's lost submission up once the grace has passed, unless a twin row of this
        build (same body, same record) already will: then this row watches the record, so a body
        is looked up, and resent if absent, once however many rows share it."""
        if self.twin_reconciling(step):
            self.window.schedule(self.timing.poll_min, "watch", step)
        else:
            self.window.schedule(self.grace_left(step), "reconcile", step)

    def twin_reconciling(self, step: Step) -> bool:
        """Whether another row with this row's body waits to look its lost submission up or to
        resend it."""
        return any(other is not step and other.job.hash == step.job.hash
                   for task in ("reconcile", "resend") for _, other in self.window.waiting(task))

    def grace_left(self, step: Step) -> float:
        """Seconds until a possibly lost submission may be looked up: the grace after the last
        one sent, doubled for each earlier lost reply of the same body."""
        record = self.window.find_record(step) or step.record
        lost = record.lost_at if record else []
        since = lost[-1] if lost else (record.claimed_at if record and record.claimed_at else time.time())
        factor: int = min(2 ** max(len(lost) - 1, 0), MAX_GRACE_FACTOR)
        return max(0.0, since + self.timing.reconcile_grace * factor - time.time())
