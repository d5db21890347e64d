"""Shared state's cost: a no-op plan and build over PostgreSQL on loopback against the disk state.

    python benchmarks/state_postgres.py [--rows 100000]

Writes one synthetic campaign twice (benchmarks/campaign.py) and records every row as built in
each store, through the ``State`` API (a cold build of 100,000 rows against the emulator takes
the best part of an hour here): one with .vidbuild/, one with --state-url on a throwaway cluster
started as the test suite starts it (tests/pg_cluster.py). Then it times on each: `plan` (every
row looked up, all up-to-date), a no-op `build` that takes the full path (one output touched, so
the up-to-date snapshot doesn't answer: plan, manifest, snapshot) and a no-op `build` answered by
the snapshot. Prints the best of ``--repeat`` runs and the ratios PostgreSQL / disk. Runs are
noisy on a shared 2-core machine: take the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from campaign import write_campaign  # noqa: E402
from pg_cluster import running_cluster  # noqa: E402
from run import measure, vidbuild  # noqa: E402

from vidbuild.state.location import open_state  # noqa: E402
from vidbuild.state.protocol import Record  # noqa: E402


def record_all_built(project_dir: Path, url: str | None) -> None:
    """Write each row's output (a few bytes) and record it downloaded, as a build would."""
    from vidbuild.heygen.backend import backend_namespace
    from vidbuild.planner.decide import file_checksum
    from vidbuild.planner.fields import key_entry
    from vidbuild.spec.expand import expand_project
    from vidbuild.spec.project import load_project

    project = load_project(project_dir)
    state = open_state(project_dir / ".vidbuild", backend_namespace(), url=url, project=project.name)
    try:
        for job in expand_project(project):
            path = project_dir / job.output
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(job.hash.encode())
            stat = path.stat()
            state.record(Record(hash=job.hash, key=job.key, kind=job.kind, status="downloaded",
                                owner=state.owner, output=job.output, video_id=f"v-{job.hash[:16]}",
                                checksum=file_checksum(path), size=stat.st_size, mtime_ns=stat.st_mtime_ns))
            state.remember_key(job.key, key_entry(job.hash, job.body))
    finally:
        state.close()


def touched_build(project: Path, env: dict[str, str]) -> float:
    """A no-op build on the full path: one output's mtime changed, so the snapshot can't answer."""
    first = project / "out" / "c0000000.mp4"
    os.utime(first, ns=(first.stat().st_atime_ns, first.stat().st_mtime_ns + 1000))
    return measure(vidbuild("build", "."), project, env)["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command; the best is kept")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEYGEN_", "VIDBUILD_"))}
    env.update(HEYGEN_API_BASE="http://127.0.0.1:9/", HEYGEN_API_KEY="benchmark-key")
    os.environ.update(HEYGEN_API_BASE=env["HEYGEN_API_BASE"], HEYGEN_API_KEY="benchmark-key")  # the namespace
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as work, running_cluster() as cluster:
        url = cluster.new_database()
        for name, store_url in (("disk", None), ("postgres", url)):
            store_env = {**env, "VIDBUILD_STATE_URL": store_url} if store_url else env
            project = write_campaign(Path(work) / name, args.rows)
            record_all_built(project, store_url)
            runs = {"plan": [measure(vidbuild("plan", "."), project, store_env)["seconds"]
                             for _ in range(args.repeat)],
                    "noop_build_full_path": [touched_build(project, store_env) for _ in range(args.repeat)],
                    "noop_build_snapshot": [measure(vidbuild("build", "."), project, store_env)["seconds"]
                                            for _ in range(args.repeat)]}
            results[name] = {label: min(times) for label, times in runs.items()}
    ratios = {label: round(results["postgres"][label] / results["disk"][label], 2)
              for label in results["disk"]}
    print(json.dumps({"rows": args.rows, "seconds": results, "postgres_over_disk": ratios}, indent=2))


if __name__ == "__main__":
    main()
