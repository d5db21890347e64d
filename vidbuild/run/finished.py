"""What a finished video's read tells us, copied onto its record: signed URLs and when they expire,
its length, when HeyGen created and completed it, and its share page.

Facts from /work/shared/heygen-api.md: ``video_url`` and ``thumbnail_url`` are signed and expire
(7 days), the signed URL carrying its expiry as ``Expires=`` (Unix seconds) in its query
(``video_status.get``); ``created_at`` and ``completed_at`` are Unix seconds and ``video_page_url`` a
shareable page (VideoDetail, v3 reads only: the legacy status carries neither of the last two).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from vidbuild.heygen.client import VideoStatus
    from vidbuild.state.protocol import Record

SIGNED_URL_LIFETIME = 7 * 24 * 3600.0   # seconds; HeyGen's documented lifetime of a signed URL


def take_finished(record: Record, status: VideoStatus, read_at: float | None = None) -> None:
    """Copy a completed ``status`` (read at ``read_at``, Unix seconds; default now) onto ``record``.

    ``completed_at`` is when vidbuild read it finished (not HeyGen's ``completed_at``: the record's
    times are all vidbuild's clock, in the order the body went through them, as explain shows them);
    ``urls_expire_at`` comes from the video URL's ``Expires`` parameter, else from the read time
    plus ``SIGNED_URL_LIFETIME``.
    """
    read_at = time.time() if read_at is None else read_at
    record.video_url, record.thumbnail_url = status.video_url, status.thumbnail_url
    record.duration = status.duration
    record.created_at = status.created_at if status.created_at is not None else record.created_at
    record.completed_at = read_at
    record.video_page_url = getattr(status, "video_page_url", None) or record.video_page_url
    record.urls_expire_at = url_expiry(status.video_url) or read_at + SIGNED_URL_LIFETIME


def url_expiry(url: str | None) -> float | None:
    """The Unix time a signed URL's ``Expires`` query parameter names, or None if it has none
    (or one that is not a whole number of seconds)."""
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get("Expires")
    if not values or not values[0].isdigit():
        return None
    return float(values[0])
