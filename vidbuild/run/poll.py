"""Run stage, reading: what HeyGen says of rendering videos, through whichever API generation answers.

Every rendering video, whichever generation created it, is polled through v3: ``GET
/v3/videos/statuses`` answers for up to 100 videos in one request, so polling a whole window
costs one request rather than one per video. v3 is today's API (HeyGen retired the v1/v2 reads
from 2026-11-01, see /work/shared/heygen-api.md, "Lifecycle"). A finished video's signed URLs
come from one read of the generation that created it (``GET /v3/videos/{id}``, or the legacy
``video_status.get``: HeyGen doesn't say whether v3 reads videos made through
``/v2/video/generate``, and both cost one request). Where v3 doesn't know a video (``not_found``)
the legacy status is asked, and where a generation's routes are gone (``RouteGoneError``: the
route itself, not the video) the other one is. A generation found gone is remembered in state
(per API base URL, as state is), so later builds don't ask it first again; one that answers is
forgotten as gone. Nothing here takes a 404 for a lost video.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from vidbuild.errors import NotFoundError, RouteGoneError
from vidbuild.state.disk import State

if TYPE_CHECKING:
    from vidbuild.heygen.client import HeyGenClient, VideoStatus

ROUTES_GONE = "routes_gone"   # state meta: the generations whose read routes answered "gone"
UNKNOWN = "not_found"         # the status of a video no generation that answers knows


class Reader:
    """Reads video statuses and URLs; ``gone`` holds the generations whose reads are retired.

    Raises what the client raises (TransportError, RateLimitError, ApiError …), except that a
    RouteGoneError is raised only when both generations' reads are gone.
    """

    def __init__(self, client: HeyGenClient, state: State) -> None:
        self.client = client
        self.state = state
        remembered = state.get_meta(ROUTES_GONE)
        self.gone: set[str] = set(remembered) if isinstance(remembered, list) else set()
        self._legacy_only: set[str] = set()   # videos v3 said it doesn't know: ask legacy directly

    @property
    def v3_answers(self) -> bool:
        return "v3" not in self.gone

    @property
    def legacy_answers(self) -> bool:
        return "legacy" not in self.gone

    def statuses(self, videos: Mapping[str, str]) -> dict[str, VideoStatus]:
        """The status of each video (``not_found`` where no generation knows it), given as id →
        the generation that created it. One video is read like ``detail`` (one request either way,
        and a finished one comes with its URLs); several in bulk, without URLs (see ``detail``)."""
        if len(videos) == 1:
            (video_id, generation), = videos.items()
            return {video_id: self.detail(video_id, generation)}
        video_ids = list(videos)
        found: dict[str, VideoStatus] = {}
        via_v3 = [video_id for video_id in video_ids if video_id not in self._legacy_only]
        if via_v3 and self.v3_answers:
            try:
                found.update(self.client.v3.statuses(via_v3))
            except RouteGoneError:
                self.remember_gone("v3")
        for video_id in video_ids:
            answer = found.get(video_id)
            if answer is None or (answer.not_found and self.legacy_answers):
                found[video_id] = self._legacy_status(video_id, answer)
        return found

    def finished_details(self, video_ids: list[str]) -> dict[str, VideoStatus]:
        """Details, URLs included, of those of these finished videos that the newest page of ``GET
        /v3/videos`` holds: one request for several videos (a detail each costs one per video).
        Those it leaves out (older, or not listed yet) are for ``detail``."""
        if not self.v3_answers:
            return {}
        from vidbuild.heygen.routes import V3_MAX_VIDEO_PAGE

        try:
            page = self.client.v3.list_videos(limit=V3_MAX_VIDEO_PAGE)
        except RouteGoneError:
            self.remember_gone("v3")
            return {}
        wanted = set(video_ids)
        return {video.video_id: video for video in page.videos
                if video.video_id in wanted and video.status == "completed" and video.video_url}

    def detail(self, video_id: str, generation: str) -> VideoStatus:
        """The status with fresh signed URLs, from the generation that made the video first."""
        if generation == "legacy" and self.legacy_answers:
            status = self._legacy_status(video_id, None)
            if status.status != UNKNOWN:
                return status
        if video_id not in self._legacy_only and self.v3_answers:
            try:
                return self.client.v3.video(video_id)
            except RouteGoneError:
                self.remember_gone("v3")
            except NotFoundError:
                self._legacy_only.add(video_id)
        return self._legacy_status(video_id, None)

    def _legacy_status(self, video_id: str, v3_answer: VideoStatus | None) -> VideoStatus:
        """The legacy status (``not_found`` for a 404 on the video itself). A RouteGoneError is
        remembered, and raised only when v3 can't answer either; else v3's answer (or
        ``not_found``) stands."""
        from vidbuild.heygen.client import VideoStatus

        try:
            status = self.client.status(video_id)
        except RouteGoneError:
            self.remember_gone("legacy")
            if not self.v3_answers:
                raise
            return v3_answer or VideoStatus(video_id, UNKNOWN)
        except NotFoundError:
            return VideoStatus(video_id, UNKNOWN)
        if v3_answer is not None:
            self._legacy_only.add(video_id)
        self.forget_gone("legacy")
        return status

    def remember_gone(self, generation: str) -> None:
        """Note that ``generation``'s reads are retired here, for this build and the next ones."""
        if generation not in self.gone:
            self.gone.add(generation)
            self.state.set_meta(ROUTES_GONE, sorted(self.gone))

    def forget_gone(self, generation: str) -> None:
        """``generation`` answered again: ask it first again."""
        if generation in self.gone:
            self.gone.discard(generation)
            self.state.set_meta(ROUTES_GONE, sorted(self.gone))
