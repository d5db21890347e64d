"""Typed values the client returns, read leniently from the API's reply ``data``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidbuild.errors import ApiError
from vidbuild.heygen import routes

log = logging.getLogger("vidbuild.heygen.client")


@dataclass(frozen=True)
class VideoFailure:
    """Why a render failed. ``code`` is the API's number as a string (e.g. "400144")."""

    code: str | None
    message: str
    detail: str | None


@dataclass(frozen=True)
class VideoStatus:
    """One answer of ``video_status.get``. Signed URLs expire: download promptly."""

    video_id: str
    status: str
    callback_id: str | None = None
    video_url: str | None = None
    thumbnail_url: str | None = None
    gif_url: str | None = None
    caption_url: str | None = None
    duration: float | None = None
    created_at: float | None = None  # Unix seconds
    error: VideoFailure | None = None

    @property
    def finished(self) -> bool:
        """Completed or failed; any other status, known or not, is still running."""
        return self.status in routes.FINISHED_STATUSES

    @property
    def not_found(self) -> bool:
        """v3 bulk statuses only: the server holds no such video. Never "lost": read it elsewhere."""
        return self.status == "not_found"


@dataclass(frozen=True)
class VideoSummary:
    """One entry of ``video.list``; it carries no ``callback_id`` (ask the status for that)."""

    video_id: str
    title: str | None
    status: str | None
    created_at: float | None  # Unix seconds


@dataclass(frozen=True)
class VideoPage:
    """One page of ``video.list``, newest first; ``token`` asks for the next one (None: last)."""

    videos: list[VideoSummary]
    token: str | None


@dataclass(frozen=True)
class AvatarCatalogue:
    """The account's avatars and talking photos, as the API's own dicts.

    Plain dicts, because the catalogue is cached as JSON and its fields vary between
    accounts; look ids up under ``avatar_id`` and ``talking_photo_id``.
    """

    avatars: list[dict[str, Any]]
    talking_photos: list[dict[str, Any]]


@dataclass(frozen=True)
class DownloadResult:
    """A file now complete at ``path``; ``sha256`` is the hex digest of its bytes."""

    path: Path
    size: int
    sha256: str


@dataclass(frozen=True)
class RemainingQuota:
    """What the account has left: ``seconds`` of video (HeyGen's MCP server shows seconds / 60
    as credits, 1 credit = 1 minute) and the API's ``details`` as given (``api``, ``seat`` …)."""

    seconds: float
    details: dict[str, Any]

    @property
    def credits(self) -> float:
        return self.seconds / 60


KNOWN_STATUSES = frozenset({"waiting", "pending", "processing", "completed", "failed"})


def video_status(data: Any, video_id: str, path: str) -> VideoStatus:
    if not isinstance(data, dict) or not isinstance(data.get("status"), str):
        raise ApiError("status reply carries no status", method="GET", path=path)
    return VideoStatus(
        video_id=_text(data.get("id")) or video_id,
        status=data["status"],
        callback_id=_text(data.get("callback_id")),
        video_url=_text(data.get("video_url")),
        thumbnail_url=_text(data.get("thumbnail_url")),
        gif_url=_text(data.get("gif_url")),
        caption_url=_text(data.get("caption_url")),
        duration=_number(data.get("duration")),
        created_at=_number(data.get("created_at")),
        error=_failure(data.get("error")),
    )


def video_page(data: Any, path: str) -> VideoPage:
    if not isinstance(data, dict) or not isinstance(data.get("videos", []), list):
        raise ApiError("list reply carries no video list", method="GET", path=path)
    videos = []
    for entry in data.get("videos") or []:
        video_id = _text(entry.get("video_id")) if isinstance(entry, dict) else None
        if video_id is None:
            log.debug("skipping a video.list entry without a video_id")
            continue
        videos.append(VideoSummary(video_id, _text(entry.get("video_title")),
                                   _text(entry.get("status")), _number(entry.get("created_at"))))
    return VideoPage(videos, _text(data.get("token")))


def remaining_quota(data: Any, path: str) -> RemainingQuota:
    seconds = _number(data.get("remaining_quota")) if isinstance(data, dict) else None
    if seconds is None:
        raise ApiError("quota reply carries no remaining_quota", method="GET", path=path)
    details = data.get("details")
    return RemainingQuota(seconds, dict(details) if isinstance(details, dict) else {})


def catalogue_list(data: Any, key: str) -> list[dict[str, Any]]:
    entries = data.get(key) if isinstance(data, dict) else None
    return [entry for entry in entries or [] if isinstance(entry, dict)]


def _failure(value: Any) -> VideoFailure | None:
    if not value:
        return None
    if not isinstance(value, dict):
        return VideoFailure(None, str(value), None)
    return VideoFailure(_text(value.get("code")), str(value.get("message") or "render failed"),
                        _text(value.get("detail")))


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None
