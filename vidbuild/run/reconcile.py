"""Reconcile: find out whether a submission whose reply was lost created a video, and act on it.

Legacy creates take no idempotency key, so the only safe way back is to look in the account
(see recover.py): by the title marker through the v3 list, or by ``callback_id`` through the
legacy list and statuses, among the videos created since the claim. A v3 create's lost reply
is resent under the same Idempotency-Key within 24 h instead (see submit.py); past that,
it is looked up the same way. An agent request carries a ``callback_id`` only when the project
set a ``callback_url`` (HeyGen refuses one without the other); without it nothing ties a video
to the request, so none is ever adopted on a guess: the candidates are listed and the user
decides (``vidbuild adopt`` or ``--force``).

``Reconciler`` handles the rows whose claim waits on such a send (``reconcile`` and ``resend``
timers), and those that follow a record another process or a twin row moves on (``watch``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from vidbuild.errors import ApiError, AuthError, BuildStopped, QuotaError, RouteGoneError
from vidbuild.run.recover import AccountSearch, Candidate, Finding, Wanted
from vidbuild.run.retries import Retry
from vidbuild.run.submit import RESENDS_BEFORE_LOOKUP, resendable
from vidbuild.state.protocol import Record

if TYPE_CHECKING:
    from vidbuild.planner.decide import Step
    from vidbuild.run.context import RunContext
    from vidbuild.run.recover import Recovery
    from vidbuild.run.submit import Submitter

__all__ = ["CLOCK_MARGIN", "Candidate", "Finding", "Reconciler", "find_submission", "uncertain_message"]

# The server's clock and ours may differ; look a little further back than the claim.
CLOCK_MARGIN = 300.0
CANDIDATES_SHOWN = 5


def find_submission(search: AccountSearch, record: Record, known_ids: set[str], *,
                    agent_marked: bool = False) -> Finding:
    """Look for the video a lost submission of ``record`` may have created.

    ``agent_marked``: the agent request carried ``callback_id`` (its project set a
    ``callback_url``), so the status echoes it and a match is sound. Raises RouteGoneError when
    no generation's reads can be asked, and the client's errors.
    """
    # Every submission of this claim whose reply was lost, back to the first: any of them may have
    # created the video, and a video found for any of them is this body's.
    since = min([*record.lost_at, record.claimed_at or 0.0]) - CLOCK_MARGIN
    # A retried or forced job's earlier videos carry the same callback_id and marker: not this one.
    known = frozenset(known_ids | set(record.earlier_video_ids))
    return search.find(Wanted(record.hash, record.kind, record.title, known, since,
                              adopt_failed=True, callback_sent=record.kind != "agent" or agent_marked))


def uncertain_message(key: str, finding: Finding) -> str:
    """What to tell the user about a lost agent submission that may be one of ``candidates``."""
    shown = [_describe(candidate) for candidate in finding.candidates[:CANDIDATES_SHOWN]]
    more = len(finding.candidates) - len(shown)
    listed = "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
    return (f"a reply was lost and nothing ties an agent video to this request (no callback_url, "
            f"so no callback_id): {len(finding.candidates)} video(s) created since could be it: "
            f"{listed}. If one is this row's video: vidbuild adopt {key} VIDEO_ID; to make a new "
            f"one (paid again): vidbuild build --force {key}")


def _describe(candidate: Candidate) -> str:
    details = []
    if candidate.title:
        details.append(f"title {candidate.title!r}")
    if candidate.created_at is not None:
        moment = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(candidate.created_at))
        details.append(f"created {moment} UTC")
    return f"{candidate.video_id} ({', '.join(details)})" if details else candidate.video_id


class Reconciler:
    """Handles the ``reconcile``, ``resend`` and ``watch`` timers of rows whose claim is unsettled."""

    def __init__(self, context: RunContext, submitter: Submitter, recovery: Recovery) -> None:
        self.context = context
        self.submitter = submitter
        self.recovery = recovery

    def resend(self, step: Step) -> None:
        """Send a v3 create again under its Idempotency-Key: HeyGen replays the first reply."""
        record = self._own_unsent(step)
        if record is not None:
            self.submitter.send(step, record)

    def reconcile(self, step: Step) -> None:
        """Settle a claim whose send got no reply: resend under its key while that is safe, else
        look the video up and adopt it, send again if it is absent, or leave the row uncertain."""
        context = self.context
        record = self._own_unsent(step)
        if record is None:
            return
        same_route = resendable(record, time.time()) and record.generation == step.job.generation
        if same_route and context.retries.count(step.job.hash, Retry.LOST_REPLY) <= RESENDS_BEFORE_LOOKUP:
            self.submitter.send(step, record)   # a claim an earlier build left: its key settles it
            return
        try:
            finding = find_submission(self.recovery.search, record, context.known_video_ids(),
                                      agent_marked=step.job.callback_id is not None)
        except RouteGoneError as exc:
            raise BuildStopped(f"{step.key}: can't look for the lost submission: {exc}") from exc
        except ApiError as exc:
            if isinstance(exc, AuthError | QuotaError):
                raise
            context.transient(step, "reconcile", exc)
            return
        context.window.free_slot(step.job.hash)
        if finding.outcome == "found" and finding.video_id:
            record.lost_at = []
            self.recovery.adopt(step, record, finding, "found the lost submission")
        elif finding.outcome == "absent":
            context.reporter.note(step, "the lost submission never reached HeyGen; sending it now")
            if same_route:
                self.submitter.send(step, record)   # under the same key: safe even if the list lagged
            else:
                self.submitter.submit(step, confirmed_absent=True)
        else:   # stays uncertain: every build asks again until the user adopts or forces
            context.fail(step, record, uncertain_message(step.key, finding), permanent=False,
                         status="uncertain")

    def _own_unsent(self, step: Step) -> Record | None:
        """The row's claim from state, made this build's own, if it is still waiting on a send
        whose reply was lost; else None, the row following whatever state says instead."""
        context = self.context
        record = context.state.get(step.job.hash)
        if record is None or record.status not in ("claimed", "uncertain"):
            context.window.free_slot(step.job.hash)
            if record:
                context.follow_existing(step, "exists", record)
            else:
                context.window.queue(step)
            return None
        if record.owner != context.state.owner and not context.state.take_over(record):
            context.window.free_slot(step.job.hash)
            context.window.schedule(context.timing.poll_min, "watch", step)
            return None
        context.window.keep_record(step, record)
        return record

    def watch(self, step: Step) -> None:
        """Follow a record another process (or a twin row of this build) is moving on."""
        context = self.context
        record = context.state.get(step.job.hash)
        if record is None:
            context.window.queue(step)
        elif record.status in ("claimed", "uncertain"):
            if record.status == "uncertain" and record.owner == context.state.owner \
                    and not context.window.in_flight(step.job.hash) and not context.twin_reconciling(step):
                # A twin row of this build looked the lost reply up and could not tell: nor can this.
                context.fail(step, record, record.error or "its reply was lost", permanent=False,
                             status="uncertain")
            elif context.state.owner_alive(record.owner):
                delay = context.deadlines.within(step.job.hash, context.timing.poll_max)
                if delay is None:
                    context.give_up_waiting(step, "still being submitted by another vidbuild process")
                else:
                    context.window.schedule(delay, "watch", step)
            else:
                context.reconcile_later(step)
        elif record.status == "failed":
            # A twin row's failure (or another process's): its verdict on the body stands.
            context.fail(step, record, record.error or "failed in another process",
                         permanent=record.error_permanent)
        else:
            context.follow_existing(step, "exists", record)
