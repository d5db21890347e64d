"""Take rows from the plan's stream only when the window has room for them.

The steps come from a generator that expands each row as it is asked for, so the engine holds
the rows it is working on (about a window's worth) and never the 100,000 rows behind them. A
long run of rows that need nothing is taken in slices of ``TAKE_SECONDS``, so that the videos
already rendering are still polled on time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vidbuild.planner.decide import Step

TAKE_SECONDS = 0.05   # the longest the engine spends taking rows before it tends to its timers


class Intake:
    """A stream of steps, taken lazily; ``more`` says whether any are left."""

    def __init__(self, steps: Iterable[Step], clock: Callable[[], float]) -> None:
        self._steps = iter(steps)
        self._clock = clock
        self.more = True

    def take(self, room: Callable[[], bool]) -> Iterator[Step]:
        """The next steps, while ``room()`` holds and for at most ``TAKE_SECONDS``."""
        deadline = self._clock() + TAKE_SECONDS
        while self.more and room():
            step = next(self._steps, None)
            if step is None:
                self.more = False
                return
            yield step
            if self._clock() > deadline:
                return

    def rest(self) -> Iterator[Step]:
        """Every step not taken yet (the build stopped early: they are counted, not run)."""
        if self.more:
            yield from self._steps
            self.more = False
