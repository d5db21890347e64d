"""What a command imports: `vidbuild build` pays only for its own modules (issue 14: an edited
row's build is mostly start-up), and the commands package still names every command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from buildkit import rows, write_project, write_rows


def test_a_build_imports_no_other_command() -> None:
    probe = ("import json, sys; import vidbuild.cli; from vidbuild import commands; commands.build; "
             "print(json.dumps(sorted(m for m in sys.modules if m.startswith('vidbuild.commands.') "
             "or m == 'webbrowser')))")
    found = json.loads(subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                                      text=True).stdout)
    assert found == ["vidbuild.commands.build"]


def test_every_command_is_a_function_even_after_its_module_is_imported() -> None:
    import vidbuild.commands.build
    import vidbuild.commands.review  # a submodule named as its command

    for name in vidbuild.commands.__all__:
        assert isinstance(getattr(vidbuild.commands, name), types.FunctionType), name
    assert vidbuild.commands.build.__module__ == "vidbuild.commands.build"


def test_an_unchanged_rerun_imports_neither_the_engine_nor_the_templates(tmp_path: Path) -> None:
    # The snapshot answers (planner/up_to_date.py): no HTTP client, emulator, Jinja or YAML parser.
    project = write_project(tmp_path / "campaign", rows(3))
    env = {name: value for name, value in os.environ.items() if not name.startswith(("HEYGEN_", "VIDBUILD_"))}
    env["VIDBUILD_EMULATOR_SPEED"] = "0"
    env["VIDBUILD_BACKEND"] = "emulator"   # under CI=true a build must ask for the emulator by name
    subprocess.run([sys.executable, "-m", "vidbuild", "build", str(project)], env=env, check=True,
                   capture_output=True)
    probe = ("import io, json, sys, contextlib; from vidbuild import cli\n"
             "with contextlib.redirect_stderr(io.StringIO()) as err:\n"
             f"    code = cli.main(['build', {str(project)!r}])\n"
             "heavy = ['httpx', 'vidbuild.run.engine', 'vidbuild.emulator', 'jinja2', 'ruamel.yaml']\n"
             "print(json.dumps([code, err.getvalue(), [m for m in heavy if m in sys.modules]]))")
    code, said, imported = json.loads(subprocess.run([sys.executable, "-c", probe], env=env, check=True,
                                                     capture_output=True, text=True).stdout)
    assert code == 0 and "0 built, 3 up to date" in said
    assert imported == []


def test_an_edited_row_with_the_project_file_unchanged_imports_no_yaml_parser(tmp_path: Path) -> None:
    # The project file parsed by the first build is taken as parsed (pipeline/parsed_projects.py).
    project = write_project(tmp_path / "campaign", rows(3))
    env = {name: value for name, value in os.environ.items() if not name.startswith(("HEYGEN_", "VIDBUILD_"))}
    env["VIDBUILD_EMULATOR_SPEED"] = "0"
    env["VIDBUILD_BACKEND"] = "emulator"
    subprocess.run([sys.executable, "-m", "vidbuild", "build", str(project)], env=env, check=True,
                   capture_output=True)
    write_rows(project, [{**rows(3)[0], "name": "Edited"}, *rows(3)[1:]])
    probe = ("import io, json, sys, contextlib; from vidbuild import cli\n"
             "with contextlib.redirect_stderr(io.StringIO()) as err:\n"
             f"    code = cli.main(['build', {str(project)!r}])\n"
             "print(json.dumps([code, err.getvalue(), 'ruamel.yaml' in sys.modules]))")
    code, said, parsed_yaml = json.loads(subprocess.run([sys.executable, "-c", probe], env=env, check=True,
                                                        capture_output=True, text=True).stdout)
    assert code == 0 and "1 built, 2 up to date" in said, said
    assert parsed_yaml is False


def test_the_command_starts_with_the_collector_paced_for_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from vidbuild import cli, collector, launch

    seen: list[tuple[int, int, int]] = []
    monkeypatch.setattr(cli, "main", lambda: seen.append(gc.get_threshold()) or 3)
    before = gc.get_threshold()
    try:
        assert launch.main() == 3
        assert seen == [collector.START_THRESHOLDS] and collector.START_THRESHOLDS[0] > before[0]
        frozen = gc.get_freeze_count()
        collector.for_sending()   # as a build does before it sends: the usual pace, what exists set aside
        assert gc.get_threshold() == before and gc.get_freeze_count() > frozen
        collector.for_sending()   # once only
        assert gc.get_threshold() == before
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_a_build_sends_at_the_usual_pace_and_a_library_user_s_collector_is_left_alone(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("HEYGEN_", "VIDBUILD_"))}
    env.update(VIDBUILD_EMULATOR_SPEED="0", VIDBUILD_BACKEND="emulator")
    project = write_project(tmp_path / "campaign", rows(2))
    probe = ("import gc, io, json, sys, contextlib; from vidbuild import launch\n"
             "usual = gc.get_threshold()\n"
             f"sys.argv = ['vidbuild', 'build', {str(project / 'vidbuild.yaml')!r}]\n"
             "with contextlib.redirect_stderr(io.StringIO()):\n"
             "    code = launch.main()\n"
             "print(json.dumps([code, gc.get_threshold() == usual, gc.get_freeze_count() > 0]))")
    assert json.loads(subprocess.run([sys.executable, "-c", probe], env=env, check=True, capture_output=True,
                                     text=True).stdout) == [0, True, True]
    # A build called as a library (not through the command line) changes neither pace nor generations.
    project = write_project(tmp_path / "another", rows(2))
    probe = ("import gc, io, json, contextlib; from vidbuild import commands\n"
             "gc.set_threshold(555, 5, 5)\n"
             "with contextlib.redirect_stderr(io.StringIO()):\n"
             f"    code = commands.build({str(project)!r})\n"
             "print(json.dumps([code, gc.get_threshold(), gc.get_freeze_count()]))")
    code, thresholds, frozen = json.loads(subprocess.run([sys.executable, "-c", probe], env=env, check=True,
                                                         capture_output=True, text=True).stdout)
    assert (code, thresholds, frozen) == (0, [555, 5, 5], 0)


def test_python_m_vidbuild_and_the_console_script_both_go_through_launch() -> None:
    import tomllib

    pyproject = (Path(__file__).parent.parent / "pyproject.toml").read_text(encoding="utf-8")
    scripts = tomllib.loads(pyproject)["project"]["scripts"]
    assert scripts == {"vidbuild": "vidbuild.launch:main"}
    main_module = Path(__file__).parent.parent / "vidbuild" / "__main__.py"
    assert "from vidbuild.launch import main" in main_module.read_text(encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "vidbuild", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("vidbuild ")
