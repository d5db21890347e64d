"""Typed values the v3 client returns, read leniently from HeyGen's v3 replies.

Where a v3 reply means what a legacy one does, the legacy type is reused, so the engine
can treat both generations alike: a bulk status is a ``VideoStatus``, a VideoDetail a
``VideoStatus`` with more fields. Shapes from heygen-cli gen/video.go, video-agent.go and
user.go (HeyGen's published description); fields the client can't read become None.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Final

from vidbuild.errors import ApiError, UncertainSubmitError

# The legacy readers' lenient converters, shared so both generations read values alike.
from vidbuild.heygen.client._replies import VideoFailure, VideoStatus, _failure, _number, _text

log = logging.getLogger("vidbuild.heygen.client")

# Statuses a v3 read may report (bulk: queued; detail: pending); others are logged once.
V3_STATUSES: Final = frozenset({"queued", "pending", "waiting", "processing", "completed",
                                "failed", "not_found"})


@dataclass(frozen=True)
class CreatedVideo:
    """The reply to POST /v3/videos; a replay of an Idempotency-Key gives the first one again."""

    video_id: str
    status: str  # "waiting" when new
    output_format: str | None  # "mp4" or "webm"


@dataclass(frozen=True)
class AgentSession:
    """The reply to POST /v3/video-agents; ``video_id`` may still be None (poll the session)."""

    session_id: str
    status: str  # generating, thinking, completed, failed
    video_id: str | None
    created_at: float | None  # Unix seconds


@dataclass(frozen=True)
class VideoDetail(VideoStatus):
    """GET /v3/videos/{id} (and each item of GET /v3/videos): a VideoStatus and more.

    ``status`` is pending, processing, completed or failed; ``callback_id`` is always None
    (v3 reads never carry it); ``caption_url`` repeats ``subtitle_url`` (the SRT file);
    ``error`` holds ``failure_code`` and ``failure_message``. Signed URLs expire: read the
    detail again for fresh ones.
    """

    title: str | None = None
    completed_at: float | None = None  # Unix seconds
    captioned_video_url: str | None = None
    subtitle_url: str | None = None
    folder_id: str | None = None
    video_page_url: str | None = None  # a shareable page, not a file


@dataclass(frozen=True)
class DetailPage:
    """One page of GET /v3/videos, newest first; ``next_token`` asks for the next (None: last)."""

    videos: list[VideoDetail]
    next_token: str | None
    has_more: bool


@dataclass(frozen=True)
class Account:
    """GET /v3/users/me: who the key belongs to and what it can still spend.

    ``remaining_credits`` sums a subscription's premium and add-on credits, or is a
    usage-based plan's remaining credits, or a credits wallet's balance; None when the
    account counts in money (a USD wallet) or the reply doesn't say. ``billing`` is the
    reply's own object for the billing type, for anything else.
    """

    username: str | None
    email: str | None
    billing_type: str | None  # wallet, subscription or usage_based
    remaining_credits: float | None
    billing: dict[str, Any]


def created_video(data: Any, path: str) -> CreatedVideo:
    video_id = _text(data.get("video_id")) if isinstance(data, dict) else None
    if video_id is None:
        raise UncertainSubmitError("success reply carries no video_id; the video may exist",
                                   status=200, method="POST", path=path)
    return CreatedVideo(video_id, _text(data.get("status")) or "waiting",
                        _text(data.get("output_format")))


def agent_session(data: Any, path: str) -> AgentSession:
    session_id = _text(data.get("session_id")) if isinstance(data, dict) else None
    if session_id is None:
        raise UncertainSubmitError("success reply carries no session_id; the video may exist",
                                   status=200, method="POST", path=path)
    return AgentSession(session_id, _text(data.get("status")) or "generating",
                        _text(data.get("video_id")), _number(data.get("created_at")))


def video_detail(data: Any, path: str) -> VideoDetail:
    if not isinstance(data, dict) or _text(data.get("id")) is None \
            or not isinstance(data.get("status"), str):
        raise ApiError("video reply carries no id or status", method="GET", path=path)
    failure = None
    if data.get("failure_code") is not None or data.get("failure_message") is not None:
        failure = VideoFailure(_text(data.get("failure_code")),
                               str(data.get("failure_message") or "render failed"), None)
    return VideoDetail(
        video_id=str(data["id"]), status=data["status"], error=failure,
        video_url=_text(data.get("video_url")), thumbnail_url=_text(data.get("thumbnail_url")),
        gif_url=_text(data.get("gif_url")), caption_url=_text(data.get("subtitle_url")),
        duration=_number(data.get("duration")), created_at=_number(data.get("created_at")),
        title=_text(data.get("title")), completed_at=_number(data.get("completed_at")),
        captioned_video_url=_text(data.get("captioned_video_url")),
        subtitle_url=_text(data.get("subtitle_url")), folder_id=_text(data.get("folder_id")),
        video_page_url=_text(data.get("video_page_url")))


def detail_page(reply: Any, path: str) -> DetailPage:
    items = reply.get("data") if isinstance(reply, dict) else None
    if not isinstance(items, list):
        raise ApiError("list reply carries no list of videos", method="GET", path=path)
    videos = []
    for item in items:
        try:
            videos.append(video_detail(item, path))
        except ApiError:
            log.debug("skipping a %s item without an id or status", path)
    token = _text(reply.get("next_token"))
    return DetailPage(videos, token, bool(reply.get("has_more")) and token is not None)


def bulk_statuses(reply: Any, path: str) -> tuple[list[VideoStatus], str | None]:
    """The entries of one GET /v3/videos/statuses reply, and the next page's token if any."""
    items = reply.get("data") if isinstance(reply, dict) else None
    if not isinstance(items, list):
        raise ApiError("statuses reply carries no list", method="GET", path=path)
    entries = []
    for item in items:
        video_id = _text(item.get("video_id")) if isinstance(item, dict) else None
        status = item.get("status") if isinstance(item, dict) else None
        if video_id is None or not isinstance(status, str):
            continue
        entries.append(VideoStatus(video_id, status, error=_failure(item.get("error"))))
    more = bool(reply.get("has_more"))
    return entries, _text(reply.get("next_token")) if more else None


def page_items(reply: Any, path: str) -> tuple[list[dict[str, Any]], str | None]:
    """A catalogue page's items as the API's dicts, and the next page's token if any."""
    items = reply.get("data") if isinstance(reply, dict) else None
    if not isinstance(items, list):
        raise ApiError("list reply carries no list", method="GET", path=path)
    more = bool(reply.get("has_more"))
    return [item for item in items if isinstance(item, dict)], (
        _text(reply.get("next_token")) if more else None)


def account(data: Any, path: str) -> Account:
    if not isinstance(data, dict):
        raise ApiError("users/me reply carries no account", method="GET", path=path)
    billing_type = _text(data.get("billing_type"))
    billing = data.get(billing_type or "")
    billing = billing if isinstance(billing, dict) else {}
    return Account(_text(data.get("username")), _text(data.get("email")), billing_type,
                   _remaining_credits(billing_type, billing), billing)


def _remaining_credits(billing_type: str | None, billing: dict[str, Any]) -> float | None:
    if billing_type == "subscription":
        amounts = [_number(_get(billing, "credits", kind, "remaining"))
                   for kind in ("premium_credits", "add_on_credits")]
        known = [amount for amount in amounts if amount is not None]
        return sum(known) if known else None
    if billing_type == "usage_based":
        return _number(billing.get("remaining_credits"))
    if billing_type == "wallet" and billing.get("currency") == "credits":
        return _number(billing.get("remaining_balance"))
    return None


def _get(value: Any, *keys: str) -> Any:
    """``value[k1][k2]…``, or None where a step is missing or not an object."""
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value

