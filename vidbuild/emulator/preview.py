"""The media a finished video's URLs serve: a preview made from its body, or the shipped clip.

A preview (``preview_plan`` says what it shows, ``preview_render`` draws it) needs PyAV and
Pillow, the ``preview`` extra (``pip install 'vidbuild[preview]'``). Without them, or with the
``previews=off`` setting, the MP4 and the thumbnail are the shipped files, as before previews.
The GIF is always the shipped one.

Made lazily, on the first download of each file: the emulator's status is a function of the
clock, so no moment marks a render's completion, and a build fetches the MP4 alone, so a
thumbnail nobody asks for costs nothing. Each file is kept in the store once made, so every
later download (any process sharing the state directory) serves the same bytes without
encoding again; two first downloads racing both encode, and both serve the copy kept first.
"""

from __future__ import annotations

import functools
from typing import Final

from vidbuild.emulator import media
from vidbuild.emulator.preview_plan import plan_preview
from vidbuild.emulator.store import Video, VideoStore
from vidbuild.errors import SettingError

# The files a preview replaces; the rest stay the shipped ones.
PREVIEWED: Final = frozenset({"mp4", "jpg"})
INSTALL_HINT: Final = "pip install 'vidbuild[preview]'"


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
        if mode == "on":
            problem = encoder_problem()
            if problem:
                raise SettingError(f"emulator setting previews=on: {problem}")

    @property
    def enabled(self) -> bool:
        """Whether MP4s and thumbnails are previews (the extra is only imported on first use)."""
        return self._mode != "off" and encoder_problem() is None

    def file(self, video: Video, extension: str) -> bytes:
        """The bytes of ``video``'s ``extension`` file (a key of ``media.VIDEO_FILES``), unstamped."""
        if extension not in PREVIEWED or not self.enabled:
            return media.shipped(media.VIDEO_FILES[extension][0])
        kept = self._store.preview(video.video_id, extension)
        if kept is None:
            kept = self._store.keep_preview(video.video_id, extension, _render(video, extension))
        return kept


def _render(video: Video, extension: str) -> bytes:
    from vidbuild.emulator import preview_render

    plan = plan_preview(video)
    if extension == "mp4":
        return preview_render.render_mp4(plan)
    return preview_render.render_thumbnail(plan)
