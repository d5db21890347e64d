"""The media a finished video's URLs serve: a preview made from its body, or the shipped clip.

A preview (``preview_plan`` says what it shows, ``preview_render`` draws it) needs PyAV and
Pillow, the ``preview`` extra (``pip install 'vidbuild[preview]'``). Without them, or with the
``previews=off`` setting, the MP4 and the thumbnail are the shipped files, as before previews.
The GIF is always the shipped one.

The MP4 is started when the video is created (the emulator's status is a function of the clock,
so no moment marks a render's completion), on a worker, and waited for on its first download;
the thumbnail is made on its first download, as a build fetches the MP4 alone, so a thumbnail
nobody asks for costs nothing. Each file is kept in the store once made, so every
later download (any process sharing the state directory) serves the same bytes without
encoding again; two first downloads racing both encode, and both serve the copy kept first.

Previews are drawn on a few worker threads shared by the process, not on the server's thread
per request: each worker keeps its encoders and fonts warm, and no more previews are drawn at
once than there are cores. Identical requests to one emulator (the same ``PreviewPlan``) share
the last few previews it made. A preview that fails (or takes over ``RENDER_TIMEOUT`` seconds)
is logged on the ``vidbuild.emulator`` logger and the shipped file is kept in its place, so its
downloads still get the same bytes every time.
"""

from __future__ import annotations

import collections
import concurrent.futures
import functools
import logging
import os
import threading
from typing import Final

from vidbuild.emulator import media
from vidbuild.emulator.preview_plan import PreviewPlan, plan_preview
from vidbuild.emulator.store import Video, VideoStore
from vidbuild.errors import SettingError

# The files a preview replaces; the rest stay the shipped ones.
PREVIEWED: Final = frozenset({"mp4", "jpg"})
INSTALL_HINT: Final = "pip install 'vidbuild[preview]'"
RENDER_TIMEOUT: Final = 60.0   # seconds; a preview takes milliseconds
WORKERS: Final = max(1, min(4, os.cpu_count() or 1))
SHARED_PREVIEWS: Final = 64    # previews of identical plans kept in memory

log = logging.getLogger("vidbuild.emulator")


@functools.cache
def encoder_problem() -> str | None:
    """Why previews can't be made here (the ``preview`` extra missing or lacking H.264), or None."""
    try:
        from vidbuild.emulator import preview_render
    except ImportError as exc:
        return f"PyAV and Pillow are needed for previews ({exc}); install them with {INSTALL_HINT}"
    return preview_render.encoder_problem()


class Previews:
    """Serves a finished video's media files, making and keeping previews where they are on.

    ``mode`` is the emulator's ``previews`` setting: "auto" (previews when the extra is installed),
    "on" (previews, or SettingError now if the extra is missing) or "off" (the shipped files).
    """

    def __init__(self, mode: str, store: VideoStore) -> None:
        self._mode = mode
        self._store = store
        self._shared: collections.OrderedDict[tuple[PreviewPlan, str],
                                              concurrent.futures.Future[bytes]] = collections.OrderedDict()
        self._jobs: dict[tuple[str, str], concurrent.futures.Future[bytes]] = {}
        self._lock = threading.Lock()
        if mode == "on":
            problem = encoder_problem()
            if problem:
                raise SettingError(f"emulator setting previews=on: {problem}")

    @property
    def enabled(self) -> bool:
        """Whether MP4s and thumbnails are previews (the extra is only imported on first use)."""
        return self._mode != "off" and encoder_problem() is None

    def created(self, video: Video) -> None:
        """Start making the MP4 of a video just created, on a worker: it is ready, or nearly, by
        the time the render finishes and a client downloads it (HeyGen's files, too, exist once
        a render completes). A video that will fail has no files. Whether previews can be made
        (the first check imports PyAV and Pillow, ~0.1 s) is asked on the worker too, while the
        client waits for the render, not in the request that creates the video."""
        if video.error is None and self._mode != "off":
            self._job(video, "mp4")

    def file(self, video: Video, extension: str) -> bytes:
        """The bytes of ``video``'s ``extension`` file (a key of ``media.VIDEO_FILES``), unstamped."""
        if extension not in PREVIEWED or not self.enabled:
            return media.shipped(media.VIDEO_FILES[extension][0])
        kept = self._store.preview(video.video_id, extension)
        if kept is not None:
            return kept
        try:
            return self._job(video, extension).result(timeout=RENDER_TIMEOUT)
        except concurrent.futures.TimeoutError:
            log.warning("emulator: the preview %s.%s took over %g s; serving the shipped file "
                        "instead", video.video_id, extension, RENDER_TIMEOUT)
            return self._store.keep_preview(video.video_id, extension,
                                            media.shipped(media.VIDEO_FILES[extension][0]))

    def close(self) -> None:
        """Drop the previews not started yet (the store they'd be kept in is closing)."""
        with self._lock:
            for job in self._jobs.values():
                job.cancel()

    def _job(self, video: Video, extension: str) -> concurrent.futures.Future[bytes]:
        """The worker's job making and keeping the file, started now unless under way."""
        with self._lock:
            job = self._jobs.get((video.video_id, extension))
            if job is None:
                job = _workers().submit(self._keep, video, extension)
                self._jobs[(video.video_id, extension)] = job
        return job

    def _keep(self, video: Video, extension: str) -> bytes:
        """On a worker: the file kept in the store, made first unless another process has (the
        shipped file, not kept, where previews can't be made)."""
        try:
            if not self.enabled:
                return media.shipped(media.VIDEO_FILES[extension][0])
            kept = self._store.preview(video.video_id, extension)
            if kept is None:
                kept = self._store.keep_preview(video.video_id, extension,
                                                self._made(video, extension))
            return kept
        finally:
            with self._lock:
                self._jobs.pop((video.video_id, extension), None)

    def _made(self, video: Video, extension: str) -> bytes:
        """The preview file, or an identical request's (made or being made); the shipped file
        if drawing fails."""
        try:
            key = (plan_preview(video), extension)
            with self._lock:
                shared = self._shared.get(key)
                if shared is None:
                    mine = self._shared[key] = concurrent.futures.Future()
                    if len(self._shared) > SHARED_PREVIEWS:
                        self._shared.popitem(last=False)
            if shared is not None:
                return shared.result(timeout=RENDER_TIMEOUT)
            try:
                mine.set_result(_render(*key))
            except Exception as exc:
                mine.set_exception(exc)
                with self._lock:
                    self._shared.pop(key, None)
            return mine.result()
        except Exception as exc:   # any failure in PyAV, Pillow or our drawing: previews are a nicety
            log.warning("emulator: could not make the preview %s.%s (%s: %s); serving the shipped "
                        "file instead", video.video_id, extension, type(exc).__name__, exc)
            return media.shipped(media.VIDEO_FILES[extension][0])


@functools.cache
def _workers() -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(WORKERS, thread_name_prefix="vidbuild-preview")


def _render(plan: PreviewPlan, extension: str) -> bytes:
    from vidbuild.emulator import preview_render

    if extension == "mp4":
        return preview_render.render_mp4(plan)
    return preview_render.render_thumbnail(plan)
