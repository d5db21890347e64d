"""Run stage: carry out a plan (submit, poll, download) with a bounded window, never paying twice.

The plan comes as a stream of steps, taken only when there is room (see intake), so the engine
holds about a window's worth of rows, whatever the number of rows.

Every transition is written to state before the next action: a claim before each submit, the
video_id as soon as it is known, the checksum once the file is in place. So a process killed at
any moment leaves state that the next build resumes from. The engine never prints: it calls
the reporter's hooks.
"""

from __future__ import annotations

import heapq
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from vidbuild.errors import (
    ApiError,
    AuthError,
    InvalidRequestError,
    NotFoundError,
    QuotaError,
    RateLimitError,
    RequestInProgressError,
    RouteGoneError,
    TransportError,
    UncertainSubmitError,
)
from vidbuild.heygen.backend import Backend
from vidbuild.heygen.client import DamagedDownloadError, VideoStatus
from vidbuild.plan.decide import Step, estimate_seconds, field_digests, file_checksum
from vidbuild.report.progress import Reporter
from vidbuild.run.files import check_inside, has_own_copy, temporary_sibling
from vidbuild.run.intake import Intake
from vidbuild.run.pacing import Pacer
from vidbuild.run.poll import UNKNOWN, Reader
from vidbuild.run.reconcile import find_submission, uncertain_message
from vidbuild.run.recover import AccountSearch, Finding, Wanted
from vidbuild.run.submit import resendable, send
from vidbuild.run.window import Outcome, Worklist
from vidbuild.spec.protected import ProtectedFiles
from vidbuild.state.disk import KeyEntry, Record, State, Status

DEFAULT_JOBS = 4            # a handful in flight: HeyGen plans render 1 to 10 at once
MAX_TRANSIENT_FAILURES = 8  # consecutive network failures on one job before giving up this build
MAX_DOWNLOAD_TRIES = 3
MAX_DAMAGED_DOWNLOADS = 8   # files that arrived cut short, each fetched again from a fresh URL
MAX_LOST_REPLIES = 5        # submissions of one job in a row that got no reply before giving up
# Lost v3 replies resent under their Idempotency-Key before the video is looked up by its marker
# instead (the create replays its reply, which can be lost again; a lookup finds the video).
RESENDS_BEFORE_LOOKUP = 2
MAX_IN_FLIGHT_WAITS = 16    # 409 request_in_progress answers, poll_max apart, before giving up
MAX_GRACE_FACTOR = 16       # the wait before a lookup doubles with each lost reply, up to 16 times
DEFAULT_RENDER_TIMEOUT = 3600.0   # seconds a render may take before its row is left unfinished


@dataclass
class Options:
    jobs: int = DEFAULT_JOBS
    fail_fast: bool = False
    render_ratio: float | None = None   # learned by earlier builds against this API (see pacing)
    protected: ProtectedFiles | None = None   # checked again as each file is written
    render_timeout: float = DEFAULT_RENDER_TIMEOUT


class _Stop(Exception):
    """Stop the whole build: going on can't help (bad key, quota, network gone)."""


class Engine(Worklist):
    """Carries out one plan against one backend and one state store."""

    def __init__(self, backend: Backend, state: State, reporter: Reporter, root: Path,
                 options: Options | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.options = options or Options()
        super().__init__(reporter, clock, max(1, self.options.jobs))
        self.backend = backend
        self.client = backend.client
        self.timing = backend.timing
        self.state = state
        self.root = root
        self.sleep = sleep
        self._in_flight: set[str] = set()
        self._submit_after = 0.0
        self._failures: dict[str, int] = {}
        self._known_ids: set[str] | None = None   # see _known_video_ids
        self.pacer = Pacer(self.timing, self.options.render_ratio)
        self._stopping = False
        self._started = time.time()
        self._deadlines: dict[str, float] = {}   # by hash, on self.clock: see _deadline
        self.reader = Reader(self.client, state)
        self.search = AccountSearch(self.reader)

    # -- the loop -------------------------------------------------------------------------

    def run(self, steps: Iterable[Step]) -> Outcome:
        """Carry out ``steps``, taking each from the stream only when there is room for it."""
        self._intake = Intake(steps, self.clock)
        try:
            self._take_rows()
            while self._queue or self._timers or self._intake.more:
                self._submit_ready()
                if not self._run_due_timer():
                    self._idle()
                self._take_rows()
        except _Stop as exc:
            self.outcome.stopped = str(exc)
            self._count_the_rest()
        self._list_unfinished()
        return self.outcome

    def _take_rows(self) -> None:
        for step in self._intake.take(self._has_room):
            self._start(step)

    def _start(self, step: Step) -> None:
        if step.action == "up-to-date":
            self._cached(step)
            return
        if step.action in ("submit", "retry") and self._stopping:
            return   # fail-fast: nothing more is sent
        self._hold(step)
        if step.action in ("submit", "retry"):
            self._queue.append(step)
        elif step.action == "poll":
            self._begin_polling(step, step.record, at_once=True)
        elif step.action == "download" and step.record and step.record.status == "downloaded":
            # Rows are planned as they are taken, so a twin row (same body) taken after its twin
            # was built finds the video on disk: it gets a copy, as when planned before the build.
            self._follow_existing(step, "exists", step.record)
        elif step.action == "download":
            self._schedule(0.0, "download", step)
        elif step.action == "reconcile":
            self._reconcile_later(step)
        else:  # "wait": another live process is submitting it
            self._schedule(self.timing.poll_min, "watch", step)

    def _run_due_timer(self) -> bool:
        due = self._pop_due()
        if due is None:
            return False
        task, step = due
        tasks = {"poll": self._poll, "download": self._download, "reconcile": self._reconcile,
                 "watch": self._watch, "resend": self._resend, "requeue": self._queue.appendleft}
        try:
            tasks[task](step)
        except (AuthError, QuotaError) as exc:
            self._schedule(0.0, task, step)  # keeps the row listed as unfinished
            raise _Stop(str(exc)) from exc
        except _Stop:
            self._schedule(0.0, task, step)  # the row that gave up is unfinished too
            raise
        return True

    def _idle(self) -> None:
        now = self.clock()
        wake = [self._timers[0][0]] if self._timers else []
        if self._queue and len(self._in_flight) < self.window and not self._stopping:
            wake.append(self._submit_after)
        if self._intake.more and self._has_room():
            wake.append(now)   # more rows to take: the last take ran out of time
        if not wake:
            self._drop_queue()   # nothing in flight and submits stopped (fail-fast)
            return
        self.sleep(max(0.0, min(wake) - now))

    # -- submit -------------------------------------------------------------------------------

    def _submit_ready(self) -> None:
        while (self._queue and not self._stopping and len(self._in_flight) < self.window
               and self.clock() >= self._submit_after):
            self._submit(self._queue.popleft())

    def _submit(self, step: Step, *, confirmed_absent: bool = False) -> None:
        job = step.job
        _, sent = job.submission()   # its title (marked) is what a lost reply is looked up by
        outcome, record = self.state.claim(job.hash, job.key, job.kind, title=sent.get("title"),
                                           output=job.output, force=step.action == "submit"
                                           and step.reason.startswith("forced"),
                                           generation=job.generation)
        assert record is not None
        self.records[job.hash] = record
        if outcome != "claimed" and not confirmed_absent:
            self._follow_existing(step, outcome, record)
            return
        if record.lost_at and not confirmed_absent:
            # An earlier submission's reply was lost: its video may yet appear. Look first.
            self._in_flight.add(job.hash)
            self._reconcile_later(step)
            return
        if step.look_first and record.attempts == 1 and not record.forced and not confirmed_absent \
                and self._found_in_account(step, record):
            return
        if record.generation != job.generation and not self._switch_generation(step, record):
            return
        self.state.remember_key(job.key, KeyEntry(job.hash, field_digests(job.body)))
        if confirmed_absent and not self._resending(step, record):
            return
        self._send(step, record, sent_at=record.lost_at[-1] if confirmed_absent else None)

    def _resending(self, step: Step, record: Record) -> bool:
        """Write the resend's time as a lost-reply attempt before it is sent: if this build is
        killed before the reply, the next one waits the grace from this send, not the first."""
        record.lost_at = [*record.lost_at, time.time()]
        return self._mark(step, record, "uncertain")

    def _switch_generation(self, step: Step, record: Record) -> bool:
        """A claim whose earlier send went through the other generation is sent again through this
        build's choice (only once found absent): written first, so a lost reply is looked up right."""
        record.generation = step.job.generation
        return self._mark(step, record, record.status)

    def _send(self, step: Step, record: Record, *, sent_at: float | None = None) -> None:
        """Send the claimed ``record`` through its generation and follow what comes of it;
        ``sent_at`` is the send's time when it is already in ``record.lost_at``."""
        job = step.job
        sent_at = sent_at or time.time()
        try:
            video_id = send(self.client, job, record)
        except RequestInProgressError as exc:   # our own earlier send, same key, still in flight
            self._in_flight.add(job.hash)
            self._wait_in_flight(step, exc)
            return
        except UncertainSubmitError as exc:
            self._reply_lost(step, record, sent_at, exc)
            return
        except RateLimitError as exc:
            self._requeue_rate_limited(step, exc)
            return
        except RouteGoneError as exc:   # the create route itself isn't served here: nothing was made
            if self._release(step, record, exc):
                self._queue.appendleft(step)
            raise _Stop(f"{exc} (--api chooses the other API generation)") from exc
        except (InvalidRequestError, NotFoundError) as exc:   # a 404 names something the body uses
            self._fail(step, record, str(exc), permanent=True)
            return
        except (TransportError, AuthError, QuotaError) as exc:
            if self._release(step, record, exc):  # certainly not sent: nothing was created
                self._queue.appendleft(step)
            raise _Stop(str(exc)) from exc
        record.video_id, record.submitted_at, record.error, record.lost_at = video_id, time.time(), None, []
        if not self._mark(step, record, "submitted"):
            return
        self.reporter.submitted(step, video_id)
        self._deadlines.pop(job.hash, None)   # a new submission: its own time to render
        self._begin_polling(step, record, at_once=False)

    def _wait_in_flight(self, step: Step, exc: RequestInProgressError) -> None:
        """HeyGen is still creating the video of an earlier send under the same key: ask again
        once that may have finished (the replay then names the video)."""
        waits = self._failures.get(f"inflight:{step.job.hash}", 0) + 1
        self._failures[f"inflight:{step.job.hash}"] = waits
        if waits > MAX_IN_FLIGHT_WAITS:
            raise _Stop(f"{step.key}: {exc}") from exc
        self._schedule(self.timing.poll_max, "resend", step)

    def _reply_lost(self, step: Step, record: Record, sent_at: float, exc: UncertainSubmitError) -> None:
        """The submission may have created a video: keep its time, look it up after a grace that
        doubles with each lost reply of the body (a lagging video list gets longer to catch up)."""
        record.error = str(exc)
        if sent_at not in record.lost_at:   # a resend wrote its time before it was sent
            record.lost_at = [*record.lost_at, sent_at]
        if not self._mark(step, record, "uncertain"):
            return
        self._in_flight.add(step.job.hash)   # it may be rendering: it keeps its place in the window
        lost = self._failures.get(f"lost:{step.job.hash}", 0) + 1
        self._failures[f"lost:{step.job.hash}"] = lost
        native = resendable(record, time.time()) and lost <= RESENDS_BEFORE_LOOKUP
        if native:   # the same Idempotency-Key can't make a second video
            self._schedule(min(self.timing.poll_max, self.timing.poll_min * 2 ** lost), "resend", step)
        else:
            self._schedule(self._grace_left(step), "reconcile", step)
        if lost > MAX_LOST_REPLIES:   # the API never answers: resending can't help today
            raise _Stop(f"{step.key}: {lost} submissions in a row got no reply: {exc}") from exc
        then = "resending under the same Idempotency-Key" if native else "will look it up before any resend"
        self.reporter.note(step, f"reply lost ({exc}); {then}")

    def _begin_polling(self, step: Step, record: Record | None, *, at_once: bool) -> None:
        """Track a rendering video: its first poll now (state from an earlier run or another
        process may be stale) or when the pacer expects it to be nearly done."""
        self._in_flight.add(step.job.hash)
        submitted_at = record.submitted_at if record and record.submitted_at else time.time()
        # Counted from submission; a video an earlier build submitted gets its time from now.
        self._deadline(step, submitted_at if submitted_at >= self._started else time.time())
        delay = self.pacer.start(step.job.hash, estimate_seconds(step.job), submitted_at, time.time())
        self._schedule(0.0 if at_once else delay, "poll", step)

    def _deadline(self, step: Step, since: float | None = None) -> float:
        """When (on self.clock) this build stops waiting for the row's render: ``render_timeout``
        after ``since`` (wall clock; default now), fixed the first time it is asked for."""
        if step.job.hash not in self._deadlines:
            left = (since if since is not None else time.time()) + self.options.render_timeout - time.time()
            self._deadlines[step.job.hash] = self.clock() + max(0.0, left)
        return self._deadlines[step.job.hash]

    def _next_check(self, step: Step, delay: float) -> float | None:
        """``delay``, shortened to end at the deadline; None once the deadline has passed."""
        left = self._deadline(step) - self.clock()
        return None if left <= 0 else min(delay, left)

    def _poll_again(self, step: Step, delay: float, what: str) -> None:
        """Poll the row after ``delay`` seconds, or no later than its render deadline; once that
        has passed, leave the row unfinished (``what`` says why it was still waiting)."""
        left = self._next_check(step, delay)
        if left is None:
            self.pacer.forget(step.job.hash)
            self._give_up_waiting(step, what)
        else:
            self._schedule(left, "poll", step)

    def _give_up_waiting(self, step: Step, what: str) -> None:
        """The render deadline passed: the row is unfinished, its state kept for a rerun to resume."""
        self._in_flight.discard(step.job.hash)
        self.reporter.note(step, f"{what} after {self.options.render_timeout:g} s (--render-timeout); "
                                 f"left unfinished: a rerun resumes it")
        self.outcome.unfinished.append(step.key)
        self._leave(step)

    def _follow_existing(self, step: Step, outcome: str, record: Record) -> None:
        """Someone else (another process, or an earlier run) got there first: follow its record."""
        self.records[step.job.hash] = record   # what poll and download work from
        if outcome == "busy":
            self._schedule(self.timing.poll_min, "watch", step)
        elif outcome == "orphaned" or record.status in ("claimed", "uncertain"):
            # Or our own submission whose reply was lost, queued again after a rate limit.
            self._reconcile_later(step)
        elif record.status in ("submitted", "rendering"):
            self._begin_polling(step, record, at_once=True)
        elif record.status == "completed":
            self._schedule(0.0, "download", step)
        elif record.status in ("claimed", "uncertain"):   # a twin row of this build is sending it
            self._schedule(self.timing.poll_min, "watch", step)
        elif has_own_copy(self.root, step.job.output, record, self.options.protected):
            self._leave(step)
            self._cached(step)
        else:
            self._schedule(0.0, "download", step)

    def _requeue_rate_limited(self, step: Step, exc: RateLimitError) -> None:
        # Too many videos rendering at once: shrink the window to what the account accepts. The
        # row itself renders nothing (a 429 creates nothing, and uses no Idempotency-Key).
        self._in_flight.discard(step.job.hash)
        self.window = max(1, len(self._in_flight))
        self._submit_after = self.clock() + (exc.retry_after or self.timing.poll_min)
        self._queue.appendleft(step)
        self.reporter.note(step, f"rate limited; {self.window} in flight, resuming in "
                                 f"{exc.retry_after or self.timing.poll_min:.0f} s")

    def _release(self, step: Step, record: Record, exc: ApiError) -> bool:
        record.error = f"not sent: {exc}"
        return self._mark(step, record, "failed" if record.attempts > 1 else "claimed")

    # -- recover and reconcile -----------------------------------------------------------------

    def _found_in_account(self, step: Step, record: Record) -> bool:
        """Before a first payment that state can't vouch for: look for the body's video in the
        account; True if found (and adopted), or if the row waits for a lookup to be possible."""
        wanted = Wanted(record.hash, record.kind, record.title, frozenset(self._known_video_ids()),
                        callback_sent=step.job.callback_id is not None)
        try:
            finding = self.search.find(wanted)
        except RouteGoneError:
            return False   # neither generation can be asked: sending is all that is left
        except (AuthError, QuotaError) as exc:
            self._queue.appendleft(step)
            raise _Stop(str(exc)) from exc
        except (TransportError, ApiError) as exc:
            self._transient(step, "requeue", exc)
            return True
        if finding.outcome != "found" or not finding.video_id:
            return False
        self._adopt(step, record, finding, "found in the account (built before)")
        return True

    def _adopt(self, step: Step, record: Record, finding: Finding, what: str) -> None:
        """Record a video found in the account as the row's, then download or poll it."""
        record.video_id, record.submitted_at, record.error = finding.video_id, time.time(), None
        status = finding.status
        if status is not None and status.status == "completed" and status.video_url:
            record.video_url, record.thumbnail_url = status.video_url, status.thumbnail_url
            record.duration, record.completed_at = status.duration, time.time()
            if self._mark(step, record, "completed"):
                self.reporter.note(step, f"{what}: {finding.video_id}; not paying again")
                self._schedule(0.0, "download", step)
            return
        if self._mark(step, record, "submitted"):
            self.reporter.note(step, f"{what}: {finding.video_id}; not paying again")
            self._begin_polling(step, record, at_once=True)

    # -- reconcile ----------------------------------------------------------------------------

    def _grace_left(self, step: Step) -> float:
        """Seconds until a possibly lost submission may be looked up: the grace after the last
        one sent, doubled for each earlier lost reply of the same body."""
        record = self.records.get(step.job.hash) or step.record
        lost = record.lost_at if record else []
        since = lost[-1] if lost else (record.claimed_at if record and record.claimed_at else time.time())
        factor: int = min(2 ** max(len(lost) - 1, 0), MAX_GRACE_FACTOR)
        return max(0.0, since + self.timing.reconcile_grace * factor - time.time())

    def _reconcile_later(self, step: Step) -> None:
        """Look the row's lost submission up once the grace has passed, unless a twin row of this
        build (same body, same record) already will: then this row watches the record, so a body
        is looked up, and resent if absent, once however many rows share it."""
        if self._twin_reconciling(step):
            self._schedule(self.timing.poll_min, "watch", step)
        else:
            self._schedule(self._grace_left(step), "reconcile", step)

    def _twin_reconciling(self, step: Step) -> bool:
        """Whether another row with this row's body waits to look its lost submission up or to
        resend it."""
        return any(other is not step and other.job.hash == step.job.hash
                   for task in ("reconcile", "resend") for _, other in self._waiting(task))

    def _own_unsent(self, step: Step) -> Record | None:
        """The row's claim from state, made this build's own, if it is still waiting on a send
        whose reply was lost; else None, the row following whatever state says instead."""
        record = self.state.get(step.job.hash)
        if record is None or record.status not in ("claimed", "uncertain"):
            self._in_flight.discard(step.job.hash)
            self._follow_existing(step, "exists", record) if record else self._queue.append(step)
            return None
        if record.owner != self.state.owner and not self.state.take_over(record):
            self._in_flight.discard(step.job.hash)
            self._schedule(self.timing.poll_min, "watch", step)
            return None
        self.records[step.job.hash] = record
        return record

    def _resend(self, step: Step) -> None:
        """Send a v3 create again under its Idempotency-Key: HeyGen replays the first reply."""
        record = self._own_unsent(step)
        if record is not None:
            self._send(step, record)

    def _reconcile(self, step: Step) -> None:
        record = self._own_unsent(step)
        if record is None:
            return
        same_route = resendable(record, time.time()) and record.generation == step.job.generation
        if same_route and self._failures.get(f"lost:{step.job.hash}", 0) <= RESENDS_BEFORE_LOOKUP:
            self._send(step, record)   # a claim an earlier build left: its key settles it
            return
        try:
            finding = find_submission(self.search, record, self._known_video_ids(),
                                      agent_marked=step.job.callback_id is not None)
        except RouteGoneError as exc:
            raise _Stop(f"{step.key}: can't look for the lost submission: {exc}") from exc
        except ApiError as exc:
            if isinstance(exc, AuthError | QuotaError):
                raise
            self._transient(step, "reconcile", exc)
            return
        self._in_flight.discard(step.job.hash)
        if finding.outcome == "found" and finding.video_id:
            record.lost_at = []
            self._adopt(step, record, finding, "found the lost submission")
        elif finding.outcome == "absent":
            self.reporter.note(step, "the lost submission never reached HeyGen; sending it now")
            if same_route:
                self._send(step, record)   # under the same key: safe even if the list lagged
            else:
                self._submit(step, confirmed_absent=True)
        else:   # stays uncertain: every build asks again until the user adopts or forces
            self._fail(step, record, uncertain_message(step.key, finding), permanent=False,
                       status="uncertain")

    def _known_video_ids(self) -> set[str]:
        """Every video known to belong to some hash. The engine keeps only the held rows'
        records, so the first reconcile reads the others from state; ids learned later are added."""
        if self._known_ids is None:
            self._known_ids = {r.video_id for r in self.state.records() if r.video_id}
        self._known_ids.update(r.video_id for r in self.records.values() if r.video_id)
        return self._known_ids

    def _watch(self, step: Step) -> None:
        record = self.state.get(step.job.hash)
        if record is None:
            self._queue.append(step)
        elif record.status in ("claimed", "uncertain"):
            if record.status == "uncertain" and record.owner == self.state.owner \
                    and step.job.hash not in self._in_flight and not self._twin_reconciling(step):
                # A twin row of this build looked the lost reply up and could not tell: nor can this.
                self._fail(step, record, record.error or "its reply was lost", permanent=False,
                           status="uncertain")
            elif self.state.owner_alive(record.owner):
                delay = self._next_check(step, self.timing.poll_max)
                if delay is None:
                    self._give_up_waiting(step, "still being submitted by another vidbuild process")
                else:
                    self._schedule(delay, "watch", step)
            else:
                self._reconcile_later(step)
        elif record.status == "failed":
            self._fail(step, record, record.error or "failed in another process", permanent=False)
        else:
            self._follow_existing(step, "exists", record)

    # -- poll and download ----------------------------------------------------------------------

    def _poll(self, step: Step) -> None:
        """Ask about this video and every other one rendering, in one read (see reading.py).

        The others ride along for free: one due soon (within ``poll_max``) counts as polled, one
        due later keeps its own timer unless the read found it finished. So a read of the window
        costs one request, and a video that finishes is seen at the next read of any video.
        """
        waiting = self._waiting("poll")
        soon = [rider for left, rider in waiting if left <= self.timing.poll_max]
        later = [rider for left, rider in waiting if left > self.timing.poll_max]
        batch = [step, *soon, *later]
        video_ids = [self._video_id(member) for member in batch]
        try:
            statuses = self.reader.statuses({video_id: self.records[member.job.hash].generation
                                             for video_id, member in zip(video_ids, batch, strict=True)})
        except RouteGoneError as exc:   # neither generation's reads are served: state kept (exit 3)
            raise _Stop(f"{step.key}: can't read video {video_ids[0]}: {exc}") from exc
        except (TransportError, RateLimitError, ApiError) as exc:
            if isinstance(exc, AuthError | QuotaError):
                raise
            self._transient(step, "poll", exc)   # the others keep their own timers
            return
        self._add_urls(statuses)
        found = {member.job.hash: statuses[self._video_id(member)] for member in batch}
        riders = [*soon, *(rider for rider in later if found[rider.job.hash].finished)]
        self._cancel("poll", riders)
        # The fired step goes last: if handling a rider stops the build, the rest keep a timer
        # (the fired one gets its own back from _run_due_timer), so every row is still counted.
        for index, rider in enumerate(riders):
            try:
                self._polled(rider, found[rider.job.hash])
            except BaseException:
                for rest in riders[index:]:
                    self._schedule(0.0, "poll", rest)
                raise
        self._polled(step, found[step.job.hash])

    def _add_urls(self, statuses: dict[str, VideoStatus]) -> None:
        """Several videos finished at once: their URLs from one list read instead of a detail each
        (a failure here only leaves each to its own detail read)."""
        done = [video_id for video_id, status in statuses.items()
                if status.status == "completed" and not status.video_url]
        if len(done) < 2:
            return
        try:
            statuses.update(self.reader.finished_details(done))
        except (AuthError, QuotaError):
            raise
        except (TransportError, RateLimitError, ApiError):
            pass

    def _video_id(self, step: Step) -> str:
        video_id = self.records[step.job.hash].video_id
        assert video_id is not None
        return video_id

    def _polled(self, step: Step, status: VideoStatus) -> None:
        record = self.records[step.job.hash]
        if status.status == UNKNOWN:
            self._unknown_video(step, record)
            return
        if status.status == "completed" and not status.video_url:
            try:   # a bulk status carries no URLs: the detail does
                status = self.reader.detail(self._video_id(step), record.generation)
            except RouteGoneError as exc:
                raise _Stop(f"{step.key}: can't read video {record.video_id}: {exc}") from exc
            except (TransportError, RateLimitError, ApiError) as exc:
                if isinstance(exc, AuthError | QuotaError):
                    raise
                self._transient(step, "poll", exc)
                return
        self._failures.pop(step.job.hash, None)
        self._failures.pop(f"unknown:{step.job.hash}", None)
        if status.finished:
            self._video_finished(step)
        if status.status == "completed" and status.video_url:
            record.video_url, record.thumbnail_url = status.video_url, status.thumbnail_url
            record.duration, record.completed_at = status.duration, time.time()
            if self._mark(step, record, "completed"):
                self._download(step)
        elif status.status == "failed":
            error = status.error
            text = f"{error.code} {error.message}".strip() if error else "render failed"
            self._fail(step, record, f"HeyGen failed the render: {text}", permanent=False)
        else:
            self._still_rendering(step, record, status.status)

    def _unknown_video(self, step: Step, record: Record) -> None:
        """Neither generation knows the video just now. Never taken for a lost video (that would
        pay again): asked again a few times, then the row is left unfinished, its state kept."""
        unknown = self._failures.get(f"unknown:{step.job.hash}", 0) + 1
        self._failures[f"unknown:{step.job.hash}"] = unknown
        if unknown <= MAX_TRANSIENT_FAILURES:
            self._poll_again(step, min(self.timing.poll_max, self.timing.poll_min * 2 ** unknown),
                             f"HeyGen still doesn't know video {record.video_id}")
            return
        self.pacer.forget(step.job.hash)
        self._in_flight.discard(step.job.hash)
        self.reporter.note(step, f"HeyGen doesn't know video {record.video_id} (deleted from the "
                                 f"account?); left unfinished: rebuild with --force {step.key} to pay "
                                 "for it again")
        self.outcome.unfinished.append(step.key)
        self._leave(step)

    def _still_rendering(self, step: Step, record: Record, status: str) -> None:
        if record.status != "rendering" and not self._mark(step, record, "rendering"):
            return
        self.reporter.rendering(step, status)
        if step.job.hash not in self.pacer.tracked:   # polled again for a fresh URL
            self.pacer.start(step.job.hash, estimate_seconds(step.job), time.time(), time.time())
        delay = self._next_check(step, self.pacer.unfinished(step.job.hash, time.time()))
        if delay is None:
            self.pacer.forget(step.job.hash)
            self._give_up_waiting(step, "still rendering")
        else:
            self._schedule(delay, "poll", step)

    def _video_finished(self, step: Step) -> None:
        """A render slot is free: widen a window a rate limit narrowed, and learn the render pace."""
        self._in_flight.discard(step.job.hash)
        if self.window < self.options.jobs and self.clock() >= self._submit_after:
            self.window += 1
        if self.pacer.finished(step.job.hash, time.time()):
            self._replan_first_polls()

    def _replan_first_polls(self) -> None:
        """The first finished video taught the pace: move the others' first polls accordingly."""
        waiting = set(self.pacer.waiting_first_poll())
        now, wall = self.clock(), time.time()
        self._timers = [(now + max(0.0, self.pacer.first_due(step.job.hash) - wall), tiebreak, task, step)
                        if task == "poll" and step.job.hash in waiting else (due, tiebreak, task, step)
                        for due, tiebreak, task, step in self._timers]
        heapq.heapify(self._timers)

    def _download(self, step: Step) -> None:
        record = self.records[step.job.hash]
        destination = self.root / step.job.output
        # Fetched beside the output, then renamed over it only if the record is still current.
        staged = temporary_sibling(destination, "landing")
        try:
            if not record.video_url:
                raise NotFoundError("no video_url recorded")
            check_inside(self.root, destination, self.options.protected)   # before mkdir too
            destination.parent.mkdir(parents=True, exist_ok=True)
            check_inside(self.root, destination, self.options.protected)
            result = self.client.download(record.video_url, staged, media="mp4")
        except NotFoundError:   # the signed URL expired (or was never known): ask for a fresh one
            self._refresh_url(step, record)
            return
        except DamagedDownloadError as exc:   # cut short unseen: fetch again, from a fresh URL
            self._refresh_url(step, record, damaged=exc)
            return
        except (TransportError, ApiError) as exc:
            self._transient(step, "download", exc)
            return
        except OSError as exc:   # a local failure, say a file put where the output's folder was
            raise _Stop(_cannot_write(step, destination, exc)) from exc
        # A file already there with the video's bytes (recovered from the account) is kept as is.
        keep = _holds_bytes(destination, result.sha256)
        stat = (destination if keep else result.path).stat()
        record.checksum, record.size, record.mtime_ns = result.sha256, result.size, stat.st_mtime_ns
        record.output, record.downloaded_at, record.error = step.job.output, time.time(), None
        try:
            if not self._land(step, record, staged, destination, keep=keep):
                return
        except ApiError as exc:   # the output's place changed while it downloaded (a symlink)
            self._transient(step, "download", exc)
            return
        except OSError as exc:
            raise _Stop(_cannot_write(step, destination, exc)) from exc
        self._failures.pop(step.job.hash, None)
        self._failures.pop(f"urls:{step.job.hash}", None)
        self._leave(step)
        self.outcome.done += 1
        self.reporter.done(step, record)

    def _land(self, step: Step, record: Record, staged: Path, destination: Path, *, keep: bool) -> bool:
        """Rename the fetched file over the output (unless ``keep``: the output is the same bytes)
        and record it, in one state transaction; if another build superseded the record
        meanwhile, the file is dropped and not reported."""
        def install() -> None:
            check_inside(self.root, destination, self.options.protected)   # again: time has passed
            if not keep:
                os.replace(staged, destination)

        record.status = "downloaded"
        try:
            landed = self.state.record(record, install=install)
        finally:
            staged.unlink(missing_ok=True)
        if not landed:
            self._follow_current(step)
        return landed

    def _refresh_url(self, step: Step, record: Record, damaged: ApiError | None = None) -> None:
        # Counted apart from transient failures: the poll that fetches a fresh URL resets those.
        counter, limit = (f"damaged:{step.job.hash}", MAX_DAMAGED_DOWNLOADS) if damaged else \
            (f"urls:{step.job.hash}", MAX_DOWNLOAD_TRIES)
        tries = self._failures.get(counter, 0) + 1
        self._failures[counter] = tries
        if tries > limit:
            raise _Stop(f"{step.key}: {damaged}" if damaged else
                        f"{step.key}: the video's URL keeps expiring before it can be downloaded")
        if damaged:
            self.reporter.note(step, f"download not whole ({damaged}); fetching it again")
        if not self._mark(step, record, "submitted"):
            return
        self._in_flight.add(step.job.hash)
        self._schedule(0.0, "poll", step)

    # -- shared -------------------------------------------------------------------------------

    def _transient(self, step: Step, task: str, exc: ApiError) -> None:
        """Try ``task`` again after a backoff; a poll no later than the row's render deadline
        (a render that can't even be read in time is left unfinished, as a slow one is)."""
        if task == "poll" and self._next_check(step, 0.0) is None:
            self._poll_again(step, 0.0, f"status reads still failing ({exc})")
            return
        failures = self._failures.get(step.job.hash, 0) + 1
        self._failures[step.job.hash] = failures
        if failures > MAX_TRANSIENT_FAILURES:
            raise _Stop(f"{step.key}: {exc}")
        wait = exc.retry_after if isinstance(exc, RateLimitError) and exc.retry_after else \
            min(self.timing.poll_max, self.timing.poll_min * 2 ** failures)
        if task == "poll":
            wait = self._next_check(step, wait) or 0.0
        self.reporter.note(step, f"{task} failed ({exc}); retrying in {wait:.1f} s")
        self._schedule(wait, task, step)

    def _fail(self, step: Step, record: Record, message: str, *, permanent: bool,
              status: Status = "failed") -> None:
        record.error, record.error_permanent = message, permanent
        if not self._mark(step, record, status):
            return
        self._leave(step)
        self.outcome.failed.append(step.key)
        self.reporter.failed(step, message)
        if self.options.fail_fast:
            self._stopping = True
            self._drop_queue()

    def _leave(self, step: Step) -> bool:
        record = self.records.get(step.job.hash)
        if self._known_ids is not None and record is not None and record.video_id:
            self._known_ids.add(record.video_id)
        last = super()._leave(step)
        if last:
            self.pacer.forget(step.job.hash)
            self._deadlines.pop(step.job.hash, None)
            for name in (step.job.hash, f"lost:{step.job.hash}", f"urls:{step.job.hash}",
                         f"damaged:{step.job.hash}", f"unknown:{step.job.hash}",
                         f"inflight:{step.job.hash}"):
                self._failures.pop(name, None)
        return last

    def _mark(self, step: Step, record: Record, status: str) -> bool:
        """Write the record's new status; False if another build superseded it (a newer claim,
        say ``--force`` elsewhere): then this build drops its copy and follows the current one."""
        record.status = status  # type: ignore[assignment]
        if self.state.record(record):
            return True
        self._follow_current(step)
        return False

    def _follow_current(self, step: Step) -> None:
        self._in_flight.discard(step.job.hash)
        self.pacer.forget(step.job.hash)
        self.reporter.note(step, "another build moved this row on (it got there first, or claimed it "
                                 "anew with --force): following its record instead of this one")
        self._schedule(0.0, "watch", step)


def _holds_bytes(path: Path, sha256: str) -> bool:
    """Whether ``path`` is a regular file whose bytes have this checksum."""
    try:
        return path.is_file() and not path.is_symlink() and file_checksum(path) == sha256
    except OSError:
        return False


def _cannot_write(step: Step, destination: Path, exc: OSError) -> str:
    """Why the row's video can't be put in place, naming the local path at fault."""
    where = exc.filename or destination
    return (f"{step.key}: can't write {destination}: {exc.strerror or exc} ({where}); "
            "state kept, a rerun resumes")
