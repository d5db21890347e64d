"""The edges where a result could be lost, paid twice or waited on forever (issue 11, items 2, 4, 8, 9).

Each test reproduces one kind of fault against the emulator's real loopback server, with real
state on disk, and real ``vidbuild build`` processes where a user would have them (editing the
data file while a build runs, stopping a build while another one forces a row).
"""

from __future__ import annotations

import io
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from buildkit import (
    API_KEY,
    LoopbackHeyGen,
    manifest,
    rows,
    run_vidbuild,
    sha256,
    start_vidbuild,
    write_project,
    write_rows,
)

import vidbuild
import vidbuild.heygen.client._http
from vidbuild import commands
from vidbuild.emulator import EmulatorConfig
from vidbuild.heygen.client import HeyGenClient
from vidbuild.pipeline import compile
from vidbuild.report.progress import PlainReporter
from vidbuild.state.disk import DiskState
from vidbuild.state.location import namespace_for

KEYS = [row["id"] for row in rows(6)]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "campaign", rows(6))


def in_process(heygen: LoopbackHeyGen, monkeypatch: pytest.MonkeyPatch, **extra: str) -> None:
    """Point ``commands.build`` in this process at ``heygen``; the client's back-off shortened."""
    for name, value in heygen.env(**extra).items():
        if name.startswith(("HEYGEN_", "VIDBUILD_")):
            monkeypatch.setenv(name, value)
    monkeypatch.setattr(vidbuild.heygen.client._http, "backoff", lambda attempt, random: 0.002 * attempt)


def build(project: Path, **options: Any) -> tuple[int, str]:
    err = io.StringIO()
    code = commands.build(str(project), stderr=err, **options)
    return code, err.getvalue()


def state_of(project: Path, heygen: LoopbackHeyGen) -> dict[str, str]:
    state = DiskState(project / ".vidbuild", namespace_for(heygen.url))
    try:
        return {record.key: record.status for record in state.records()}
    finally:
        state.close()


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], limit: float = 60.0) -> None:
    """Synchronisation, not timing: wait until ``condition`` holds while the build runs."""
    deadline = time.monotonic() + limit
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the build never got there"
        time.sleep(0.005)


def stop_while(condition: Callable[[], bool], process: subprocess.Popen[str], limit: float = 60.0) -> None:
    """SIGSTOP ``process`` at a moment ``condition`` holds, checked again once it is stopped: a
    build can move on between a check and the signal (a loaded machine)."""
    deadline = time.monotonic() + limit
    while True:
        wait_for(condition, process, max(deadline - time.monotonic(), 0.0))
        process.send_signal(signal.SIGSTOP)
        if _no_write_in_progress(project_of(process)) and condition():
            return
        process.send_signal(signal.SIGCONT)


def project_of(process: subprocess.Popen[str]) -> Path:
    """The project directory a ``vidbuild build ... PATH`` process was started on (its last argument)."""
    args = process.args
    assert isinstance(args, list)
    return Path(args[-1])


def _no_write_in_progress(project: Path) -> bool:
    """True when no process holds a write lock on any of the project's SQLite state files (a
    process stopped inside a write would block every other build's state)."""
    for database in [*project.glob(".vidbuild/*/store/cache.db"), *project.glob(".vidbuild/*/rows.sqlite")]:
        connection = sqlite3.connect(database, timeout=0.2)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.rollback()
        except sqlite3.OperationalError:
            return False
        finally:
            connection.close()
    return True


def assert_outputs_are_the_recorded_videos(heygen: LoopbackHeyGen, root: Path, keys: list[str]) -> None:
    """Every row done, its file byte for byte the video the manifest names, made from its body."""
    heygen.restart()
    entries = manifest(root)
    videos = {video.video_id: video for video in heygen.emulator.videos()}
    for key in keys:
        entry = entries[key]
        assert entry["status"] == "done", entry
        assert videos[entry["video_id"]].callback_id == entry["hash"], key
        on_disk = (root / entry["output"]).read_bytes()
        assert sha256(on_disk) == sha256(heygen.served_mp4(entry["video_id"])), key


# -- item 2: what was read is what is fingerprinted -----------------------------------------------


def test_data_edited_while_the_build_runs_is_not_taken_for_built(project: Path, tmp_path: Path) -> None:
    heygen = LoopbackHeyGen(tmp_path / "heygen", speed=0.03)   # renders take about a second
    try:
        pace = heygen.env(VIDBUILD_TIMING_SCALE="0.03")
        process = start_vidbuild("build", "-j", "6", str(project), env=pace)
        wait_for(lambda: len(heygen.submits()) == 6, process)
        edited = rows(6)
        edited[2]["line"] = "edited while the build ran"
        write_rows(project, edited)   # the build has read every row: this edit was not built
        _, err = process.communicate(timeout=60)

        assert process.returncode == 3, err
        assert "the project's inputs changed during the build" in err
        assert "rows.csv" in err
        assert run_vidbuild("build", "-q", str(project), env=pace).code == 1
        plan = run_vidbuild("plan", str(project), env=pace)
        assert plan.stdout.startswith("submit      r03  changed: video_inputs[0].voice.input_text"), plan
        rerun = run_vidbuild("build", str(project), env=pace)
        assert rerun.code == 0, rerun.stderr
        assert len(heygen.submits()) == 7
        assert run_vidbuild("build", "-q", str(project), env=pace).code == 0
        assert_outputs_are_the_recorded_videos(heygen, project, KEYS)
    finally:
        heygen.close()


def test_a_template_added_while_the_build_runs_refuses_the_snapshot(project: Path, tmp_path: Path) -> None:
    heygen = LoopbackHeyGen(tmp_path / "heygen", speed=0.03)
    try:
        pace = heygen.env(VIDBUILD_TIMING_SCALE="0.03")
        process = start_vidbuild("build", "-j", "6", str(project), env=pace)
        wait_for(lambda: len(heygen.submits()) == 6, process)
        (project / "templates").mkdir()
        (project / "templates" / "outro.yaml").write_text("voice: {text: bye}\n", encoding="utf-8")
        _, err = process.communicate(timeout=60)

        assert process.returncode == 3, err
        assert "templates/outro.yaml" in err
        unchanged = run_vidbuild("build", str(project), env=pace)   # the full path: nothing to send
        assert unchanged.code == 0, unchanged.stderr
        assert "everything is up to date (6 videos)" in unchanged.stderr
        assert len(heygen.submits()) == 6
    finally:
        heygen.close()


# -- item 4: a superseded build writes nothing ------------------------------------------------------


def test_a_build_stopped_while_another_forces_a_row_does_not_overwrite_it(project: Path,
                                                                        tmp_path: Path) -> None:
    heygen = LoopbackHeyGen(tmp_path / "heygen", speed=0.03)
    try:
        pace = heygen.env(VIDBUILD_TIMING_SCALE="0.03")
        first = start_vidbuild("build", "-j", "6", str(project), env=pace)
        stop_while(lambda: set(state_of(project, heygen).values()) <= {"submitted", "rendering"}
                   and len(state_of(project, heygen)) == 6, first)   # r02's first video not yet downloaded
        try:
            forced = run_vidbuild("build", str(project), "--force", "r02", env=pace)
        finally:
            first.send_signal(signal.SIGCONT)
        _, err = first.communicate(timeout=240)   # a loaded machine: generous

        assert forced.code == 0, forced.stderr
        assert first.returncode == 0, err
        assert "done r02 -> out/r02.mp4" not in err
        r02 = manifest(project)["r02"]
        videos_of_r02 = [v.video_id for v in heygen.emulator.videos() if v.callback_id == r02["hash"]]
        assert len(videos_of_r02) == 2 and r02["video_id"] == videos_of_r02[0]   # the newest
        assert run_vidbuild("build", "-q", str(project), env=pace).code == 0
        assert_outputs_are_the_recorded_videos(heygen, project, KEYS)
    finally:
        heygen.close()


def test_a_download_superseded_while_it_ran_does_not_land(project: Path, heygen: LoopbackHeyGen,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Another process forces r02 (then dies before sending) between the poll that found the video
    # done and the file's arrival: the old video must not land; the forced rebuild is finished here.
    in_process(heygen, monkeypatch)
    r02 = manifest_hash(project, "r02")
    seen: list[bool] = []   # at each download of r02: was a file already at out/r02.mp4?

    class ForcesR02AfterItsFirstDownload(HeyGenClient):
        def download(self, url: str, destination: Path, **options: Any) -> Any:
            if "r02" in destination.name:
                seen.append((project / "out" / "r02.mp4").exists())
            result = super().download(url, destination, **options)
            if "r02" in destination.name and len(seen) == 1:
                other = DiskState(project / ".vidbuild", namespace_for(heygen.url))
                try:
                    assert other.claim(r02, "r02", "video", title="Hi Name2", output="out/r02.mp4",
                                       force=True)[0] == "claimed"
                finally:
                    other.close()
            return result

    backend = vidbuild.open_backend(project)
    backend.client.close()
    backend.client = ForcesR02AfterItsFirstDownload(backend.base_url, API_KEY)
    state = vidbuild.open_state(project, backend=backend)
    stream = io.StringIO()
    reporter = PlainReporter(stream)
    try:
        code = vidbuild.build(project, state=state, backend=backend, reporter=reporter,
                              options=vidbuild.BuildOptions(jobs=1)).exit_code
    finally:
        state.close()
        backend.close()
    err = stream.getvalue()

    assert code == 0, err
    assert seen == [False, False]             # the first video never landed
    assert err.count("done r02 -> out/r02.mp4") == 1
    videos_of_r02 = [v.video_id for v in heygen.emulator.videos() if v.callback_id == r02]
    assert len(videos_of_r02) == 2 and manifest(project)["r02"]["video_id"] == videos_of_r02[0]
    assert_outputs_are_the_recorded_videos(heygen, project, KEYS)


def manifest_hash(project: Path, key: str) -> str:
    return next(job.hash for job in compile(project) if job.key == key)


# -- item 8: nothing waits forever --------------------------------------------------------------------


def stalled_keys(heygen: LoopbackHeyGen, project: Path) -> list[str]:
    endpoints = heygen.emulator._endpoints
    hashes = {v.callback_id for v in heygen.emulator.videos() if endpoints.stalled(v)}
    return sorted(key for key, entry in manifest(project).items() if entry["hash"] in hashes)


def test_a_render_that_never_completes_is_left_unfinished_and_resumed(project: Path,
                                                                     heygen: LoopbackHeyGen) -> None:
    heygen.restart(faults={"render_stall": 0.4}, seed=3)

    run = run_vidbuild("build", "-j", "1", "--render-timeout", "1", str(project), env=heygen.env())

    assert run.code == 3, run.stderr
    stalled = stalled_keys(heygen, project)
    assert 0 < len(stalled) < 6, stalled
    assert len(heygen.submits()) == 6          # the rows behind a stalled one were submitted too
    entries = manifest(project)
    assert sorted(k for k, e in entries.items() if e["status"] != "done") == stalled
    for key in stalled:
        assert f"{key}: still rendering after 1 s (--render-timeout)" in run.stderr
    assert run.stderr.splitlines()[-1].startswith(f"{6 - len(stalled)} built, 0 up to date, 0 failed, "
                                                  f"{len(stalled)} unfinished")

    heygen.restart()   # the stall is over
    rerun = run_vidbuild("build", str(project), env=heygen.env())

    assert rerun.code == 0, rerun.stderr
    assert len(heygen.submits()) == 6          # resumed polling; nothing resubmitted
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, KEYS)


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "soon"])
def test_a_bad_render_timeout_is_a_usage_error(project: Path, heygen: LoopbackHeyGen, value: str) -> None:
    run = run_vidbuild("build", "--render-timeout", value, str(project), env=heygen.env())

    assert run.code == 2, run.stderr
    complaint = ("invalid float value: 'soon'" if value == "soon"
                 else f"--render-timeout must be a positive number of seconds, got {float(value)}")
    assert complaint in run.stderr
    assert "Traceback" not in run.stderr
    assert heygen.requests() == []


# -- item 9: lost replies, bounded ----------------------------------------------------------------------


def test_lost_replies_with_a_lagging_list_send_a_body_at_most_twice(project: Path, heygen: LoopbackHeyGen,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Grace 0.6 s: the list lags 1.5 s, longer than the first grace but shorter than the first two.
    # Legacy creates: no Idempotency-Key, so the promise rests on the list (see the README).
    heygen.restart(faults={"drop_after:submit": 1.0}, list_lag=1.5)
    in_process(heygen, monkeypatch, VIDBUILD_TIMING_SCALE="0.02")

    code, err = build(project, jobs=6, api="legacy")

    assert code == 0, err
    per_body = Counter(r.body["callback_id"] for r in heygen.submits())
    assert set(per_body.values()) == {2}, per_body   # one extra, never a third
    assert err.count("found the lost submission") == 6
    assert_outputs_are_the_recorded_videos(heygen, project, KEYS)


def test_a_retry_after_a_lost_reply_looks_back_to_the_first_attempt(project: Path, heygen: LoopbackHeyGen,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # The first build loses r01's legacy reply and stops; the list shows the video only later.
    in_process(heygen, monkeypatch, VIDBUILD_TIMING_SCALE="0.02")
    write_project(project, [{"id": "r00", "name": "Zero", "line": "hi"}])   # state knows the project:
    assert build(project)[0] == 0                                            # no lookup before paying
    write_project(project, rows(6))
    heygen.restart(faults={"drop_after:submit": 1.0, "server_error:list": 1.0})
    code, err = build(project, jobs=1, api="legacy")
    assert code == 3, err
    assert state_of(project, heygen) == {"r00": "downloaded", "r01": "uncertain"}

    heygen.restart()
    code, err = build(project, api="legacy")

    assert code == 0, err
    assert len(heygen.submits()) == 7
    heygen.assert_each_body_paid_once()
    assert_outputs_are_the_recorded_videos(heygen, project, KEYS)


def test_the_emulator_list_lag_hides_young_videos() -> None:
    config = EmulatorConfig.parse("list_lag=2.5")
    assert config.list_lag == 2.5
    with pytest.raises(ValueError, match="list_lag must not be negative"):
        EmulatorConfig(list_lag=-1)


def test_the_emulator_render_stall_is_a_submit_fault() -> None:
    assert EmulatorConfig.parse("render_stall=0.5").fault_rate("render_stall", "submit") == 0.5
    with pytest.raises(ValueError, match="only applies to submissions"):
        EmulatorConfig.parse("render_stall:status=0.5")
