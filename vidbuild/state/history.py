"""State stage, history: what happened to one body (content hash), as an append-only, bounded log.

Every store appends to a hash's log in the same transaction as the write that caused it, so the
log and the record cannot disagree. Most transitions are read off the change between the record
before and after a write (``transitions_between``): a claim, the send's reply (video_id), a reply
lost, completed, downloaded (path, checksum), failed (code and message), marked
permanent. The ones a record can't show are noted by the code that sees them: HeyGen's status while
rendering (pending, processing) by the poller, adopted, seeded from a manifest, taken over.
Times are Unix seconds (UTC).

A log keeps the last ``HISTORY_LIMIT`` transitions and counts the ones it dropped, so a row that
fails and is retried for years costs a bounded amount of state. Alongside it, each store keeps the
body last claimed for the hash (``remember_body``), written once, when the body is claimed: the
planner never reads either, only ``explain`` does. A body never holds the API key (it travels in
a request header), so neither does state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from vidbuild.state.protocol import Record

HISTORY_LIMIT = 100   # transitions kept per content hash; older ones are dropped and counted


@dataclass(frozen=True)
class Transition:
    """One step in a body's life: ``event`` (a word such as 'claimed'), when (``at``, Unix seconds)
    and ``detail`` (a video id, a path and checksum, an error: '' when there is nothing to add)."""

    at: float
    event: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "event": self.event, "detail": self.detail}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Transition:
        return cls(float(data["at"]), str(data["event"]), str(data.get("detail", "")))


@dataclass
class History:
    """A hash's log, oldest first; ``dropped``: how many older transitions the bound removed."""

    entries: list[Transition] = field(default_factory=list)
    dropped: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"entries": [entry.to_json() for entry in self.entries], "dropped": self.dropped}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> History:
        if not data:
            return cls()
        return cls([Transition.from_json(entry) for entry in data.get("entries", [])],
                    int(data.get("dropped", 0)))

    def appended(self, transitions: list[Transition]) -> History:
        """This log with ``transitions`` added at the end, cut to the bound."""
        return _bounded([*self.entries, *transitions], self.dropped)

    def merged(self, other: History) -> History:
        """Both logs as one (for an import): every distinct transition once, in time order."""
        entries = sorted(set(self.entries) | set(other.entries), key=lambda entry: entry.at)
        return _bounded(entries, max(self.dropped, other.dropped))


def _bounded(entries: list[Transition], dropped: int) -> History:
    extra = max(0, len(entries) - HISTORY_LIMIT)
    return History(entries[extra:], dropped + extra)


def transitions_between(current: Record | None, new: Record) -> list[Transition]:
    """What writing ``new`` over ``current`` (None: no record yet) tells of the body's life."""
    now = time.time()
    found: list[Transition] = []
    if new.status == "claimed" and (current is None or current.claimed_at != new.claimed_at):
        found.append(Transition(new.claimed_at or now, "forced" if new.forced else "claimed",
                                f"attempt {new.attempts}"))
    elif current is None or current.status != new.status:
        event = _status_event(new)
        if event is not None:
            found.append(Transition(now, *event))
    if new.error_permanent and not (current is not None and current.error_permanent):
        found.append(Transition(now, "marked permanent", "skipped until its body changes or --force"))
    return found


def _status_event(record: Record) -> tuple[str, str] | None:
    """The event and detail a record's new status means: none for 'claimed' (the caller's) and
    'rendering' (the poller notes HeyGen's own word for it, pending or processing, as it changes)."""
    if record.status == "submitted":
        return "submitted", f"video_id {record.video_id}" if record.video_id else ""
    if record.status == "uncertain":
        return "reply lost", "sent; looked up before any resend"
    if record.status == "completed":
        return "completed", f"video_id {record.video_id}" if record.video_id else ""
    if record.status == "downloaded":
        return "downloaded", f"{record.output} (sha256 {record.checksum})"
    if record.status == "failed":
        return "failed", record.error or ""
    return None
