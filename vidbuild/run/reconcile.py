"""Reconcile stage: find out whether a submission whose reply was lost created a video.

Legacy creates take no idempotency key, so the only safe way back is to look in the account
(see recover.py): by the title marker through the v3 list, or by ``callback_id`` through the
legacy list and statuses, among the videos created since the claim. A v3 create's lost reply
is resent under the same Idempotency-Key within 24 h instead (see submitting.py); past that,
it is looked up the same way. An agent request carries a ``callback_id`` only when the project
set a ``callback_url`` (HeyGen refuses one without the other); without it nothing ties a video
to the request, so none is ever adopted on a guess: the candidates are listed and the user
decides (``vidbuild adopt`` or ``--force``).
"""

from __future__ import annotations

import time

from vidbuild.run.recover import AccountSearch, Candidate, Finding, Wanted
from vidbuild.state.disk import Record

__all__ = ["CLOCK_MARGIN", "Candidate", "Finding", "find_submission", "uncertain_message"]

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
