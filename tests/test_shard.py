"""``--shard K/N`` (issue 13 item 4): a stable partition of the rows by key for N CI jobs.

The parts are disjoint and cover every row, a row's part depends on its key alone (not on the
row's place in the data), and plan, build and status each act on their part only.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from buildkit import LoopbackHeyGen, manifest, rows, run_vidbuild, write_project

from vidbuild.errors import UsageError
from vidbuild.planner.shard import Shard, in_shard, parse_shard

ROWS = 24


class Keyed:
    def __init__(self, key: str) -> None:
        self.key = key


def parts(keys: list[str], count: int) -> list[list[str]]:
    return [[row.key for row in in_shard((Keyed(k) for k in keys), Shard(n, count))]
            for n in range(1, count + 1)]


def test_the_parts_are_disjoint_cover_every_row_and_ignore_row_order() -> None:
    keys = [f"customer-{n}" for n in range(1000)]
    split = parts(keys, 3)
    assert sorted(key for part in split for key in part) == sorted(keys)
    assert all(250 < len(part) < 420 for part in split), [len(p) for p in split]   # roughly even
    shuffled = list(keys)
    random.Random(7).shuffle(shuffled)
    assert [sorted(part) for part in parts(shuffled, 3)] == [sorted(part) for part in split]
    # A row added or removed moves no other row.
    fewer = parts([*keys[1:], "customer-new"], 3)
    assert [sorted(set(a) - {"customer-0"}) for a in split] == \
        [sorted(set(b) - {"customer-new"}) for b in fewer]


def test_one_part_holds_every_row() -> None:
    keys = ["a", "b", "ç", "🙂"]
    assert parts(keys, 1) == [keys]


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "2", "a/b", "1/3/4", "-1/3", ""])
def test_a_bad_shard_is_a_usage_error_naming_the_value(text: str) -> None:
    with pytest.raises(UsageError, match="--shard"):
        parse_shard(text)


def test_a_shard_spelled_with_spaces_is_accepted() -> None:
    assert parse_shard(" 2 / 3 ") == Shard(2, 3)


def test_a_bad_shard_on_the_command_line_is_exit_2_and_sends_nothing(tmp_path: Path) -> None:
    server = LoopbackHeyGen(tmp_path / "heygen")
    try:
        project = write_project(tmp_path / "campaign", rows(4))
        for command in ("plan", "build", "status"):
            run = run_vidbuild(command, "--shard", "4/3", str(project), env=server.env())
            assert run.code == 2, (command, run.stderr)
            assert "vidbuild: error: --shard '4/3': K must be between 1 and N" in run.stderr
            assert "Traceback" not in run.stderr
        assert server.requests() == []
    finally:
        server.close()


def test_three_shards_on_separate_disks_build_the_campaign_once(tmp_path: Path) -> None:
    server = LoopbackHeyGen(tmp_path / "heygen")
    try:
        keys = [row["id"] for row in rows(ROWS)]
        expected = parts(keys, 3)
        env = server.env()
        built: list[str] = []
        for number in (1, 2, 3):
            project = write_project(tmp_path / f"runner{number}" / "campaign", rows(ROWS))
            planned = run_vidbuild("plan", "--json", "--shard", f"{number}/3", str(project), env=env)
            assert planned.code == 0, planned.stderr
            planned_keys = [json.loads(line)["key"] for line in planned.stdout.splitlines()[:-1]]
            assert planned_keys == expected[number - 1]

            run = run_vidbuild("build", "--shard", f"{number}/3", str(project), env=env)
            assert run.code == 0, run.stderr
            assert sorted(manifest(project)) == sorted(expected[number - 1])
            assert sorted(p.stem for p in (project / "out").glob("*.mp4")) == sorted(expected[number - 1])
            status = run_vidbuild("status", "--json", "--shard", f"{number}/3", str(project), env=env)
            assert [json.loads(line)["key"] for line in status.stdout.splitlines()] == expected[number - 1]
            built += manifest(project)
        assert sorted(built) == sorted(keys)
        assert len(server.submits()) == ROWS
        server.assert_each_body_paid_once()
    finally:
        server.close()


def test_a_shard_build_takes_no_snapshot_for_the_whole_campaign(tmp_path: Path) -> None:
    server = LoopbackHeyGen(tmp_path / "heygen")
    try:
        project = write_project(tmp_path / "campaign", rows(6))
        env = server.env()
        assert run_vidbuild("build", "--shard", "1/2", str(project), env=env).code == 0
        # Half the rows are still to build: an unsharded build must not find everything up to date.
        question = run_vidbuild("build", "-q", str(project), env=env)
        assert question.code == 1, question.stderr
        rest = run_vidbuild("build", str(project), env=env)
        assert rest.code == 0, rest.stderr
        assert sorted(manifest(project)) == [row["id"] for row in rows(6)]
        server.assert_each_body_paid_once()
    finally:
        server.close()


def test_force_naming_a_row_of_another_shard_is_not_an_error(tmp_path: Path) -> None:
    server = LoopbackHeyGen(tmp_path / "heygen")
    try:
        keys = [row["id"] for row in rows(6)]
        other = parts(keys, 2)[1][0]
        project = write_project(tmp_path / "campaign", rows(6))
        run = run_vidbuild("plan", str(project), "--shard", "1/2", "--force", other, env=server.env())
        assert run.code == 0, run.stderr
        assert other not in run.stdout
        unknown = run_vidbuild("plan", str(project), "--shard", "1/2", "--force", "nobody",
                               env=server.env())
        assert unknown.code == 2 and "--force: no row with key nobody" in unknown.stderr
    finally:
        server.close()
