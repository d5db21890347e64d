"""The row pass of a build of every row after a complete one (issue 14), in process: read, fingerprint,
take from the last rows, admit and settle every row of an unchanged 10,000-row campaign.

    python benchmarks/row_pass.py [--rows 10000] [--repeat 7]

The campaign is seeded as a complete build leaves it (see incremental.py), one row is edited and
built twice (the second build leaves last rows that match this code), then the pass that a build's
planning runs (``jobs`` into ``plan_steps``, settling into a RowIndex) is timed alone, each time
from a fresh LastBuild; it prints the least and the median in ms. Compare two versions of vidbuild
minutes apart on the same machine (a shared machine's speed drifts).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from campaign import write_campaign  # noqa: E402
from incremental import FASTEST, edit_row, seed_built  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    os.environ.update(FASTEST)
    os.environ.pop("HEYGEN_API_KEY", None)
    from vidbuild import commands
    from vidbuild.heygen.backend import BackendChoice
    from vidbuild.pipeline.openers import jobs, open_state, parsed, state_directory
    from vidbuild.planner.decide import plan_steps
    from vidbuild.planner.forcing import Forcing
    from vidbuild.planner.last_build import LastBuild
    from vidbuild.planner.row_index import RowIndex

    with tempfile.TemporaryDirectory() as workdir:
        project = write_campaign(Path(workdir) / "rows", args.rows)
        seed_built(project)
        for line, name in ((2, "Zed"), (3, "Yan")):
            edit_row(project, line, name)
            assert commands.build(str(project), stderr=io.StringIO()) == 0
        state = open_state(project, backend=BackendChoice.from_env())
        state_dir = state_directory(project, None, state)
        loaded = parsed(project, state_dir)
        times = []
        try:
            for _ in range(args.repeat):
                with RowIndex() as index:
                    index.last = LastBuild.load(state, loaded.root)
                    assert index.last is not None, "no last rows in force"
                    started = time.perf_counter()
                    steps = list(plan_steps(jobs(loaded, state_dir, None, (), state=state, building=True,
                                                 settle=index), state, loaded.root, Forcing(())))
                    times.append(time.perf_counter() - started)
                    assert not steps and index.settled_count == args.rows, (len(steps), index.settled_count)
        finally:
            state.close()
    print(f"row pass of {args.rows} unchanged rows: least {min(times) * 1000:.1f} ms, "
          f"median {statistics.median(times) * 1000:.1f} ms ({args.repeat} runs)")


if __name__ == "__main__":
    main()
