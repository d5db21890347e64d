"""The GitHub Actions workflow of README "Running in CI" (issue 13 item 7).

The README shows examples/github-actions/vidbuild.yml verbatim; it is a workflow of the shape the
README describes (shards as a matrix, a PostgreSQL service, secrets, a cache of out/); and its
``run:`` steps, executed in order the way a runner would (the cache carried between two runs,
each job with a new database), build the campaign paying once for each video.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from buildkit import LoopbackHeyGen
from pg_cluster import Cluster, running_cluster
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / "examples" / "github-actions" / "vidbuild.yml"


def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load(WORKFLOW.read_text(encoding="utf-8"))
    return loaded


def job() -> dict[str, Any]:
    build: dict[str, Any] = workflow()["jobs"]["build"]
    return build


def test_the_readme_shows_the_workflow_file_verbatim() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Running in CI\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert blocks == [WORKFLOW.read_text(encoding="utf-8")]
    assert "examples/github-actions/vidbuild.yml" in section


def test_the_workflow_shards_a_matrix_with_a_database_secrets_and_a_cache() -> None:
    build = job()
    shards = build["strategy"]["matrix"]["shard"]
    assert shards == list(range(1, len(shards) + 1)) and len(shards) > 1
    assert build["env"]["SHARD"] == "${{ matrix.shard }}/" + str(len(shards))
    assert build["strategy"]["fail-fast"] is False   # one shard's failure doesn't cancel the others
    assert build["services"]["postgres"]["image"].startswith("postgres:")
    assert build["env"]["HEYGEN_API_KEY"] == "${{ secrets.HEYGEN_API_KEY }}"
    assert "secrets.VIDBUILD_STATE_URL" in build["env"]["VIDBUILD_STATE_URL"]
    uses = [step.get("uses", "") for step in build["steps"]]
    assert any(u.startswith("actions/cache/restore@") for u in uses)
    saves = [step for step in build["steps"] if step.get("uses", "").startswith("actions/cache/save@")]
    assert saves and saves[0]["if"] == "always()"
    assert "${{ env.PROJECT }}/out" in saves[0]["with"]["path"]


def test_every_vidbuild_command_of_the_workflow_parses() -> None:
    from vidbuild.cli import build_parser

    commands = [step["run"] for step in job()["steps"] if step.get("run", "").startswith("vidbuild ")]
    assert {command.split()[1] for command in commands} >= {"validate", "plan", "build", "state"}
    for command in commands:
        words = command.replace('"$PROJECT"', "projects/spring-welcome").replace('"$SHARD"', "1/3").split()
        build_parser().parse_args(words[1:])   # SystemExit(2) on an unknown option


@pytest.fixture(scope="module")
def cluster() -> Any:
    with running_cluster() as started:
        yield started


def run_job(workspace: Path, shard: int, env: dict[str, str]) -> None:
    """One job of the matrix: its run: steps in order, an ``if:`` kept where it names a file."""
    env = {**env, "SHARD": f"{shard}/3", "PROJECT": workflow()["env"]["PROJECT"]}
    for step in job()["steps"]:
        command = step.get("run")
        if command is None or command.startswith("pip "):
            continue   # actions, and installing vidbuild (it is installed here)
        exported = workspace / "vidbuild-state.jsonl"
        if "hashFiles('vidbuild-state.jsonl')" in step.get("if", "") and not exported.exists():
            continue
        done = subprocess.run(["bash", "-c", command], cwd=workspace, env=env, capture_output=True,
                              text=True, timeout=300, check=False)
        assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])


def test_two_runs_of_the_workflow_pay_once_and_the_second_sends_no_create(
        tmp_path: Path, heygen: LoopbackHeyGen, cluster: Cluster) -> None:
    project = workflow()["env"]["PROJECT"]
    cache: dict[int, Path] = {}
    bin_dir = str(Path(sys.executable).parent)
    for run in (1, 2):
        submits = len(heygen.submits())
        for shard in (1, 2, 3):
            workspace = tmp_path / f"run{run}-shard{shard}"
            shutil.copytree(REPO / project, workspace / project,
                            ignore=shutil.ignore_patterns(".vidbuild", "out"))
            if shard in cache:   # actions/cache/restore
                shutil.copytree(cache[shard], workspace, dirs_exist_ok=True)
            env = heygen.env(VIDBUILD_STATE_URL=cluster.new_database(),
                             PATH=f"{bin_dir}:{os.environ['PATH']}")
            run_job(workspace, shard, env)
            saved = tmp_path / f"cache{shard}-{run}"   # actions/cache/save: out/ and the export
            shutil.copytree(workspace / project / "out", saved / project / "out")
            shutil.copy(workspace / "vidbuild-state.jsonl", saved / "vidbuild-state.jsonl")
            cache[shard] = saved
        if run == 2:
            assert len(heygen.submits()) == submits   # nothing created again
    heygen.assert_each_body_paid_once()
    outputs = sorted(p.name for shard in (1, 2, 3) for p in (cache[shard] / project / "out").glob("*.mp4"))
    assert len(outputs) == len(set(outputs)) == len(heygen.submits())
