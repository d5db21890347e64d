"""When to ask about each rendering video, learned from the videos that finish; when to stop asking.

A render is expected to take ``ratio * (overhead + per_second * video_seconds)`` (see
``backend.Timing``). The ratio starts from what earlier builds learned against the same API, or
from 1. Until one video has finished, a single *scout* is polled often (every ``poll_min``, or
every 25% of its age once that is longer) so the ratio is learned early without polling every
video; every other video is first
asked about just before it is expected to finish, then again in small, growing steps. This keeps
both the status requests per video and the delay from completion to download low.

A render that takes longer than ``--render-timeout`` is no longer waited for (``RenderDeadlines``):
its row is left unfinished, its state kept for the next build to resume.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from vidbuild.heygen.backend import Timing

EARLY = 0.9           # first poll at 90% of the expected render time
STEP = 0.04           # then every 4% of it, each step 30% longer than the last
GROWTH = 1.3
WEIGHT = 0.5          # how much one finished video moves the learned ratio
# The scout is polled every 25% of the time it has rendered so far: every poll of it is a request
# (bulk reads ask about the whole window at once, so the scout's pace sets the early cost).
SCOUT_STEP = 0.25


@dataclass
class _Video:
    model: float               # the timing model's render time for this video, seconds
    submitted_at: float        # wall clock
    last_unfinished: float | None = None
    polls: int = 0
    scout: bool = False
    sent_here: bool = True     # sent by this build: its first poll's window brackets its finish


class Pacer:
    """Decides poll delays per content hash; ``learned`` says whether ``ratio`` rests on data."""

    def __init__(self, timing: Timing, ratio: float | None = None) -> None:
        self.timing = timing
        self.ratio = ratio if ratio and ratio > 0 else 1.0
        self.learned = ratio is not None and ratio > 0
        self._videos: dict[str, _Video] = {}
        self._scout: str | None = None
        self._models = (0, 0.0)   # (videos started, sum of their model times): the typical one

    def expected(self, key: str) -> float:
        return float(self.ratio * self._videos[key].model)

    def first_due(self, key: str) -> float:
        """Wall-clock time of the first poll of a video that isn't the scout."""
        video = self._videos[key]
        return video.submitted_at + max(self.timing.poll_min, EARLY * self.expected(key))

    def start(self, key: str, video_seconds: float, submitted_at: float, now: float, *,
              sent_here: bool = True) -> float:
        """A video was submitted (or, not ``sent_here``, found rendering: sent by an earlier build
        or another process): seconds until its first poll."""
        model = self.timing.render_overhead + self.timing.render_per_second * video_seconds
        video = self._videos[key] = _Video(model=max(model, 1e-3), submitted_at=submitted_at,
                                           sent_here=sent_here)
        self._models = (self._models[0] + 1, self._models[1] + video.model)
        if not self.learned and self._scout is None:
            self._scout, video.scout = key, True
            return self.timing.poll_min
        return max(0.0, self.first_due(key) - now)

    def unfinished(self, key: str, now: float) -> float:
        """A poll found the video still rendering: seconds until the next poll."""
        video = self._videos[key]
        video.last_unfinished, video.polls = now, video.polls + 1
        if video.scout and not self.learned:
            # Nothing known yet: poll often enough that the first finish is seen within ~25%.
            delay = max(self.timing.poll_min, SCOUT_STEP * (now - video.submitted_at))
        else:
            # The growth stops counting where it is past any poll_max (1.3 ** 2,700 would overflow).
            delay = max(self.timing.poll_min, STEP * self.expected(key)) * GROWTH ** min(video.polls - 1, 200)
        return min(self.timing.poll_max, delay)

    def finished(self, key: str, now: float, *, completed: bool = True) -> bool:
        """A poll found the video done (``completed``) or failed; True when this taught the first
        ratio, so the videos waiting on the prior's guess should be rescheduled."""
        video = self._videos.get(key)
        if video is None:
            return False
        if not completed or (video.last_unfinished is None and not video.sent_here):
            # A failed render's time is no render time (a body can fail at once). A video found
            # done at once, sent long before (a build interrupted, resumed a day later), may have
            # finished any time since: taken as its render time, that day would make every later
            # first poll wait poll_max (and the next builds start from that pace).
            self.forget(key)
            return False
        # It finished between the last poll that saw it rendering and this one. If this was the
        # first poll, take the step before it as that window: the first poll comes a little early
        # by design, so a pace learned from upper bounds alone would only ever slow down.
        if video.last_unfinished is not None:
            since = video.last_unfinished
        else:
            since = max(video.submitted_at, now - STEP * self.expected(key))
        del self._videos[key]
        observed = max((since + now) / 2 - video.submitted_at, 1e-3)
        sample = observed / video.model
        first = not self.learned
        self.ratio = sample if first else (1 - WEIGHT) * self.ratio + WEIGHT * sample
        self.learned = True
        return first

    def outlook(self, now: float) -> tuple[tuple[float, ...], float]:
        """For progress estimates: the seconds each tracked video is still expected to render
        (0 once overdue) at wall-clock ``now``, and the expected render seconds of a typical
        video of this build (0 before any was started)."""
        left = tuple(max(0.0, video.submitted_at + self.ratio * video.model - now)
                     for video in self._videos.values())
        started, total = self._models
        return left, (self.ratio * total / started if started else 0.0)

    @property
    def tracked(self) -> set[str]:
        return set(self._videos)

    def waiting_first_poll(self) -> list[str]:
        return [key for key, video in self._videos.items() if video.polls == 0 and not video.scout]

    def forget(self, key: str) -> None:
        """Stop tracking the video; if it was the scout, the next video started scouts instead."""
        self._videos.pop(key, None)
        if key == self._scout:
            self._scout = None


class RenderDeadlines:
    """When this build stops waiting for each job's render: ``timeout`` seconds after it was sent.

    Deadlines are kept on ``clock`` (monotonic seconds); the times they count from are wall-clock
    times as state records them. A video an earlier build sent gets its time from now.
    """

    def __init__(self, timeout: float, clock: Callable[[], float]) -> None:
        self.timeout = timeout
        self._clock = clock
        self._started = time.time()
        self._deadlines: dict[str, float] = {}   # by hash, on clock

    def begin(self, job_hash: str, submitted_at: float) -> None:
        """The job is rendering since ``submitted_at`` (wall clock): fix its deadline if not yet fixed."""
        self.due(job_hash, submitted_at if submitted_at >= self._started else time.time())

    def due(self, job_hash: str, since: float | None = None) -> float:
        """The deadline on ``clock``: ``timeout`` after ``since`` (wall clock; default now), fixed
        the first time it is asked for."""
        if job_hash not in self._deadlines:
            left = (since if since is not None else time.time()) + self.timeout - time.time()
            self._deadlines[job_hash] = self._clock() + max(0.0, left)
        return self._deadlines[job_hash]

    def within(self, job_hash: str, delay: float) -> float | None:
        """``delay``, shortened to end at the deadline; None once the deadline has passed."""
        left = self.due(job_hash) - self._clock()
        return None if left <= 0 else min(delay, left)

    def forget(self, job_hash: str) -> None:
        """Drop the deadline: the job is finished with, or was sent anew (its own time to render)."""
        self._deadlines.pop(job_hash, None)
