"""Report stage: how long a build has run and how long it should still take, as short text.

The estimate rests on the engine's render pace (run/pacing.py, handed over in a ``Progress``):
the videos in flight finish when the pace expects them to, and the rows still to send fill the
render slots as those free up, each taking a typical render time.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vidbuild.run.outcome import Progress


def duration_text(seconds: float) -> str:
    """``seconds`` as ``45s``, ``2m10s`` or ``1h02m`` (rounded down to what is shown)."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def seconds_left(to_send: int, progress: Progress) -> float | None:
    """Seconds until the last of the videos in flight and ``to_send`` more have rendered, with
    ``progress.slots`` rendering at once; None when nothing renders or no render time is known."""
    if progress.rendering == 0 and to_send == 0:
        return None
    if to_send and progress.typical <= 0:
        return None
    slots = max(1, progress.slots)
    # When each render slot frees up: the videos in flight first, then free slots at once.
    free = sorted(progress.render_left)[:slots]
    free += [0.0] * (slots - len(free))
    heapq.heapify(free)
    for _ in range(to_send):
        heapq.heapreplace(free, free[0] + progress.typical)
    return max(free)


def eta_text(to_send: int, progress: Progress | None) -> str:
    """``ETA ~2m10s``, or "" when there is nothing to estimate from yet."""
    left = None if progress is None else seconds_left(to_send, progress)
    return "" if left is None else f"ETA ~{duration_text(left)}"
