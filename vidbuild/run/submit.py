"""Submit rows: claim each in state, then create its video through the API generation the claim names.

A row planned for v3 is created with ``POST /v3/videos`` (or ``/v3/video-agents``), a legacy one
with ``POST /v2/video/generate`` (or ``/v1/video_agent/generate``); the body for each comes from
``Job.submission``. Every v3 video create carries an ``Idempotency-Key``: for 24 h HeyGen replays
the first reply to the same key, and answers 409 ``request_in_progress`` while a twin is in
flight (heygen-api.md, "POST /v3/videos"), so a lost reply is simply resent. ``/v3/video-agents``
takes no key (HeyGen's list of endpoints that honour it omits it): its lost replies are looked up
like legacy ones.

A claim is written before each send, the video id as soon as it is known, the time of a send whose
reply was lost before it is looked up or resent: a build killed at any moment leaves state that
the next one resumes from without paying twice.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

from vidbuild.errors import (
    ApiError,
    AuthError,
    BuildStopped,
    InvalidRequestError,
    NotFoundError,
    QuotaError,
    RateLimitError,
    RequestInProgressError,
    RouteGoneError,
    TransportError,
    UncertainSubmitError,
)
from vidbuild.heygen.routes import IDEMPOTENCY_WINDOW_SECONDS
from vidbuild.planner.fields import key_entry
from vidbuild.run.retries import Retry
from vidbuild.state.protocol import Record

if TYPE_CHECKING:
    from vidbuild.heygen.client import HeyGenClient
    from vidbuild.planner.decide import Step
    from vidbuild.run.context import RunContext
    from vidbuild.run.recover import Recovery
    from vidbuild.spec.expand import Job

# A resend must reach HeyGen well inside the key's 24 h, whatever the clocks: past this age
# (from the claim, which is never later than the first send) a lost reply is looked up instead.
RESEND_WINDOW = IDEMPOTENCY_WINDOW_SECONDS - 3600.0
# Lost v3 replies resent under their Idempotency-Key before the video is looked up by its marker
# instead (the create replays its reply, which can be lost again; a lookup finds the video).
RESENDS_BEFORE_LOOKUP = 2


def idempotency_key(record: Record) -> str:
    """The key of a claim's v3 create: the content hash for a body's first claim; for a retried
    or forced one (which must create a new video, not replay the earlier one), the hash with the
    attempt number and the claim's time, so that even a state that lost its history can't reuse
    an earlier key. Fits HeyGen's 1-255 characters of ``[A-Za-z0-9_:.-]``."""
    if record.attempts <= 1 and not record.forced:
        return record.hash
    return f"{record.hash}.{record.attempts}.{int(record.claimed_at or 0)}"


def resendable(record: Record, now: float) -> bool:
    """Whether a lost reply of this claim may be resent as is (a v3 video create under its key,
    within the key's window): then no lookup is needed and no second video can result."""
    return (record.generation == "v3" and record.kind == "video" and record.claimed_at is not None
            and now - record.claimed_at < RESEND_WINDOW)


def create_video(client: HeyGenClient, job: Job, record: Record) -> str:
    """Create the row's video through ``record.generation`` and return its id.

    Raises what the client raises: UncertainSubmitError (reply lost), RequestInProgressError
    (a twin under the same key is in flight), RateLimitError, InvalidRequestError …
    """
    if job.generation != record.generation:
        job = dataclasses.replace(job, generation=record.generation)   # the claim's, as claimed
    _, body = job.submission()
    if record.generation != "v3":
        return client.submit(job.kind, body)
    if job.kind == "agent":
        session = client.v3.create_agent_video(body)
        if not session.video_id:
            # HeyGen may name the video only later (heygen-api.md, "POST /v3/video-agents"):
            # the video may exist, so it is looked up like a lost reply, never sent again blindly.
            raise UncertainSubmitError(f"agent session {session.session_id} names no video yet",
                                       status=200, method="POST", path="/v3/video-agents")
        return session.video_id
    return client.v3.create_video(body, idempotency_key=idempotency_key(record)).video_id


class Submitter:
    """Sends queued rows, each claimed in state first, and follows what comes of each send."""

    def __init__(self, context: RunContext, client: HeyGenClient, recovery: Recovery) -> None:
        self.context = context
        self.client = client
        self.recovery = recovery

    def submit(self, step: Step, *, confirmed_absent: bool = False) -> None:
        """Claim the row and send it, unless state or the account show it needs no payment:
        another build has it, an earlier reply was lost (look first), or the account has it.
        ``confirmed_absent``: a lookup found the lost submission absent, so it is sent again."""
        context, job = self.context, step.job
        if not confirmed_absent and self._failed_for_twin(step):
            return
        _, sent = job.submission()   # its title (marked) is what a lost reply is looked up by
        outcome, record = context.state.claim(job.hash, job.key, job.kind, title=sent.get("title"),
                                              output=job.output, force=self._forced(step),
                                              generation=job.generation)
        assert record is not None
        context.window.keep_record(step, record)
        if outcome != "claimed" and not confirmed_absent:
            context.follow_existing(step, outcome, record)
            return
        if record.lost_at and not confirmed_absent:
            # An earlier submission's reply was lost: its video may yet appear. Look first.
            context.window.take_slot(job.hash)
            context.reconcile_later(step)
            return
        if step.look_first and record.attempts == 1 and not record.forced and not confirmed_absent \
                and self.recovery.found_in_account(step, record):
            return
        if record.generation != job.generation and not self._switch_generation(step, record):
            return
        context.state.remember_key(job.key, key_entry(job.hash, job.body))
        context.state.remember_body(job.hash, job.body)   # for explain's old -> new values
        if confirmed_absent and not self._resending(step, record):
            return
        self.send(step, record, sent_at=record.lost_at[-1] if confirmed_absent else None)

    def _forced(self, step: Step) -> bool:
        """Whether the row's claim is a ``--force`` one: not once this build has claimed its body
        for a twin row (same body), which forcing both would pay for twice."""
        if step.action != "submit" or not step.reason.startswith("forced"):
            return False
        current = self.context.state.get(step.job.hash)
        return current is None or current.owner != self.context.state.owner

    def _failed_for_twin(self, step: Step) -> bool:
        """If a twin row's video of this body failed in this build, fail the row with the same
        verdict (True) rather than pay for the body again: the next build retries it."""
        context = self.context
        if step.job.hash not in context.failed_bodies:
            return False
        record = context.state.get(step.job.hash)
        if record is None or record.status != "failed" or record.owner != context.state.owner:
            return False   # claimed again since, by another build
        context.window.keep_record(step, record)
        context.fail(step, record, record.error or "failed", permanent=record.error_permanent)
        return True

    def _resending(self, step: Step, record: Record) -> bool:
        """Write the resend's time as a lost-reply attempt before it is sent: if this build is
        killed before the reply, the next one waits the grace from this send, not the first."""
        record.lost_at = [*record.lost_at, time.time()]
        return self.context.mark(step, record, "uncertain")

    def _switch_generation(self, step: Step, record: Record) -> bool:
        """A claim whose earlier send went through the other generation is sent again through this
        build's choice (only once found absent): written first, so a lost reply is looked up right."""
        record.generation = step.job.generation
        return self.context.mark(step, record, record.status)

    def send(self, step: Step, record: Record, *, sent_at: float | None = None) -> None:
        """Send the claimed ``record`` through its generation and follow what comes of it;
        ``sent_at`` is the send's time when it is already in ``record.lost_at``. Raises
        BuildStopped when going on can't help (bad key, quota, network gone, route not served)."""
        context, job = self.context, step.job
        sent_at = sent_at or time.time()
        try:
            video_id = create_video(self.client, job, record)
        except RequestInProgressError as exc:   # our own earlier send, same key, still in flight
            context.window.take_slot(job.hash)
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
                context.window.queue_first(step)
            raise BuildStopped(f"{exc} (--api chooses the other API generation)") from exc
        except (InvalidRequestError, NotFoundError) as exc:   # a 404 names something the body uses
            context.fail(step, record, str(exc), permanent=True)
            return
        except (TransportError, AuthError, QuotaError) as exc:
            if self._release(step, record, exc):  # certainly not sent: nothing was created
                context.window.queue_first(step)
            raise BuildStopped(str(exc)) from exc
        record.video_id, record.submitted_at, record.error, record.lost_at = video_id, time.time(), None, []
        if not context.mark(step, record, "submitted"):
            return
        context.reporter.submitted(step, video_id)
        context.deadlines.forget(job.hash)   # a new submission: its own time to render
        context.begin_polling(step, record, at_once=False)

    def _wait_in_flight(self, step: Step, exc: RequestInProgressError) -> None:
        """HeyGen is still creating the video of an earlier send under the same key: ask again
        once that may have finished (the replay then names the video)."""
        if self.context.retries.add(step.job.hash, Retry.IN_FLIGHT_WAIT) > Retry.IN_FLIGHT_WAIT.limit:
            raise BuildStopped(f"{step.key}: {exc}") from exc
        self.context.window.schedule(self.context.timing.poll_max, "resend", step)

    def _reply_lost(self, step: Step, record: Record, sent_at: float, exc: UncertainSubmitError) -> None:
        """The submission may have created a video: keep its time, look it up after a grace that
        doubles with each lost reply of the body (a lagging video list gets longer to catch up)."""
        context, timing = self.context, self.context.timing
        record.error = str(exc)
        if sent_at not in record.lost_at:   # a resend wrote its time before it was sent
            record.lost_at = [*record.lost_at, sent_at]
        if not context.mark(step, record, "uncertain"):
            return
        context.window.take_slot(step.job.hash)   # it may be rendering: it keeps its place in the window
        lost = context.retries.add(step.job.hash, Retry.LOST_REPLY)
        native = resendable(record, time.time()) and lost <= RESENDS_BEFORE_LOOKUP
        if native:   # the same Idempotency-Key can't make a second video
            context.window.schedule(min(timing.poll_max, timing.poll_min * 2 ** lost), "resend", step)
        else:
            context.window.schedule(context.grace_left(step), "reconcile", step)
        if lost > Retry.LOST_REPLY.limit:   # the API never answers: resending can't help today
            raise BuildStopped(f"{step.key}: {lost} submissions in a row got no reply: {exc}") from exc
        then = "resending under the same Idempotency-Key" if native else "will look it up before any resend"
        context.reporter.note(step, f"reply lost ({exc}); {then}")

    def _requeue_rate_limited(self, step: Step, exc: RateLimitError) -> None:
        # Too many videos rendering at once: shrink the window to what the account accepts. The
        # row itself renders nothing (a 429 creates nothing, and uses no Idempotency-Key).
        window, wait = self.context.window, exc.retry_after or self.context.timing.poll_min
        window.rate_limited(step.job.hash, wait)
        window.queue_first(step)
        self.context.reporter.note(step, f"rate limited; {window.size} in flight, resuming in {wait:.0f} s")

    def _release(self, step: Step, record: Record, exc: ApiError) -> bool:
        record.error = f"not sent: {exc}"
        return self.context.mark(step, record, "failed" if record.attempts > 1 else "claimed")
