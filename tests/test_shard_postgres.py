"""Shards over one PostgreSQL state (issue 13 items 4 and 6): three CI jobs, each on its own disk,
build ``--shard 1/3`` … ``3/3`` at once; their union is the campaign and no body is paid twice,
not even twin rows (one body, two keys) that fall in different shards."""

from __future__ import annotations

import json
from pathlib import Path

from buildkit import LoopbackHeyGen, manifest, rows, run_vidbuild, sha256, start_vidbuild, write_project
from pg_cluster import Cluster

from vidbuild.planner.shard import Shard

ROWS = 15
PACE = {"VIDBUILD_TIMING_SCALE": "0.005"}


def campaign() -> list[dict[str, str]]:
    """Rows with twins: r02 and r14 share a body, as do r05 and r11."""
    data = rows(ROWS)
    for twin, of in (("r14", "r02"), ("r11", "r05")):
        row = next(r for r in data if r["id"] == twin)
        row["name"] = next(r for r in data if r["id"] == of)["name"]
    return data


def test_three_shards_on_separate_disks_share_one_database_and_pay_once(
        tmp_path: Path, cluster: Cluster) -> None:
    heygen = LoopbackHeyGen(tmp_path / "heygen", speed=0.005)
    try:
        keys = [row["id"] for row in campaign()]
        parts = [[key for key in keys if Shard(n, 3).holds(key)] for n in (1, 2, 3)]
        split_twins = [pair for pair in (("r02", "r14"), ("r05", "r11"))
                       if not any(set(pair) <= set(part) for part in parts)]
        assert split_twins   # at least one pair of twins lies in two shards
        env = heygen.env(VIDBUILD_STATE_URL=cluster.new_database(), **PACE)
        projects = [write_project(tmp_path / f"job{n}" / "campaign", campaign()) for n in (1, 2, 3)]
        jobs = [start_vidbuild("build", "-j", "3", "--shard", f"{n}/3", str(project), env=env)
                for n, project in zip((1, 2, 3), projects, strict=True)]
        results = [job.communicate(timeout=240) for job in jobs]

        assert [job.returncode for job in jobs] == [0, 0, 0], results
        assert len(heygen.submits()) == ROWS - 2   # two pairs of twins: one video each
        heygen.assert_each_body_paid_once()
        for project, part in zip(projects, parts, strict=True):
            entries = manifest(project)
            assert sorted(entries) == sorted(part)
            for key, entry in entries.items():
                assert entry["status"] == "done"
                data = (project / "out" / f"{key}.mp4").read_bytes()
                assert sha256(data) == sha256(heygen.served_mp4(entry["video_id"]))
        status = run_vidbuild("status", "--json", str(projects[0]), env=env)
        rows_seen = [json.loads(line) for line in status.stdout.splitlines()]
        # The shared state knows every row as built (the files are on the other jobs' disks).
        assert sorted(r["key"] for r in rows_seen if r["video_id"]) == sorted(keys)
    finally:
        heygen.close()
