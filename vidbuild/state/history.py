"""State stage, history: what happened to one body (content hash), as an append-only, bounded log.

Every store appends to a hash's log in the same transaction as the write that caused it, so the
log and the record cannot disagree. Most transitions are read off the change between the record
before and after a write (state/transitions.py): a claim, the send's reply (video_id), a reply
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

from dataclasses import dataclass, field
from typing import Any

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
