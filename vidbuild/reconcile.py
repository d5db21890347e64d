"""Reconcile stage: find out whether a submission whose reply was lost created a video.

The API has no idempotency key, so the only safe way back is the one it allows: list the
account's videos created since the claim, and ask each candidate's status until one carries
the ``callback_id`` (our content hash) that was sent. An agent request carries a
``callback_id`` only when the project set a ``callback_url`` (HeyGen refuses one without the
other); without it nothing ties a video to the request, so none is ever adopted on a guess:
the candidates are listed and the user decides (``vidbuild adopt`` or ``--force``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from vidbuild.state import Record

if TYPE_CHECKING:
    from vidbuild.client import HeyGenClient

# The server's clock and ours may differ; look a little further back than the claim.
CLOCK_MARGIN = 300.0
CANDIDATES_SHOWN = 5


@dataclass(frozen=True)
class Candidate:
    """An unclaimed video without a callback_id, created in the window of a lost submission."""

    video_id: str
    title: str | None
    created_at: float | None   # Unix seconds


@dataclass(frozen=True)
class Finding:
    """'found': the video exists (video_id); 'absent': it was never created, sending is safe;
    'ambiguous': can't tell: ``candidates`` may be it, and nothing ties one to the request."""

    outcome: Literal["found", "absent", "ambiguous"]
    video_id: str | None = None
    candidates: tuple[Candidate, ...] = ()


def find_submission(client: HeyGenClient, record: Record, known_ids: set[str], *,
                    agent_marked: bool = False) -> Finding:
    """Look for the video a lost submission of ``record`` may have created.

    ``agent_marked``: the agent request carried ``callback_id`` (its project set a
    ``callback_url``), so the status echoes it and a match is sound.
    """
    # Every submission of this claim whose reply was lost, back to the first: any of them may have
    # created the video, and a video found for any of them is this body's.
    since = min([*record.lost_at, record.claimed_at or 0.0]) - CLOCK_MARGIN
    # A retried or forced job's earlier videos carry the same callback_id: they aren't this one.
    known = known_ids | set(record.earlier_video_ids)
    marker = record.hash if record.kind != "agent" or agent_marked else None
    unmarked: list[Candidate] = []
    for summary in client.iter_videos(created_after=since):
        if summary.video_id in known:
            continue
        if record.title and summary.title and summary.title != record.title:
            continue
        status = client.status(summary.video_id)
        if marker is not None and status.callback_id == marker:
            return Finding("found", summary.video_id)
        if not status.callback_id:
            unmarked.append(Candidate(summary.video_id, summary.title,
                                      summary.created_at or status.created_at))
    if marker is None and unmarked:
        return Finding("ambiguous", candidates=tuple(unmarked))
    return Finding("absent")


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
