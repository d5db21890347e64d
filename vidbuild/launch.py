"""The ``vidbuild`` command's entry point: sets the process up for one short command, then runs the CLI."""

from __future__ import annotations

import gc

# A command keeps almost every object it makes until it exits (its modules' functions, classes and
# constants: ~100,000 of them), so Python's cycle collector, which runs at every 700 new objects
# by default and walks the older generations every tenth and hundredth run, spends ~30 ms of a
# command (a build of one edited row of 10,000 ran it 127 times) finding nothing to free. As mypy
# does for the same reason (mypy/build.py: gc.set_threshold(200 * 1000, 30, 30), "otherwise we can
# spend a large fraction of cpu in gc"), a command runs it every 100,000 new objects instead;
# cyclic garbage is still freed, later.
GC_THRESHOLDS = (100_000, 20, 20)


def main() -> int:
    """Run the command line (``vidbuild.cli.main``) with the collector's thresholds raised; returns
    its exit code."""
    gc.set_threshold(*GC_THRESHOLDS)
    from vidbuild.cli import main as run

    return run()
