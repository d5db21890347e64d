"""The real command line, run as a subprocess the way users run it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vidbuild.cli import build_parser
from vidbuild.spec.hashing import content_hash, find_title_marker, unmarked_title
from vidbuild.version import __version__

REPO = Path(__file__).resolve().parent.parent
PROJECTS = sorted(p.parent for p in (REPO / "projects").glob("*/vidbuild.yaml"))


def vidbuild(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m vidbuild ARGS``; no run may ever print a traceback."""
    result = subprocess.run([sys.executable, "-m", "vidbuild", *args], cwd=cwd or REPO,
                            capture_output=True, text=True, timeout=60)
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr
    return result


def command_names() -> list[str]:
    parser = build_parser()
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        choices = getattr(action, "choices", None)
        if choices:
            return list(choices)
    raise AssertionError("the parser has no subcommands")


COMMANDS = command_names()


def test_the_core_commands_exist() -> None:
    assert {"validate", "compile", "init"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = vidbuild(command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: vidbuild {command} ")
    assert result.stderr == ""


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_in_the_readme(command: str) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    # A moved or renamed heading fails here: the check must not quietly stop checking.
    assert "\n## Commands\n" in readme, "README.md has no '## Commands' section"
    section = readme.split("## Commands", 1)[1].split("\n## ", 1)[0]
    assert f"`vidbuild {command}" in section


def test_top_level_help_lists_exit_codes() -> None:
    result = vidbuild("--help")
    assert result.returncode == 0
    assert "2 invalid project or usage" in result.stdout


def test_version() -> None:
    result = vidbuild("--version")
    assert (result.returncode, result.stdout) == (0, f"vidbuild {__version__}\n")


@pytest.mark.parametrize("project", PROJECTS, ids=[p.name for p in PROJECTS])
def test_validate_every_example_project(project: Path) -> None:
    result = vidbuild("validate", str(project.relative_to(REPO)))
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(rf"projects/{project.name}/vidbuild.yaml: ok, \d+ videos?\n", result.stderr)
    assert result.stdout == ""


def test_compile_prints_json_lines_with_hash_and_body() -> None:
    result = vidbuild("compile", "projects/spring-welcome", "--api", "legacy")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 24
    for record in records:
        assert record["endpoint"] == "POST /v2/video/generate"
        body = record["body"]
        assert body["callback_id"] == record["hash"]
        assert find_title_marker(body["title"]) == record["hash"][:12]
        body["title"] = unmarked_title(body["title"])   # the marker, like callback_id, isn't content
        assert content_hash("video", body) == record["hash"]
        assert record["output"] == f"out/{record['key']}.mp4"
    assert len({r["hash"] for r in records}) == 24


def test_compile_one_row_from_a_project_file_path() -> None:
    result = vidbuild("compile", "projects/spring-welcome/vidbuild.yaml", "--row", "c-004")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert (record["key"], record["scenes"]) == ("c-004", ["intro", "pro", "help", "outro"])


def test_compile_out_writes_files(tmp_path: Path) -> None:
    out = tmp_path / "bodies"
    result = vidbuild("compile", "projects/agent-intro", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["developers.json", "managers.json", "students.json"]
    record = json.loads((out / "managers.json").read_text(encoding="utf-8"))
    assert record["endpoint"] == "POST /v1/video_agent/generate"
    assert record["body"]["duration_sec"] == 45 and "callback_id" not in record["body"]


def test_init_then_validate_and_compile(tmp_path: Path) -> None:
    target = tmp_path / "new-campaign"
    result = vidbuild("init", str(target))
    assert result.returncode == 0, result.stderr
    assert (target / "vidbuild.yaml").is_file()
    first_line = (target / "vidbuild.yaml").read_text(encoding="utf-8").splitlines()[0]
    # The schema is named relative to the project file (a copy init writes beside it).
    schema = target / first_line.split("$schema=", 1)[1]
    assert schema.read_text(encoding="utf-8") == (REPO / "schemas" / "project.schema.json").read_text(
        encoding="utf-8")
    assert vidbuild("validate", str(target)).returncode == 0
    compiled = vidbuild("compile", cwd=target)
    assert compiled.returncode == 0, compiled.stderr
    assert [json.loads(line)["key"] for line in compiled.stdout.splitlines()] == ["c-001", "c-002"]


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "vidbuild.yaml").write_text("mine\n", encoding="utf-8")
    result = vidbuild("init", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "vidbuild: error: not overwriting existing files: vidbuild.yaml\n"
    assert (tmp_path / "vidbuild.yaml").read_text(encoding="utf-8") == "mine\n"
    assert not (tmp_path / "customers.csv").exists()


@pytest.mark.parametrize("args", [
    (),
    ("frobnicate",),
    ("validate", "--bogus"),
    ("compile", "projects/hello", "--row"),
])
def test_argument_errors_exit_2_with_usage(args: tuple[str, ...]) -> None:
    result = vidbuild(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: vidbuild")
    assert result.stdout == ""


def test_missing_project_is_a_usage_error(tmp_path: Path) -> None:
    result = vidbuild("validate", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == ("vidbuild: error: no project at vidbuild.yaml "
                             "(expected a directory with vidbuild.yaml, or the file itself)\n")


def test_unknown_row_is_a_usage_error() -> None:
    result = vidbuild("compile", "projects/hello", "--row", "nope")
    assert result.returncode == 2
    assert result.stderr == "vidbuild: error: no row with key nope in projects/hello/vidbuild.yaml\n"
    assert result.stdout == ""


def test_invalid_project_exits_2_with_located_errors(tmp_path: Path) -> None:
    (tmp_path / "vidbuild.yaml").write_text(
        "version: 2\nname: t\nscenes:\n  - voice: {text: hi, speed: 3}\n", encoding="utf-8")
    result = vidbuild("compile", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "vidbuild.yaml:1:10: version: 1 was expected\n"
        "vidbuild.yaml:4:12: scenes[0].voice: 'voice_id' is a required property "
        "(row t at vidbuild.yaml:1, scene 0)\n"
        "vidbuild.yaml:4:30: scenes[0].voice.speed: 3 is greater than the maximum of 1.5\n"
        "vidbuild: 3 errors, nothing sent\n")
