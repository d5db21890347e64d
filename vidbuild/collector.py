"""The cycle collector's pace for one command: rare while it starts up and plans, usual once it sends.

A command keeps almost every object it makes while it starts and plans until it exits: its modules'
functions, classes and constants (~100,000 objects), the project, the index of its rows. Python's
cycle collector runs at every 700 new objects by default and walks the older generations every
tenth and hundredth run, so it spent ~30 ms of a build of one edited row of 10,000 rows (127 runs)
finding nothing to free. As mypy does for the same reason (mypy/build.py:
``gc.set_threshold(200 * 1000, 30, 30)``, "otherwise we can spend a large fraction of cpu in gc"),
the command line raises the thresholds first (``for_start``). Once a build starts sending, its
objects are short-lived (requests, replies, downloads) and some hold large buffers, so the objects
made so far are set aside, never to be walked again (``gc.freeze``), and the collector returns to
its usual pace (``for_sending``): a cold build of 1,000 videos peaked 50 MB higher without that.
Neither function does anything in a process that did not go through the command line (a library
user's collector is theirs).
"""

from __future__ import annotations

import gc
from typing import Final

START_THRESHOLDS: Final = (100_000, 20, 20)

_usual: list[tuple[int, int, int]] = []   # the thresholds for_start replaced, until for_sending


def for_start() -> None:
    """Raise the collector's thresholds for a command's start-up and planning."""
    if not _usual:
        _usual.append(gc.get_threshold())
    gc.set_threshold(*START_THRESHOLDS)


def for_sending() -> None:
    """Set aside every object made so far (``gc.freeze``) and restore the thresholds ``for_start``
    replaced; nothing if it did not run."""
    if _usual:
        gc.freeze()
        gc.set_threshold(*_usual.pop())
