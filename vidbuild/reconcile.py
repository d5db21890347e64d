"""Reconcile stage: find out whether a submission whose reply was lost created a video.

The API has no idempotency key, so the only safe way back is the one it allows: list the
account's videos created since the claim, and ask each candidate's status until one carries
the ``callback_id`` (our content hash) that was sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from vidbuild.state import Record

if TYPE_CHECKING:
    from vidbuild.client import HeyGenClient

# The server's clock and ours may differ; look a little further back than the claim.
CLOCK_MARGIN = 300.0


@dataclass(frozen=True)
class Finding:
    """'found': the video exists (video_id); 'absent': it was never created, sending is safe;
    'ambiguous': can't tell (several candidates and no callback_id to tell them apart)."""

    outcome: Literal["found", "absent", "ambiguous"]
    video_id: str | None = None


def find_submission(client: HeyGenClient, record: Record, known_ids: set[str]) -> Finding:
    """Look for the video a lost submission of ``record`` may have created."""
    # Every submission of this claim whose reply was lost, back to the first: any of them may have
    # created the video, and a video found for any of them is this body's.
    since = min([*record.lost_at, record.claimed_at or 0.0]) - CLOCK_MARGIN
    # A retried or forced job's earlier videos carry the same callback_id: they aren't this one.
    known = known_ids | set(record.earlier_video_ids)
    unmarked: list[str] = []
    for summary in client.iter_videos(created_after=since):
        if summary.video_id in known:
            continue
        if record.title and summary.title and summary.title != record.title:
            continue
        status = client.status(summary.video_id)
        if status.callback_id == record.hash:
            return Finding("found", summary.video_id)
        if not status.callback_id:
            unmarked.append(summary.video_id)
    if record.kind == "agent" and unmarked:
        # Agent videos may not echo callback_id (unconfirmed); one unclaimed candidate is ours.
        return Finding("found", unmarked[0]) if len(unmarked) == 1 else Finding("ambiguous")
    return Finding("absent")
