"""The emulated render: how long a video runs, how long it takes to render, and its status at any moment.

Status follows from wall-clock time alone (``created_at`` and ``finishes_at`` are stored),
so a video keeps progressing while no process is running and survives restarts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

# A typical voice speaks ~15 characters a second; HeyGen takes minutes per minute of video.
CHARS_PER_SECOND: Final = 15.0
RENDER_OVERHEAD_SECONDS: Final = 30.0
RENDER_SECONDS_PER_VIDEO_SECOND: Final = 4.0
# Audio files aren't fetched, so their length is a guess.
ASSUMED_AUDIO_SECONDS: Final = 5.0
# A failing render gives up part way through, as real ones do.
FAIL_AT_FRACTION: Final = 0.6

# (code, message, detail) of failures HeyGen documents for content and input; the render_refuse
# fault picks one. The same body fails the same way again (vidbuild marks them permanent).
CONTENT_FAILURES: Final = (
    (40039, "Invalid text input", "The input text could not be synthesised."),
    (400105, "Blocked words detected", "The script contains words that are not allowed."),
    (400168, "Inappropriate content", "The content was flagged by moderation."),
)
# A render that stops on a fault of the server's (the render_fail fault): a code outside the
# documented content and input ones, so submitting the body again may succeed.
SERVER_FAILURE: Final = (500, "Internal server error", "Rendering stopped on a server fault; try again.")


def drawn_failure(strikes: Callable[[str], bool],
                  pick: Callable[[tuple[Any, ...]], Any]) -> tuple[int, str, str] | None:
    """The failure the ``render_refuse`` and ``render_fail`` faults give a new video, if any."""
    if strikes("render_refuse"):
        failure: tuple[int, str, str] = pick(CONTENT_FAILURES)
        return failure
    return SERVER_FAILURE if strikes("render_fail") else None
TOO_LONG: Final = (40119, "Video is too long", "The video is longer than the plan allows.")

_BREAK: Final = re.compile(r'<break time="(\d+(?:\.\d+)?)(ms|s)"\s*/>')


@dataclass(frozen=True)
class RenderPlan:
    """What will happen to a submitted body: its output length, render time and any failure."""

    duration: float
    render_seconds: float
    error: dict[str, Any] | None


def plan_render(kind: str, body: dict[str, Any], *, speed: float, max_video_seconds: float,
                failure: tuple[int, str, str] | None) -> RenderPlan:
    """Plan the render of a valid body; ``failure`` is an injected render fault, if any."""
    return plan_for_duration(video_seconds(kind, body), speed=speed,
                             max_video_seconds=max_video_seconds, failure=failure)


def plan_for_duration(seconds: float, *, speed: float, max_video_seconds: float,
                      failure: tuple[int, str, str] | None) -> RenderPlan:
    """Plan the render of a video ``seconds`` long, whichever API generation described it."""
    duration = round(seconds, 3)
    if failure is None and duration > max_video_seconds:
        failure = TOO_LONG
    render_seconds = speed * (RENDER_OVERHEAD_SECONDS + RENDER_SECONDS_PER_VIDEO_SECOND * duration)
    if failure is None:
        return RenderPlan(duration, render_seconds, None)
    code, message, detail = failure
    error = {"code": code, "message": message, "detail": detail}
    return RenderPlan(duration, render_seconds * FAIL_AT_FRACTION, error)


def video_seconds(kind: str, body: dict[str, Any]) -> float:
    """The length of the video the body describes, in seconds."""
    if kind == "agent":
        # The deprecated config object still counts where the top-level field is left out.
        target = body.get("duration_sec") or (body.get("config") or {}).get("duration_sec")
        return float(target) if target else max(5.0, len(body["prompt"]) / CHARS_PER_SECOND)
    return max(1.0, sum(scene_seconds(scene["voice"]) for scene in body["video_inputs"]))


def scene_seconds(voice: dict[str, Any]) -> float:
    """How long a legacy scene with this ``voice`` runs, in seconds."""
    if voice["type"] == "silence":
        return float(voice.get("duration", 1.0))
    if voice["type"] == "audio":
        return ASSUMED_AUDIO_SECONDS
    return spoken_seconds(voice["input_text"], float(voice.get("speed", 1.0)))


def spoken_seconds(text: str, speed: float = 1.0) -> float:
    """How long a voice takes to say ``text``, ``<break time="…"/>`` pauses included."""
    pauses = sum(float(amount) / (1000.0 if unit == "ms" else 1.0)
                 for amount, unit in _BREAK.findall(text))
    return len(_BREAK.sub("", text)) / CHARS_PER_SECOND / speed + pauses


def without_pauses(text: str) -> str:
    """``text`` with each ``<break time="…"/>`` pause replaced by a space."""
    return _BREAK.sub(" ", text)


def status_at(created_at: float, finishes_at: float, failed: bool, now: float) -> str:
    """The status video_status.get reports at ``now``: waiting, pending, processing, then the end."""
    span = finishes_at - created_at
    progress = (now - created_at) / span if span > 0 else 1.0
    if progress >= 1.0:
        return "failed" if failed else "completed"
    if progress < 0.05:
        return "waiting"
    if progress < 0.15:
        return "pending"
    return "processing"
