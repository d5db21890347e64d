"""State stage, transitions: what a record write tells of its body's life (see state/history.py),
read off the record before and after the write, for every store to append in its transaction."""

from __future__ import annotations

import time

from vidbuild.state.history import Transition
from vidbuild.state.protocol import Record


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
