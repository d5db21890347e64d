"""Find a body's video in the HeyGen account and adopt it as the row's, so it is never paid for twice.

Used in two places: reconcile (a submission's reply was lost: did it create a video?) and before
a first submission when state can't know (a new state, or the row's output file exists while
its body's hash is not in state: another machine or a deleted state built it). Two ways to tie a
video to its body, cheapest first:

- the title marker (``[vb:`` + 12 hex digits of the content hash, ``hashing.title_marker``) that
  every titled body carries unless ``title_marker: false``: ``GET /v3/videos?title=MARKER``
  finds it in one request (the v3 list filters by title substring; heygen-api.md, "GET
  /v2/videos" and "Reading videos in v3");
- ``callback_id`` (the content hash, sent with every legacy create): the legacy list carries no
  ``callback_id``, so each candidate's ``video_status.get`` is asked (heygen-api.md, "GET
  /v1/video.list"). For recovery the account's list is walked once per build and kept.

Agent requests carry no title, and a ``callback_id`` only beside a ``callback_url`` (HeyGen
refuses one without the other): without it nothing ties a video to the request, so none is ever
adopted on a guess. Reconcile lists the candidates for the user to decide; recovery can't find
such agent videos at all.

``AccountSearch`` looks; ``Recovery`` records what it found as the row's video and moves the row
on (download or poll), as the engine's handler for the look before a first payment.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from vidbuild.errors import ApiError, AuthError, BuildStopped, QuotaError, RouteGoneError, TransportError
from vidbuild.run.finished import take_finished
from vidbuild.run.poll import Reader
from vidbuild.spec.hashing import TITLE_MARKER_DIGITS, find_title_marker, title_marker

if TYPE_CHECKING:
    from vidbuild.heygen.client import VideoStatus, VideoSummary
    from vidbuild.planner.decide import Step
    from vidbuild.run.context import RunContext
    from vidbuild.state.protocol import Record


@dataclass(frozen=True)
class Candidate:
    """An unclaimed video without a callback_id, created in the window of a lost submission."""

    video_id: str
    title: str | None
    created_at: float | None   # Unix seconds


@dataclass(frozen=True)
class Finding:
    """'found': the body's video exists (``video_id``, and what the lookup read of it in
    ``status``); 'absent': none was found, sending is safe;
    'ambiguous': can't tell: ``candidates`` may be it, and nothing ties one to the request."""

    outcome: Literal["found", "absent", "ambiguous"]
    video_id: str | None = None
    status: VideoStatus | None = None
    candidates: tuple[Candidate, ...] = ()


@dataclass(frozen=True)
class Wanted:
    """What is looked for: a content hash, the title it was sent with (marked or not), its job
    kind; videos created before ``since`` (Unix seconds) or named in ``exclude`` are not it.
    ``adopt_failed``: a failed render counts (reconcile: it was this submission) or not
    (recovery: a fresh one is wanted). ``callback_sent``: the request carried ``callback_id``
    (an agent request only beside a ``callback_url``), so a status echoing it is a sound match."""

    content_hash: str
    kind: str
    title: str | None
    exclude: frozenset[str] = frozenset()
    since: float | None = None
    adopt_failed: bool = False
    callback_sent: bool = True

    @property
    def marked(self) -> bool:
        """Whether the title carries this hash's marker (``title_marker`` was on when sent)."""
        return find_title_marker(self.title) == self.content_hash[:TITLE_MARKER_DIGITS]


class AccountSearch:
    """Looks for bodies' videos; one per build (it keeps the legacy list walked for recovery)."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.client = reader.client
        self._listing: list[VideoSummary] | None = None

    def find(self, wanted: Wanted) -> Finding:
        """By marker through v3 when the title carries one, else by ``callback_id`` through legacy.

        Raises RouteGoneError when neither way can be asked (then nothing can be known), and the
        client's errors otherwise.
        """
        if wanted.marked and self.reader.v3_answers:
            try:
                return self._by_marker(wanted)
            except RouteGoneError:
                self.reader.remember_gone("v3")
        try:
            return self._by_callback(wanted)
        except RouteGoneError:
            self.reader.remember_gone("legacy")
            raise

    def _by_marker(self, wanted: Wanted) -> Finding:
        digits = wanted.content_hash[:TITLE_MARKER_DIGITS]
        candidates = [video for video in self.client.v3.iter_videos(
            title=title_marker(wanted.content_hash), created_after=wanted.since)
            if video.video_id not in wanted.exclude and find_title_marker(video.title) == digits]
        chosen = _best(candidates, wanted.adopt_failed)
        if chosen is None:
            return Finding("absent")
        return Finding("found", chosen.video_id, chosen)

    def _by_callback(self, wanted: Wanted) -> Finding:
        marker = wanted.content_hash if wanted.kind != "agent" or wanted.callback_sent else None
        unmarked: list[Candidate] = []
        matches: list[VideoStatus] = []
        for summary in self._summaries(wanted.since):
            if summary.video_id in wanted.exclude:
                continue
            if wanted.title and summary.title and summary.title != wanted.title:
                continue
            status = self.client.status(summary.video_id)
            if marker is not None and status.callback_id == marker:
                matches.append(status)
            elif not status.callback_id:
                unmarked.append(Candidate(summary.video_id, summary.title,
                                          summary.created_at or status.created_at))
        chosen = _best(matches, wanted.adopt_failed)
        if chosen is not None:
            return Finding("found", chosen.video_id, chosen)
        if marker is None and wanted.since is not None and unmarked:
            return Finding("ambiguous", candidates=tuple(unmarked))
        return Finding("absent")

    def _summaries(self, since: float | None) -> Iterable[VideoSummary]:
        """The account's videos since ``since``; the whole list (walked once per build) if None."""
        if since is not None:
            return self.client.iter_videos(created_after=since)
        if self._listing is None:
            self._listing = list(self.client.iter_videos())
        return self._listing


def _best(candidates: Sequence[VideoStatus], adopt_failed: bool) -> VideoStatus | None:
    """Newest first: a completed video, else one still rendering, else (if allowed) a failed one."""
    def first(statuses: Iterator[VideoStatus]) -> VideoStatus | None:
        return next(statuses, None)

    return (first(c for c in candidates if c.status == "completed")
            or first(c for c in candidates if c.status != "failed")
            or (first(iter(candidates)) if adopt_failed else None))


class Recovery:
    """Looks in the account before paying where state can't vouch, and adopts what is found."""

    def __init__(self, context: RunContext, search: AccountSearch) -> None:
        self.context = context
        self.search = search

    def found_in_account(self, step: Step, record: Record) -> bool:
        """Before a first payment that state can't vouch for: look for the body's video in the
        account; True if found (and adopted), or if the row waits for a lookup to be possible.
        Raises BuildStopped on a bad key or no quota (the row queued again first)."""
        wanted = Wanted(record.hash, record.kind, record.title, frozenset(self.context.known_video_ids()),
                        callback_sent=step.job.callback_id is not None)
        try:
            finding = self.search.find(wanted)
        except RouteGoneError:
            return False   # neither generation can be asked: sending is all that is left
        except (AuthError, QuotaError) as exc:
            self.context.window.queue_first(step)
            raise BuildStopped(str(exc)) from exc
        except (TransportError, ApiError) as exc:
            self.context.transient(step, "requeue", exc)
            return True
        if finding.outcome != "found" or not finding.video_id:
            return False
        self.adopt(step, record, finding, "found in the account (built before)")
        return True

    def adopt(self, step: Step, record: Record, finding: Finding, what: str) -> None:
        """Record a video found in the account as the row's, then download or poll it."""
        context = self.context
        record.video_id, record.submitted_at, record.error = finding.video_id, time.time(), None
        status = finding.status
        if status is not None and status.status == "completed" and status.video_url:
            take_finished(record, status)
            if context.mark(step, record, "completed"):
                context.reporter.note(step, f"{what}: {finding.video_id}; not paying again")
                context.window.schedule(0.0, "download", step)
            return
        if context.mark(step, record, "submitted"):
            context.reporter.note(step, f"{what}: {finding.video_id}; not paying again")
            context.begin_polling(step, record, at_once=True)
