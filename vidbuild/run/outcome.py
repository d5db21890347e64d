"""How a build ends (``Outcome``) and the hooks it calls on its way there (``Reporter``).

Both live here, below the engine and the reporters alike: the engine fills an Outcome and calls a
Reporter, ``report.progress`` implements Reporters that show them, and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from vidbuild.errors import EXIT_FAILED, EXIT_OK, EXIT_UNFINISHED

if TYPE_CHECKING:
    from vidbuild.planner.decide import Step, Summary
    from vidbuild.state.protocol import Record


@dataclass
class Outcome:
    """How a build ended: how many rows were built and up to date; the keys of the others."""

    done: int = 0
    cached: int = 0
    failed: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    stopped: str | None = None   # why the build stopped early (auth, quota, network)

    @property
    def exit_code(self) -> int:
        """The documented exit code: 3 if stopped or unfinished, else 1 if any row failed, else 0."""
        if self.stopped or self.unfinished:
            return EXIT_UNFINISHED
        return EXIT_FAILED if self.failed else EXIT_OK


class Reporter(Protocol):
    """What a build tells as it goes; implementations never raise into the engine."""

    def banner(self, text: str) -> None: ...
    def planned(self, summary: Summary) -> None: ...
    def submitted(self, step: Step, video_id: str) -> None: ...
    def rendering(self, step: Step, status: str) -> None: ...
    def done(self, step: Step, record: Record) -> None: ...
    def cached(self, step: Step) -> None: ...
    def failed(self, step: Step, message: str) -> None: ...
    def note(self, step: Step | None, message: str) -> None: ...
    def finished(self, outcome: Outcome) -> None: ...


@runtime_checkable
class CountsCached(Protocol):
    """A reporter that may hear of rows up to date as a count (no Step each), if it shows nothing
    per such row: a build then reports a run of rows settled past planning at once."""

    def cached_rows(self, count: int) -> bool:
        """Count ``count`` more rows up to date, if this reporter shows none of them on its own
        line: True; else False (nothing counted: each row's ``cached`` is wanted). A count of 0
        asks which, and counts nothing."""
        ...


@dataclass(frozen=True)
class Progress:
    """What the engine can say about the rows in flight between events (see ``Watcher.tick``).

    ``rendering``: videos being created or rendering; ``queued``: rows waiting for a render slot;
    ``slots``: videos in flight at most right now (``-j``, narrowed by a rate limit);
    ``render_left``: for each rendering video the pace model knows, the seconds it is still
    expected to take (0 once overdue); ``typical``: the seconds a video not yet sent is expected
    to take to render, from the same model (see run/pacing.py).
    """

    rendering: int = 0
    queued: int = 0
    slots: int = 1
    render_left: tuple[float, ...] = ()
    typical: float = 0.0


@runtime_checkable
class Watcher(Protocol):
    """Hooks a reporter may add to ``Reporter``'s: the engine calls them when present, so a
    reporter written against ``Reporter`` alone (a library user's) keeps working."""

    def tick(self, progress: Progress) -> None:
        """Called about every half second while the build waits or works (not after an event)."""

    def interrupted(self, rendering: int, exit_code: int) -> None:
        """Ctrl-C or SIGTERM stopped the build with ``rendering`` paid videos still rendering at
        HeyGen (a rerun collects them); the process exits ``exit_code`` (130 or 143)."""
