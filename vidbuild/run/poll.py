"""Poll rendering videos: read what HeyGen says of them (``Reader``) and act on it (``Poller``).

Reading goes through whichever API generation answers.

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

A poll of one video reads every other one rendering too (see ``Poller.poll``); a finished one is
downloaded at once, a failed one recorded, one still rendering polled again as the pacer says.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from vidbuild.errors import (
    ApiError,
    AuthError,
    BuildStopped,
    NotFoundError,
    QuotaError,
    RateLimitError,
    RouteGoneError,
    TransportError,
)
from vidbuild.heygen.failures import is_permanent_render_failure
from vidbuild.planner.decide import estimate_seconds
from vidbuild.run.finished import take_finished
from vidbuild.run.retries import Retry
from vidbuild.state.history import Transition
from vidbuild.state.protocol import State

if TYPE_CHECKING:
    from vidbuild.heygen.client import HeyGenClient, VideoStatus
    from vidbuild.planner.decide import Step
    from vidbuild.run.context import RunContext
    from vidbuild.run.download import Downloader
    from vidbuild.state.protocol import Record

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


class Poller:
    """Handles a row's ``poll`` timer: read the window's videos at once and move each on."""

    def __init__(self, context: RunContext, reader: Reader, downloader: Downloader) -> None:
        self.context = context
        self.reader = reader
        self.downloader = downloader
        self._seen: dict[str, str] = {}   # HeyGen's last status per hash, noted once per change

    def poll(self, step: Step) -> None:
        """Ask about this video and every other one rendering, in one read.

        The others ride along for free: one due soon (within ``poll_max``) counts as polled, one
        due later keeps its own timer unless the read found it finished. So a read of the window
        costs one request, and a video that finishes is seen at the next read of any video.
        """
        window, timing = self.context.window, self.context.timing
        waiting = window.waiting("poll")
        soon = [rider for left, rider in waiting if left <= timing.poll_max]
        later = [rider for left, rider in waiting if left > timing.poll_max]
        batch = [step, *soon, *later]
        video_ids = [self._video_id(member) for member in batch]
        try:
            statuses = self.reader.statuses({video_id: window.record(member).generation
                                             for video_id, member in zip(video_ids, batch, strict=True)})
        except RouteGoneError as exc:   # neither generation's reads are served: state kept (exit 3)
            raise BuildStopped(f"{step.key}: can't read video {video_ids[0]}: {exc}") from exc
        except (TransportError, RateLimitError, ApiError) as exc:
            if isinstance(exc, AuthError | QuotaError):
                raise
            self.context.transient(step, "poll", exc)   # the others keep their own timers
            return
        self._add_urls(statuses)
        found = {member.job.hash: statuses[self._video_id(member)] for member in batch}
        riders = [*soon, *(rider for rider in later if found[rider.job.hash].finished)]
        window.cancel("poll", riders)
        # The fired step goes last: if handling a rider stops the build, the rest keep a timer
        # (the fired one gets its own back from the engine), so every row is still counted.
        for index, rider in enumerate(riders):
            try:
                self._polled(rider, found[rider.job.hash])
            except BaseException:
                for rest in riders[index:]:
                    window.schedule(0.0, "poll", rest)
                raise
        self._polled(step, found[step.job.hash])

    def _add_urls(self, statuses: dict[str, VideoStatus]) -> None:
        """Several videos finished at once: their URLs from one list read instead of a detail each
        (a failure here only leaves each to its own detail read)."""
        done = [video_id for video_id, status in statuses.items()
                if status.status == "completed" and not status.video_url]
        if len(done) < 2:
            return
        try:
            statuses.update(self.reader.finished_details(done))
        except (AuthError, QuotaError):
            raise
        except (TransportError, RateLimitError, ApiError):
            pass

    def _video_id(self, step: Step) -> str:
        video_id = self.context.window.record(step).video_id
        assert video_id is not None
        return video_id

    def _polled(self, step: Step, status: VideoStatus) -> None:
        context = self.context
        record = context.window.record(step)
        if status.status == UNKNOWN:
            self._unknown_video(step, record)
            return
        if status.status == "completed" and not status.video_url:
            try:   # a bulk status carries no URLs: the detail does
                status = self.reader.detail(self._video_id(step), record.generation)
            except RouteGoneError as exc:
                raise BuildStopped(f"{step.key}: can't read video {record.video_id}: {exc}") from exc
            except (TransportError, RateLimitError, ApiError) as exc:
                if isinstance(exc, AuthError | QuotaError):
                    raise
                context.transient(step, "poll", exc)
                return
        context.retries.reset(step.job.hash, Retry.TRANSIENT, Retry.UNKNOWN_VIDEO)
        if status.finished:
            self._video_finished(step, completed=status.status == "completed")
        if status.status == "completed" and status.video_url:
            take_finished(record, status)
            if context.mark(step, record, "completed"):
                self.downloader.download(step)
        elif status.status == "failed":
            error = status.error
            text = f"{error.code} {error.message}".strip() if error else "render failed"
            context.fail(step, record, f"HeyGen failed the render: {text}",
                         permanent=is_permanent_render_failure(error.code if error else None))
        else:
            self._still_rendering(step, record, status.status)

    def _unknown_video(self, step: Step, record: Record) -> None:
        """Neither generation knows the video just now. Never taken for a lost video (that would
        pay again): asked again a few times, then the row is left unfinished, its state kept."""
        context = self.context
        unknown = context.retries.add(step.job.hash, Retry.UNKNOWN_VIDEO)
        if unknown <= Retry.UNKNOWN_VIDEO.limit:
            context.poll_again(step, min(context.timing.poll_max, context.timing.poll_min * 2 ** unknown),
                               f"HeyGen still doesn't know video {record.video_id}")
            return
        context.pacer.forget(step.job.hash)
        context.window.free_slot(step.job.hash)
        context.reporter.note(step, f"HeyGen doesn't know video {record.video_id} (deleted from the "
                                    f"account?); left unfinished: rebuild with --force {step.key} to pay "
                                    "for it again")
        context.window.count_unfinished(step)
        context.leave(step)

    def _still_rendering(self, step: Step, record: Record, status: str) -> None:
        context = self.context
        if record.status != "rendering" and not context.mark(step, record, "rendering"):
            return
        if self._seen.get(step.job.hash) != status:
            self._seen[step.job.hash] = status
            context.state.note(step.job.hash, Transition(time.time(), status, "as HeyGen reported it"))
        context.reporter.rendering(step, status)
        pacer = context.pacer
        if step.job.hash not in pacer.tracked:   # polled again for a fresh URL
            pacer.start(step.job.hash, estimate_seconds(step.job), time.time(), time.time())
        delay = context.deadlines.within(step.job.hash, pacer.unfinished(step.job.hash, time.time()))
        if delay is None:
            pacer.forget(step.job.hash)
            context.give_up_waiting(step, "still rendering")
        else:
            context.window.schedule(delay, "poll", step)

    def _video_finished(self, step: Step, *, completed: bool) -> None:
        """A render slot is free: widen a window a rate limit narrowed, and learn the render pace
        (from a ``completed`` render only)."""
        context = self.context
        context.window.render_finished(step.job.hash)
        if context.pacer.finished(step.job.hash, time.time(), completed=completed):
            self._replan_first_polls()

    def _replan_first_polls(self) -> None:
        """The first finished video taught the pace: move the others' first polls accordingly."""
        pacer = self.context.pacer
        waiting = set(pacer.waiting_first_poll())
        wall = time.time()
        self.context.window.retime("poll", lambda step: max(0.0, pacer.first_due(step.job.hash) - wall)
                                   if step.job.hash in waiting else None)
