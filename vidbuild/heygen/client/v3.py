"""HeyGen's v3 API as typed calls, beside the legacy ones: ``HeyGenClient(...).v3``.

Same session as the legacy calls (retries, error mapping, key scrubbing, route-gone
check), so every failure is one of ``vidbuild.errors`` as the table in the package
docstring says. What the next stages can rely on:

- ``create_video`` sends ``Idempotency-Key``: for 24 h, resending the same key never
  makes a second video. A lost reply raises UncertainSubmitError (resend with the same
  key to learn the video id); a twin still in flight raises RequestInProgressError (wait,
  then resend with the same key).
- ``statuses`` costs one request per 100 ids and answers for every id asked;
  ``not_found`` (``VideoStatus.not_found``) means v3 doesn't know the id, never that the
  video is lost: read it the legacy way.
- A 404 from ``video`` is NotFoundError when v3 is served and the id unknown there, and
  RouteGoneError when v3 itself isn't served; the same holds for the legacy reads.

Shapes and limits: /work/shared/heygen-routes.md (v3 sections) and heygen-cli gen/*.go.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final
from urllib.parse import quote

from vidbuild.errors import UncertainSubmitError
from vidbuild.heygen import routes
from vidbuild.heygen.client._http import Session
from vidbuild.heygen.client._replies import VideoStatus
from vidbuild.heygen.client._v3_replies import (
    V3_STATUSES,
    Account,
    AgentSession,
    CreatedVideo,
    DetailPage,
    VideoDetail,
    account,
    agent_session,
    bulk_statuses,
    created_video,
    detail_page,
    page_items,
    video_detail,
)

log = logging.getLogger("vidbuild.heygen.client")

_KEY: Final = re.compile(routes.IDEMPOTENCY_KEY_PATTERN)
RESEND_HINT: Final = "resending with the same Idempotency-Key within 24 h is safe"


class V3Api:
    """HeyGen's v3 endpoints; get one as ``HeyGenClient.v3`` (it shares that client's session)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._unknown_statuses: set[str] = set()

    # --- creating ---------------------------------------------------------------------------

    def create_video(self, body: Mapping[str, Any], *, idempotency_key: str) -> CreatedVideo:
        """POST /v3/videos (``type`` "avatar" or "studio") under ``idempotency_key``.

        The key is 1-255 of ``[A-Za-z0-9_:.-]`` (a sha256 hex digest fits), else
        ValueError before anything is sent. Within 24 h the same key replays the first
        reply, even for a slightly different body. Raises RequestInProgressError while
        a request with the same key is in flight, UncertainSubmitError when the reply was
        lost (both: resend later with the same key), InvalidRequestError for a body
        HeyGen refuses (400, including unknown avatar or voice).
        """
        if not _KEY.fullmatch(idempotency_key):
            raise ValueError("an Idempotency-Key is 1 to 255 characters of A-Z, a-z, 0-9, "
                             "'_', ':', '.' and '-'")
        path = routes.V3_VIDEOS_ROUTE
        try:
            data = self._session.call("POST", path, json=dict(body),
                                      headers={"Idempotency-Key": idempotency_key})
            return created_video(data, path)
        except UncertainSubmitError as error:
            raise UncertainSubmitError(f"{error.api_message}; {RESEND_HINT}", status=error.status,
                                       code=error.code, method="POST", path=path) from error

    def create_agent_video(self, body: Mapping[str, Any]) -> AgentSession:
        """POST /v3/video-agents: one video from a ``prompt``; no Idempotency-Key exists here.

        A lost reply raises UncertainSubmitError and must not be resent blindly.
        """
        path = routes.V3_AGENTS_ROUTE
        return agent_session(self._session.call("POST", path, json=dict(body)), path)

    # --- reading videos ---------------------------------------------------------------------

    def statuses(self, video_ids: Iterable[str]) -> dict[str, VideoStatus]:
        """Every id's status, in the order given (each id once), one request per 100 ids.

        ``status`` is queued, processing, completed, failed or not_found (anything else
        counts as running). ``error`` is set for failed ones; there are no URLs: read
        ``video`` for those. An id the reply leaves out counts as not_found. Ids must be
        non-empty and free of commas (ValueError).
        """
        wanted = list(dict.fromkeys(video_ids))
        if any(not video_id or "," in video_id for video_id in wanted):
            raise ValueError("video ids must be non-empty and contain no comma")
        found: dict[str, VideoStatus] = {}
        for chunk in _chunks(wanted, routes.V3_MAX_STATUS_IDS):
            for entry in self._status_entries(chunk):
                if entry.video_id in chunk:
                    found.setdefault(entry.video_id, entry)
        for entry in found.values():
            self._note_status(entry.status)
        return {video_id: found.get(video_id) or VideoStatus(video_id, "not_found")
                for video_id in wanted}

    def _status_entries(self, chunk: list[str]) -> Iterator[VideoStatus]:
        params: dict[str, str | int] = {"video_ids": ",".join(chunk)}
        yield from self._pages(routes.V3_STATUSES_ROUTE, params, bulk_statuses)

    def video(self, video_id: str) -> VideoDetail:
        """GET /v3/videos/{video_id}: status, fresh signed URLs, duration, page URL.

        NotFoundError: v3 doesn't know this id (a video made through v2 may still be
        readable the legacy way). RouteGoneError: v3 isn't served at this base URL.
        """
        if not video_id:
            raise ValueError("video_id must not be empty")
        path = routes.V3_VIDEO_ROUTE_PREFIX + quote(video_id, safe="")
        detail = video_detail(self._session.call("GET", path), path)
        self._note_status(detail.status)
        return detail

    def list_videos(self, *, limit: int = routes.V3_MAX_VIDEO_PAGE, token: str | None = None,
                    title: str | None = None, folder_id: str | None = None) -> DetailPage:
        """One page of GET /v3/videos, newest first; ``title`` keeps titles containing it."""
        if not 1 <= limit <= routes.V3_MAX_VIDEO_PAGE:
            raise ValueError(f"limit must be 1 to {routes.V3_MAX_VIDEO_PAGE}")
        params: dict[str, str | int] = {"limit": limit}
        for name, value in (("token", token), ("title", title), ("folder_id", folder_id)):
            if value:
                params[name] = value
        path = routes.V3_VIDEOS_ROUTE
        return detail_page(self._session.call("GET", path, params=params, envelope=True), path)

    def iter_videos(self, *, title: str | None = None, folder_id: str | None = None,
                    created_after: float | None = None) -> Iterator[VideoDetail]:
        """Every matching video, newest first, page after page (100 a request).

        Stops at the first video created before ``created_after`` (Unix seconds; allow
        for clock skew), or when a page repeats a token. Videos without a creation time
        are yielded.
        """
        token: str | None = None
        seen: set[str] = set()
        while True:
            page = self.list_videos(token=token, title=title, folder_id=folder_id)
            for video in page.videos:
                if created_after is not None and video.created_at is not None \
                        and video.created_at < created_after:
                    return
                yield video
            if not page.has_more or page.next_token is None or page.next_token in seen:
                return
            seen.add(page.next_token)
            token = page.next_token

    # --- catalogues and the account ---------------------------------------------------------

    def avatar_looks(self, *, avatar_type: str | None = None,
                     group_id: str | None = None) -> list[dict[str, Any]]:
        """Every look (all pages) as the API's dicts: ``id`` is the ``avatar_id`` to send.

        Also ``name``, ``avatar_type`` (studio_avatar, digital_twin, photo_avatar: a photo
        avatar's look gives a talking photo), ``group_id``, ``supported_api_engines``,
        ``default_voice_id``, ``gender``, preview URLs.
        """
        params: dict[str, str | int] = {"limit": routes.V3_MAX_LOOK_PAGE}
        for name, value in (("avatar_type", avatar_type), ("group_id", group_id)):
            if value:
                params[name] = value
        return list(self._pages(routes.V3_LOOKS_ROUTE, params, page_items))

    def voices(self, *, language: str | None = None,
               gender: str | None = None) -> list[dict[str, Any]]:
        """Every public voice (all pages) as the API's dicts, looked up by ``voice_id``.

        Also ``name``, ``language``, ``gender``, ``type``, ``support_pause``,
        ``support_locale``, ``preview_audio_url``.
        """
        params: dict[str, str | int] = {"limit": routes.V3_MAX_VOICE_PAGE}
        for name, value in (("language", language), ("gender", gender)):
            if value:
                params[name] = value
        return list(self._pages(routes.V3_VOICES_ROUTE, params, page_items))

    def me(self) -> Account:
        """GET /v3/users/me: the account and its remaining credits (1 credit = 1 minute)."""
        return account(self._session.call("GET", routes.V3_ME_ROUTE), routes.V3_ME_ROUTE)

    # --- helpers ----------------------------------------------------------------------------

    def _pages(self, path: str, params: dict[str, str | int],
               read: Callable[[Any, str], tuple[list[Any], str | None]]) -> Iterator[Any]:
        """Every item of a cursor-paged v3 read; a repeated token ends it (no endless loop)."""
        seen: set[str] = set()
        token: str | None = None
        while True:
            query = {**params, "token": token} if token else params
            items, token = read(self._session.call("GET", path, params=query, envelope=True), path)
            yield from items
            if token is None or token in seen:
                return
            seen.add(token)

    def _note_status(self, status: str) -> None:
        if status not in V3_STATUSES and status not in self._unknown_statuses:
            self._unknown_statuses.add(status)
            log.debug("unknown v3 video status %r, treated as still running", status)


def _chunks(ids: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]
