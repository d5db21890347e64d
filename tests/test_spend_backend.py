"""Issue 15, item 3: the backend is never a surprise. In CI without a key a build refuses unless
the emulator is asked for; every command's first line names the backend; plan says what it
planned against. The CLI runs as a subprocess, as a CI job runs it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from buildkit import LoopbackHeyGen, rows, run_vidbuild, write_project

EMULATOR_FIRST_LINE = "vidbuild: HEYGEN_API_KEY is not set: using the built-in HeyGen emulator"


def ci_env(**extra: str) -> dict[str, str]:
    """A CI job's environment with no HeyGen secret and no backend named."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HEYGEN_", "VIDBUILD_"))}
    return {**base, "CI": "true", "VIDBUILD_EMULATOR_SPEED": "0.001", **extra}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "campaign", rows(2))


def test_a_ci_build_without_a_key_refuses_and_writes_nothing(project: Path) -> None:
    run = run_vidbuild("build", str(project), env=ci_env())
    assert run.code == 2, run.stderr
    assert run.stderr == ("vidbuild: error: CI is set and HEYGEN_API_KEY is not: refusing to build "
                          "against the built-in emulator by accident (its videos are placeholders). "
                          "Set the HEYGEN_API_KEY secret, or ask for the emulator with --emulator or "
                          "VIDBUILD_BACKEND=emulator\n")
    assert not (project / "out").exists() and not (project / ".vidbuild").exists()


@pytest.mark.parametrize("how", ["flag", "variable"])
def test_a_ci_build_asking_for_the_emulator_builds_and_says_so_first(project: Path, how: str) -> None:
    args = ("build", str(project), "--emulator") if how == "flag" else ("build", str(project))
    env = ci_env() if how == "flag" else ci_env(VIDBUILD_BACKEND="emulator")
    run = run_vidbuild(*args, env=env)
    assert run.code == 0, run.stderr
    assert run.stderr.splitlines()[0].startswith(EMULATOR_FIRST_LINE)
    assert (project / "out" / "r01.mp4").exists()


@pytest.mark.parametrize("value", ["false", "0", ""])
def test_ci_switched_off_builds_against_the_emulator_as_on_a_laptop(project: Path, value: str) -> None:
    run = run_vidbuild("build", str(project), env=ci_env(CI=value))
    assert run.code == 0, run.stderr
    assert run.stderr.splitlines()[0].startswith(EMULATOR_FIRST_LINE)


def test_a_ci_dry_run_and_plan_send_nothing_so_they_run_and_name_the_emulator(project: Path) -> None:
    for command in (("plan",), ("build", "-n")):
        run = run_vidbuild(*command, str(project), env=ci_env())
        assert run.code == 0, run.stderr
        assert run.stderr.splitlines()[0].startswith(EMULATOR_FIRST_LINE)


def test_plan_json_says_what_it_planned_against(project: Path, tmp_path: Path) -> None:
    run = run_vidbuild("plan", "--json", str(project), env=ci_env())
    assert json.loads(run.stdout.splitlines()[-1])["planned_against"] == {"backend": "emulator"}
    heygen = LoopbackHeyGen(tmp_path / "heygen")
    try:
        run = run_vidbuild("plan", "--json", str(project), env=heygen.env())
        assert json.loads(run.stdout.splitlines()[-1])["planned_against"] == \
            {"backend": "heygen", "api_base": heygen.url}
        for command in ("plan", "status", "build"):
            run = run_vidbuild(command, str(project), env=heygen.env(CI="true"))
            assert run.code == 0, run.stderr
            assert run.stderr.splitlines()[0] == f"vidbuild: using the HeyGen API at {heygen.url}", command
    finally:
        heygen.close()


def test_the_emulator_asked_for_wins_over_a_key_and_says_why(project: Path, tmp_path: Path) -> None:
    heygen = LoopbackHeyGen(tmp_path / "heygen")
    try:
        run = run_vidbuild("build", str(project), env=heygen.env(VIDBUILD_BACKEND="emulator"))
        assert run.code == 0, run.stderr
        assert run.stderr.splitlines()[0].startswith(
            "vidbuild: VIDBUILD_BACKEND=emulator: using the built-in HeyGen emulator although "
            "HEYGEN_API_KEY is set")
        assert heygen.submits() == []
    finally:
        heygen.close()


@pytest.mark.parametrize(("value", "message"), [
    ("heygen", "vidbuild: error: VIDBUILD_BACKEND=heygen but HEYGEN_API_KEY is not set\n"),
    ("heygne", "vidbuild: error: VIDBUILD_BACKEND must be 'emulator' or 'heygen', got 'heygne'\n"),
])
def test_a_backend_variable_that_cannot_be_honoured_is_a_usage_error(project: Path, value: str,
                                                                    message: str) -> None:
    for command in ("build", "plan", "status"):
        run = run_vidbuild(command, str(project), env=ci_env(CI="", VIDBUILD_BACKEND=value))
        assert (run.code, run.stderr) == (2, message), command
