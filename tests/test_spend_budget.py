"""Issue 15, item 1: a budget guard. The estimate counts each distinct body once and states its
assumptions; --max-credits / max_credits: refuse before sending; a paying build on a terminal
asks (driven here through a pseudo-terminal), --yes skips the question, a pipe is never asked;
the account's remaining quota is compared with the plan before sending."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from buildkit import LoopbackHeyGen, rows, run_vidbuild, unstamped, write_project

from vidbuild.planner.decide import ESTIMATE_ASSUMPTIONS, estimate_seconds
from vidbuild.spec.expand import expand_project
from vidbuild.spec.project import load_project

PROMPT = "send them? [y/N] "


@pytest.fixture
def heygen(tmp_path: Path) -> Iterator[LoopbackHeyGen]:
    server = LoopbackHeyGen(tmp_path / "heygen", legacy="served")
    yield server
    server.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Four rows, two of them (r03, r04) with identical bodies."""
    data = rows(4)
    data[3] = {**data[2], "id": "r04"}
    return write_project(tmp_path / "campaign", data)


def credits_of(project: Path, keys: set[str]) -> float:
    jobs = [job for job in expand_project(load_project(project)) if job.key in keys]
    return round(sum(estimate_seconds(job) for job in jobs) / 60, 2)


def test_the_estimate_counts_each_distinct_body_once_and_states_its_assumptions(
        project: Path, heygen: LoopbackHeyGen) -> None:
    run = run_vidbuild("plan", "--json", str(project), env=heygen.env())
    summary = json.loads(run.stdout.splitlines()[-1])
    assert summary["summary"] == {"submit": 4}
    assert summary["paying_bodies"] == 3
    assert summary["estimated_credits"] == credits_of(project, {"r01", "r02", "r03"})
    assert summary["estimate_assumes"] == ESTIMATE_ASSUMPTIONS
    text = run_vidbuild("plan", str(project), env=heygen.env()).stdout.splitlines()
    assert text[-2] == ("estimate: 3 distinct bodies to pay for (rows with identical bodies share one "
                        f"video); {ESTIMATE_ASSUMPTIONS}")
    # What the build then sends: one video per distinct body.
    assert run_vidbuild("build", str(project), env=heygen.env()).code == 0
    assert len(heygen.submits()) == 3


def test_max_credits_refuses_before_sending_with_the_plans_numbers(project: Path,
                                                                   heygen: LoopbackHeyGen) -> None:
    estimated = credits_of(project, {"r01", "r02", "r03"})
    run = run_vidbuild("build", str(project), "--max-credits", "0.01", env=heygen.env())
    assert run.code == 2, run.stderr
    assert run.stderr.splitlines()[-1] == (
        f"vidbuild: error: the plan exceeds the credit limit: 3 videos to pay for (4 submit), "
        f"estimated {estimated} credits, over --max-credits 0.01; nothing sent (raise the limit, "
        f"or build fewer rows with --select)")
    assert heygen.submits() == [] and not (project / "out").exists()
    assert run_vidbuild("build", str(project), "--max-credits", str(estimated), env=heygen.env()).code == 0


def test_the_projects_max_credits_refuses_and_the_option_wins(project: Path, heygen: LoopbackHeyGen) -> None:
    spec = project / "vidbuild.yaml"
    spec.write_text(spec.read_text(encoding="utf-8") + "max_credits: 0\n", encoding="utf-8")
    run = run_vidbuild("build", str(project), env=heygen.env())
    assert run.code == 2
    assert "campaign/vidbuild.yaml: max_credits 0; nothing sent" in run.stderr
    assert heygen.submits() == []
    assert run_vidbuild("build", str(project), "--max-credits", "5", env=heygen.env()).code == 0


def test_a_negative_max_credits_is_a_usage_error(project: Path, heygen: LoopbackHeyGen) -> None:
    run = run_vidbuild("build", str(project), "--max-credits", "-1", env=heygen.env())
    assert (run.code, run.stderr.splitlines()[-1]) == \
        (2, "vidbuild: error: --max-credits must be a number of credits, 0 or more, got -1.0")
    spec = project / "vidbuild.yaml"
    spec.write_text(spec.read_text(encoding="utf-8") + "max_credits: lots\n", encoding="utf-8")
    run = run_vidbuild("build", str(project), env=heygen.env())
    assert run.code == 2 and "max_credits" in run.stderr and heygen.submits() == []


def on_a_terminal(args: list[str], env: dict[str, str], answer: str | None) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as stdin and stderr, answering ``answer`` to the
    question once it is asked (None: expect no question). Returns the exit code and what the
    terminal showed."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "vidbuild", *args], env=env, stdin=terminal,
                               stdout=subprocess.DEVNULL, stderr=terminal)
    os.close(terminal)
    shown, answered = b"", False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(controller, 4096)
            except OSError:   # the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        if answer is not None and not answered and PROMPT.encode() in shown:
            os.write(controller, answer.encode() + b"\n")
            answered = True
        if process.poll() is not None and not ready:
            break
    code = process.wait(timeout=60)
    os.close(controller)
    return code, shown.decode(errors="replace").replace("\r\n", "\n")


def test_a_paying_build_on_a_terminal_asks_and_no_sends_nothing(project: Path,
                                                                heygen: LoopbackHeyGen) -> None:
    code, shown = on_a_terminal(["build", str(project)], heygen.env(), "n")
    assert code == 2, shown   # like the credit limit: the spending refused, nothing sent
    assert "this build spends credits: 3 videos to pay for (4 submit), estimated" in shown
    assert PROMPT in shown
    assert "vidbuild: error: not built: the spending was declined at the prompt; nothing sent" in shown
    assert heygen.submits() == []


def test_a_declined_json_build_ends_with_its_final_event(project: Path, heygen: LoopbackHeyGen) -> None:
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "vidbuild", "build", "--json", str(project)],
                               env=heygen.env(), stdin=terminal, stdout=subprocess.PIPE, stderr=terminal)
    os.close(terminal)
    shown = b""
    while PROMPT.encode() not in shown:
        ready, _, _ = select.select([controller], [], [], 60)
        assert ready, shown
        shown += os.read(controller, 4096)
    os.write(controller, b"n\n")
    out, _ = process.communicate(timeout=60)
    os.close(controller)
    events = [json.loads(line) for line in out.decode().splitlines()]
    assert process.returncode == 2
    assert events[-1]["event"] == "error" and "declined" in events[-1]["message"], events
    assert heygen.submits() == []


def test_a_paying_build_on_a_terminal_sends_after_yes(project: Path, heygen: LoopbackHeyGen) -> None:
    code, shown = on_a_terminal(["build", str(project)], heygen.env(), "y")
    assert code == 0, shown
    assert PROMPT in shown and len(heygen.submits()) == 3
    assert (project / "out" / "r04.mp4").exists()


def test_yes_skips_the_question_on_a_terminal(project: Path, heygen: LoopbackHeyGen) -> None:
    code, shown = on_a_terminal(["build", "-y", str(project)], heygen.env(), None)
    assert code == 0, shown
    assert PROMPT not in shown and len(heygen.submits()) == 3


def test_the_built_in_emulator_asks_too_saying_its_credits_are_emulated(project: Path) -> None:
    # A rehearsal on the emulator asks as the real build will, so what a person sees is the same.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEYGEN_", "VIDBUILD_"))}
    env = {**env, "VIDBUILD_EMULATOR_SPEED": "0.001", "VIDBUILD_BACKEND": "emulator"}
    code, shown = on_a_terminal(["build", str(project)], env, "n")
    assert code == 2, shown
    assert PROMPT in shown and "warning: these are the built-in emulator's credits: nothing is paid" in shown
    assert not list(project.glob("out/*.mp4"))
    code, shown = on_a_terminal(["build", str(project)], env, "y")
    assert code == 0, shown
    assert (project / "out" / "r04.mp4").exists()


def test_a_terminal_stdin_with_stderr_to_a_file_is_not_asked(project: Path, heygen: LoopbackHeyGen,
                                                             tmp_path: Path) -> None:
    # The question would go where nobody reads it, and the build would wait for ever.
    controller, terminal = pty.openpty()
    with (tmp_path / "log").open("w") as log:
        done = subprocess.run([sys.executable, "-m", "vidbuild", "build", str(project)], env=heygen.env(),
                              stdin=terminal, stdout=subprocess.DEVNULL, stderr=log, timeout=60, check=False)
    os.close(terminal)
    os.close(controller)
    assert done.returncode == 0 and PROMPT not in (tmp_path / "log").read_text()
    assert len(heygen.submits()) == 3


def test_a_pipe_is_never_asked(project: Path, heygen: LoopbackHeyGen) -> None:
    run = run_vidbuild("build", str(project), env=heygen.env())   # stdin is /dev/null
    assert run.code == 0 and PROMPT not in run.stderr and len(heygen.submits()) == 3


def test_a_build_the_account_cannot_pay_for_says_so_before_sending(project: Path, tmp_path: Path) -> None:
    # Read from v3's /v3/users/me, or (where v3 can't say) the legacy remaining_quota.
    heygen = LoopbackHeyGen(tmp_path / "poor", quota_seconds=1.0)
    try:
        _, shown = on_a_terminal(["build", str(project)], heygen.env(), "n")
        assert "warning: this build can't finish" in shown.split(PROMPT)[0]
        assert heygen.submits() == []
        run = run_vidbuild("build", str(project), env=heygen.env())
        lines = unstamped(run.stderr)
        warning = next(i for i, line in enumerate(lines)
                       if line.startswith("warning: this build can't finish"))
        assert "and the account has 0.02 credits left; it will stop when they run out" in lines[warning]
        assert not any(line.startswith("submitted") for line in lines[:warning])
    finally:
        heygen.close()
