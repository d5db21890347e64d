"""Progress that keeps you informed (issue 16 item 4): a live line with elapsed time and an ETA on
a terminal, stamped lines and a heartbeat in a pipe, -s, SIGTERM (exit 143) and --json's final event.

Reporters' formatting runs on a fake clock; the CLI runs as a subprocess against the loopback
emulator, under a pseudo-terminal or a pipe, as a user or a CI runner would run it.
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from buildkit import LoopbackHeyGen, rows, run_vidbuild, start_vidbuild, write_project

from vidbuild.planner.decide import Summary
from vidbuild.report.eta import duration_text, seconds_left
from vidbuild.report.progress import JsonReporter, LogReporter, SilentReporter, TerminalReporter
from vidbuild.run.outcome import Outcome, Progress

SLOW = 0.1        # emulator speed: a render takes a few seconds
ROWS = 6
PACE = {"VIDBUILD_TIMING_SCALE": "0.005"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def planned(total: int, up_to_date: int = 0) -> Summary:
    return Summary(Counter({"submit": total - up_to_date, "up-to-date": up_to_date}))


# -- formatting, on a fake clock ------------------------------------------------------------------

def test_durations_read_like_a_clock() -> None:
    assert [duration_text(s) for s in (0, 9.9, 59, 60, 130, 3599, 3720)] == \
        ["0s", "9s", "59s", "1m00s", "2m10s", "59m59s", "1h02m"]


def test_the_eta_fills_the_render_slots_as_the_videos_in_flight_finish() -> None:
    # Two slots: the videos in flight end in 10 s and 40 s; three more of 30 s each follow.
    progress = Progress(rendering=2, slots=2, render_left=(10.0, 40.0), typical=30.0)
    assert seconds_left(3, progress) == 70.0     # 10+30+30 on one slot, 40+30 on the other
    assert seconds_left(0, progress) == 40.0
    assert seconds_left(0, Progress()) is None   # nothing in flight, nothing to send
    assert seconds_left(2, Progress(slots=4)) is None   # no render time known yet


def test_the_terminal_line_shows_elapsed_time_and_the_eta_on_each_tick() -> None:
    clock, screen = FakeClock(), io.StringIO()
    reporter = TerminalReporter(screen, clock=clock)
    reporter.planned(planned(10, up_to_date=2))
    clock.now += 62
    reporter.tick(Progress(rendering=4, queued=2, slots=4, render_left=(5.0, 5.0, 20.0, 20.0),
                           typical=30.0))
    # 8 rows to build, 4 in flight: 4 more take the slots as they free, the last ends at 20+30.
    assert reporter.status_line() == ("[0/10] queued 10  rendering 0  done 0  failed 0  cached 0  "
                                      "elapsed 1m02s  ETA ~50s")
    clock.now += 1
    reporter.tick(Progress(rendering=4, slots=4, render_left=(4.0, 4.0, 19.0, 19.0), typical=30.0))
    assert screen.getvalue().endswith("\r\x1b[2K" + reporter.status_line())
    assert "elapsed 1m03s  ETA ~49s" in reporter.status_line()


def test_pipe_lines_carry_the_time_and_n_of_total_and_a_heartbeat_while_videos_render() -> None:
    clock, pipe = FakeClock(), io.StringIO()
    wall = 1_800_000_000.0   # any instant: the stamp is local time
    reporter = LogReporter(pipe, heartbeat=30.0, clock=clock, wall=lambda: wall)
    reporter.banner("vidbuild: using the emulator")
    reporter.planned(planned(3))
    rendering = Progress(rendering=2, slots=2, render_left=(40.0, 40.0), typical=50.0)
    clock.now += 29
    reporter.tick(rendering)              # not yet 30 s: no heartbeat
    clock.now += 1
    reporter.tick(rendering)              # 30 s: a heartbeat
    clock.now += 10
    reporter.tick(rendering)              # 10 s after it: none
    clock.now += 30
    reporter.tick(Progress(slots=2))      # nothing renders: none
    reporter.finished(Outcome(done=3))

    stamp = time.strftime("%H:%M:%S", time.localtime(wall))
    assert pipe.getvalue().splitlines() == [
        "vidbuild: using the emulator",
        f"{stamp} [0/3] plan: 3 submit; estimated 0.0 credits",
        f"{stamp} [0/3] 2 rendering, 0 done, 30s elapsed, ETA ~1m30s",
        "3 built, 0 up to date, 0 failed",
    ]


def test_silent_prints_only_the_summary() -> None:
    pipe = io.StringIO()
    reporter = SilentReporter(pipe)
    reporter.banner("vidbuild: using the emulator")
    reporter.planned(planned(2))
    reporter.note(None, "a note")
    reporter.finished(Outcome(done=2))
    assert pipe.getvalue() == "2 built, 0 up to date, 0 failed\n"


def test_json_says_its_final_word_once() -> None:
    out = io.StringIO()
    reporter = JsonReporter(out)
    reporter.interrupted(3, 143)
    reporter.interrupted(0, 143)   # the command's own catch, after the engine's
    reporter.error("late", 3)
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["event"], e["rendering"], e["exit_code"]) for e in events] == [("interrupted", 3, 143)]
    assert "3 paid videos are still rendering" in events[0]["message"]


# -- the CLI as a user runs it ----------------------------------------------------------------------

@pytest.fixture
def heygen(tmp_path: Path) -> LoopbackHeyGen:
    server = LoopbackHeyGen(tmp_path / "heygen", speed=SLOW)
    yield server
    server.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "campaign", rows(ROWS))


def watch_in_a_terminal(project: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run ``vidbuild build`` with stderr on a pseudo-terminal; its exit code and what it drew."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "vidbuild", "build", "-j", "2", str(project)],
                               env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=follower)
    os.close(follower)
    drawn = bytearray()
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            process.kill()
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:   # the terminal's other side closed: the build ended
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    return process.wait(timeout=60), drawn.decode()


def test_a_terminal_sees_the_line_change_every_second_with_elapsed_and_eta(
        project: Path, heygen: LoopbackHeyGen) -> None:
    code, drawn = watch_in_a_terminal(project, heygen.env(**PACE))

    assert code == 0, drawn
    lines = [part for part in re.split(r"\r\x1b\[2K|\n", drawn) if part.startswith("[")]
    seconds = sorted({int(s) for s in re.findall(r"elapsed (\d+)s", "\n".join(lines))})
    # Redrawn while renders take seconds and no event happens: every whole second shows up.
    assert len(seconds) >= 3 and seconds == list(range(seconds[0], seconds[-1] + 1)), seconds
    assert any(re.search(r"  ETA ~\d+s$", line) for line in lines), lines
    assert drawn.replace("\r\n", "\n").endswith(f"{ROWS} built, 0 up to date, 0 failed\n")


def test_a_pipe_gets_stamped_lines_and_a_heartbeat(project: Path, heygen: LoopbackHeyGen) -> None:
    run = run_vidbuild("build", "-j", "2", str(project),
                       env=heygen.env(VIDBUILD_HEARTBEAT_SECONDS="0.5", **PACE))

    assert run.code == 0, run.stderr
    lines = run.stderr.splitlines()
    assert lines[0].startswith("vidbuild: using the HeyGen API at ")
    assert lines[-1] == f"{ROWS} built, 0 up to date, 0 failed"
    stamped = re.compile(rf"\d\d:\d\d:\d\d \[\d/{ROWS}\] ")
    assert all(stamped.match(line) for line in lines[1:-1]), lines
    done = [line for line in lines if re.fullmatch(r".* done r0\d -> out/r0\d\.mp4", line)]
    assert [line.split()[1] for line in done] == [f"[{n}/{ROWS}]" for n in range(1, ROWS + 1)]
    heartbeats = [line for line in lines if re.search(r"\] \d rendering, \d done, \d+s elapsed", line)]
    assert heartbeats, lines


def test_silent_prints_only_the_summary_from_the_cli(project: Path, heygen: LoopbackHeyGen) -> None:
    run = run_vidbuild("build", "-s", str(project), env=heygen.env(**PACE))
    assert run.code == 0, run.stderr
    assert run.stderr == f"{ROWS} built, 0 up to date, 0 failed\n"


def wait_for_submits(heygen: LoopbackHeyGen, count: int, process: subprocess.Popen[str]) -> None:
    """Synchronisation, not timing: until the emulator has seen ``count`` submits."""
    deadline = time.monotonic() + 60
    while len(heygen.submits()) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_sigterm_exits_143_says_what_still_renders_and_a_rerun_collects_it_unpaid(
        project: Path, heygen: LoopbackHeyGen) -> None:
    process = start_vidbuild("build", "-j", "3", str(project), env=heygen.env(**PACE))
    wait_for_submits(heygen, 3, process)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)

    assert process.returncode == 143, err
    assert re.search(r"terminated \(SIGTERM\): [1-3] paid videos? (is|are) still rendering at HeyGen; "
                     r"run vidbuild build again to collect (it|them) \(nothing is paid twice\)", err), err
    assert err.splitlines()[-1] == "vidbuild: terminated (SIGTERM)"
    paid_before = len(heygen.emulator.videos())

    rerun = run_vidbuild("build", str(project), env=heygen.env(**PACE))
    assert rerun.code == 0, rerun.stderr
    # Counted in the emulator: one video per row, those made before SIGTERM collected, not remade
    # (a submit cut off mid-request is resent under its Idempotency-Key, which HeyGen dedupes).
    assert 3 <= paid_before <= ROWS and len(heygen.emulator.videos()) == ROWS
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, [f"r{n:02d}" for n in range(1, ROWS + 1)])


def test_json_ends_with_interrupted_on_sigterm(project: Path, heygen: LoopbackHeyGen) -> None:
    process = start_vidbuild("build", "--json", "-j", "2", str(project), env=heygen.env(**PACE))
    wait_for_submits(heygen, 2, process)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)

    assert process.returncode == 143, err
    last = json.loads(out.splitlines()[-1])
    assert last["event"] == "interrupted" and last["exit_code"] == 143, out
    assert 1 <= last["rendering"] <= 2


def test_json_ends_with_an_error_event_on_an_invalid_project(tmp_path: Path,
                                                             heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "broken", rows(2))
    (project / "vidbuild.yaml").write_text("version: 1\nname: [unclosed\n", encoding="utf-8")
    run = run_vidbuild("build", "--json", str(project), env=heygen.env(**PACE))

    assert run.code == 2, run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert [e["event"] for e in events] == ["error"] and events[0]["exit_code"] == 2
    assert "vidbuild.yaml" in events[0]["message"]
    assert heygen.submits() == []


def test_the_live_line_fits_a_narrow_terminal_so_redraws_leave_nothing_behind() -> None:
    import fcntl
    import struct
    import termios

    leader, follower = pty.openpty()
    with os.fdopen(follower, "w") as screen:
        clock = FakeClock()
        reporter = TerminalReporter(screen, clock=clock)
        shown = {}
        for columns in (60, 30):
            fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
            reporter.planned(planned(200))
            clock.now += 1
            reporter.tick(Progress(rendering=4, slots=4, render_left=(5.0,) * 4, typical=30.0))
            screen.flush()
            drawn = _drain(leader)
            lines = [part for part in re.split(r"\r\x1b\[2K|\r?\n", drawn) if part.startswith("[")]
            assert lines and all(len(line) < columns for line in lines), lines
            shown[columns] = lines[-1]
        assert len(reporter.status_line()) > 60   # the long form would have wrapped
    os.close(leader)
    assert shown[60].startswith("[0/200] q200  r0  d0  f0  c0  ") and "ETA" in shown[60]
    assert shown[30] == shown[60][:29]


def _drain(fd: int) -> str:
    """All a pseudo-terminal has to read now (it may come in several reads)."""
    got = b""
    while select.select([fd], [], [], 0.3)[0]:
        got += os.read(fd, 4096)
    return got.decode()
