"""Real `vidbuild build` processes racing each other, and killed with SIGKILL mid-build, then resumed.

The emulator lives in the test process behind a loopback socket, so it outlives every build
process, and it is the judge: each callback_id (content hash) must have created one video.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from buildkit import LoopbackHeyGen, rows, run_vidbuild, start_vidbuild, write_project

ROWS = 20
KEYS = [row["id"] for row in rows(ROWS)]
SPEED = 0.005        # a render takes ~0.2 s: long enough to kill a build in the middle of things
PACE = {"VIDBUILD_TIMING_SCALE": "0.005"}


@pytest.fixture
def heygen(tmp_path: Path) -> Iterator[LoopbackHeyGen]:
    server = LoopbackHeyGen(tmp_path / "heygen", speed=SPEED)
    yield server
    server.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "campaign", rows(ROWS))


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], limit: float = 30.0) -> bool:
    """Wait until ``condition`` holds; False if the process ended first. Synchronisation, not timing."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.002)
    raise AssertionError("the build neither got there nor ended")


def kill(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)


def finish(project: Path, heygen: LoopbackHeyGen) -> None:
    """A rerun completes the build, and nothing was lost or paid for twice."""
    run = run_vidbuild("build", str(project), env=heygen.env(**PACE))
    assert run.code == 0, run.stderr
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, KEYS)


@pytest.mark.parametrize("jobs", ["2", "6"])
def test_two_builds_at_once_submit_each_body_once(project: Path, heygen: LoopbackHeyGen, jobs: str) -> None:
    builds = [start_vidbuild("build", "-j", jobs, str(project), env=heygen.env(**PACE)) for _ in range(2)]
    results = [process.communicate(timeout=60) for process in builds]

    assert [process.returncode for process in builds] == [0, 0], results
    assert len(heygen.submits()) == ROWS
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, KEYS)
    assert run_vidbuild("build", "-q", str(project), env=heygen.env(**PACE)).code == 0


def test_two_builds_at_once_with_lost_replies(project: Path, heygen: LoopbackHeyGen) -> None:
    heygen.restart(faults={"drop_after:submit": 0.3}, seed=11)
    builds = [start_vidbuild("build", str(project), env=heygen.env(**PACE)) for _ in range(2)]
    results = [process.communicate(timeout=60) for process in builds]

    assert [process.returncode for process in builds] == [0, 0], results
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, KEYS)


def submits_seen(heygen: LoopbackHeyGen, count: int) -> Callable[[], bool]:
    return lambda: len(heygen.submits()) >= count


def downloads_seen(heygen: LoopbackHeyGen, count: int) -> Callable[[], bool]:
    return lambda: sum(1 for r in heygen.requests() if r.path.startswith("/files/")) >= count


@pytest.mark.parametrize("moment", ["first submit", "5 submits", "13 submits", "3 downloads"])
def test_kill_9_mid_build_then_resume(project: Path, heygen: LoopbackHeyGen, moment: str) -> None:
    count, what = moment.split(" ", 1)
    condition = (downloads_seen(heygen, 3) if what == "downloads"
                 else submits_seen(heygen, 1 if count == "first" else int(count)))
    process = start_vidbuild("build", str(project), env=heygen.env(**PACE))

    wait_for(condition, process)
    kill(process)

    finish(project, heygen)


def test_kill_9_at_random_moments_again_and_again(project: Path, heygen: LoopbackHeyGen) -> None:
    chance = random.Random(2024)
    for _ in range(4):
        process = start_vidbuild("build", str(project), env=heygen.env(**PACE))
        wait_for(submits_seen(heygen, 1), process)
        time.sleep(chance.uniform(0.0, 0.4))
        kill(process)

    finish(project, heygen)


def test_kill_9_one_of_two_concurrent_builds(project: Path, heygen: LoopbackHeyGen) -> None:
    # The survivor finds the dead build's claims orphaned and reconciles them itself.
    doomed = start_vidbuild("build", "-j", "6", str(project), env=heygen.env(**PACE))
    wait_for(submits_seen(heygen, 3), doomed)
    survivor = start_vidbuild("build", "-j", "6", str(project), env=heygen.env(**PACE))
    wait_for(submits_seen(heygen, 8), survivor)
    kill(doomed)

    _, err = survivor.communicate(timeout=60)

    assert survivor.returncode == 0, err
    plan = run_vidbuild("plan", str(project), env=heygen.env(**PACE))
    assert plan.stdout.splitlines() == ["20 up-to-date; estimated 0.0 credits"], err
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, KEYS)


def test_kill_9_with_lost_replies(project: Path, heygen: LoopbackHeyGen) -> None:
    heygen.restart(faults={"drop_after:submit": 0.5}, seed=5)
    process = start_vidbuild("build", str(project), env=heygen.env(**PACE))
    wait_for(submits_seen(heygen, 6), process)
    kill(process)

    finish(project, heygen)


def test_clean_refuses_while_a_build_runs(project: Path, heygen: LoopbackHeyGen) -> None:
    process = start_vidbuild("build", str(project), env=heygen.env(**PACE))
    try:
        assert wait_for(submits_seen(heygen, 1), process)
        refused = run_vidbuild("clean", "--yes", str(project), env=heygen.env(**PACE))
    finally:
        kill(process)

    assert refused.code == 2
    assert refused.stderr.startswith("vidbuild: error: a vidbuild build is using ")
    assert (project / ".vidbuild").is_dir()
    finish(project, heygen)


def test_ctrl_c_exits_130_and_a_rerun_resumes(project: Path, heygen: LoopbackHeyGen) -> None:
    process = start_vidbuild("build", str(project), env=heygen.env(**PACE))
    assert wait_for(submits_seen(heygen, 4), process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)

    assert process.returncode == 130, err
    assert err.splitlines()[-1] == "vidbuild: interrupted"
    finish(project, heygen)
