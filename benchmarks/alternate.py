"""Two versions of vidbuild, one edited row each, built in turn: an A/B of the build after a complete
one that a drifting machine can't bias (issue 14).

    python benchmarks/alternate.py OLD_TREE NEW_TREE [--rows 10000] [--builds 8] [--fastest]

OLD_TREE and NEW_TREE are checkouts (say ``git worktree add /tmp/old 09a7cc8``); each builds its own
copy of the synthetic campaign (benchmarks/campaign.py), seeded as a complete build leaves it
(benchmarks/incremental.py), with ``PYTHONPATH`` pointing at its tree. Each copy is edited and built
twice to warm up (the first build after the seed has no last rows yet); then the two alternate,
``--builds`` times each, a different row edited every time, and the mean and least wall time of each
are printed. The built-in emulator runs at its default pace, or with ``--fastest`` at
benchmarks/incremental.py's FASTEST settings.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from campaign import write_campaign  # noqa: E402
from incremental import FASTEST, edit_row  # noqa: E402


def build(tree: Path, project: Path, environ: dict[str, str]) -> float:
    """Wall seconds of one ``vidbuild build`` of ``project`` by the vidbuild in ``tree``."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vidbuild", "build", ".", "-s"], cwd=project, check=True,
                   env={**environ, "PYTHONPATH": str(tree)}, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def seed(tree: Path, project: Path, environ: dict[str, str]) -> None:
    code = f"import sys; sys.path.insert(0, {str(HERE)!r}); from incremental import seed_built; " \
           f"from pathlib import Path; seed_built(Path({str(project)!r}))"
    subprocess.run([sys.executable, "-c", code], check=True, env={**environ, "PYTHONPATH": str(tree)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs=2, type=Path, help="the two source trees, old then new")
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--builds", type=int, default=8)
    parser.add_argument("--fastest", action="store_true", help="instant renders (FASTEST)")
    args = parser.parse_args()
    environ = {name: value for name, value in os.environ.items()
               if not name.startswith(("HEYGEN_", "VIDBUILD_"))}
    environ["PYTHONDONTWRITEBYTECODE"] = "1"
    if args.fastest:
        environ.update(FASTEST)
    times: dict[Path, list[float]] = {tree: [] for tree in args.trees}
    with tempfile.TemporaryDirectory() as workdir:
        projects = {tree: write_campaign(Path(workdir) / f"campaign-{at}", args.rows)
                    for at, tree in enumerate(args.trees)}
        for tree, project in projects.items():
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "vidbuild")], check=True)
            seed(tree, project, environ)
            for line in (2, 3):
                edit_row(project, line, "Warm")
                build(tree, project, environ)
        for attempt in range(args.builds):
            for tree, project in projects.items():
                edit_row(project, args.rows // 2 + attempt, f"Edit{attempt}")
                times[tree].append(build(tree, project, environ))
    for tree, seconds in times.items():
        print(f"{tree}: mean {statistics.mean(seconds):.3f} s, least {min(seconds):.3f} s "
              f"({', '.join(f'{one:.3f}' for one in seconds)})")


if __name__ == "__main__":
    main()
