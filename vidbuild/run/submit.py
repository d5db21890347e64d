"""Run stage, submitting: send a claimed row through the API generation its claim names.

A row planned for v3 is created with ``POST /v3/videos`` (or ``/v3/video-agents``), a legacy one
with ``POST /v2/video/generate`` (or ``/v1/video_agent/generate``); the body for each comes from
``Job.submission``. Every v3 video create carries an ``Idempotency-Key``: for 24 h HeyGen replays
the first reply to the same key, and answers 409 ``request_in_progress`` while a twin is in
flight (heygen-api.md, "POST /v3/videos"), so a lost reply is simply resent. ``/v3/video-agents``
takes no key (HeyGen's list of endpoints that honour it omits it): its lost replies are looked up
like legacy ones.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from vidbuild.errors import UncertainSubmitError
from vidbuild.heygen.routes import IDEMPOTENCY_WINDOW_SECONDS
from vidbuild.state.disk import Record

if TYPE_CHECKING:
    from vidbuild.heygen.client import HeyGenClient
    from vidbuild.spec.expand import Job

# A resend must reach HeyGen well inside the key's 24 h, whatever the clocks: past this age
# (from the claim, which is never later than the first send) a lost reply is looked up instead.
RESEND_WINDOW = IDEMPOTENCY_WINDOW_SECONDS - 3600.0


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


def send(client: HeyGenClient, job: Job, record: Record) -> str:
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
