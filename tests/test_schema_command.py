"""`vidbuild schema` and the schema reference `vidbuild init` writes: one that still works once the
project is copied elsewhere and vidbuild is gone, plus init's .gitignore."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "schemas" / "project.schema.json"


def vidbuild(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "vidbuild", *args], cwd=cwd, capture_output=True,
                            text=True, timeout=60)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    return result


def test_schema_prints_the_project_schema(tmp_path: Path) -> None:
    result = vidbuild("schema", cwd=tmp_path)

    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == SHIPPED.read_text(encoding="utf-8")
    jsonschema.Draft202012Validator.check_schema(json.loads(result.stdout))


def test_schema_out_writes_the_file_and_says_where(tmp_path: Path) -> None:
    result = vidbuild("schema", "--out", "editor/vidbuild.schema.json", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == "wrote the project schema to editor/vidbuild.schema.json\n"
    assert (tmp_path / "editor" / "vidbuild.schema.json").read_bytes() == SHIPPED.read_bytes()


def test_schema_out_that_cant_be_written_is_named(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file, not a directory\n", encoding="utf-8")

    result = vidbuild("schema", "--out", "taken/schema.json", cwd=tmp_path)

    assert result.returncode == 3
    assert result.stderr.startswith("vidbuild: error: can't write the schema to taken/schema.json: ")


def _schema_line(project: Path) -> str:
    first = (project / "vidbuild.yaml").read_text(encoding="utf-8").splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix)
    return first.removeprefix(prefix)


def test_init_names_a_schema_that_survives_a_copy_without_vidbuild(tmp_path: Path) -> None:
    assert vidbuild("init", "made", cwd=tmp_path).returncode == 0
    moved = tmp_path / "elsewhere" / "copied"
    shutil.copytree(tmp_path / "made", moved)
    shutil.rmtree(tmp_path / "made")

    reference = _schema_line(moved)
    assert reference == "vidbuild.schema.json"           # relative: no venv path, no file:// URI
    schema = json.loads((moved / reference).read_text(encoding="utf-8"))
    assert schema == json.loads(SHIPPED.read_text(encoding="utf-8"))
    document = YAML(typ="safe").load((moved / "vidbuild.yaml").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(document)   # what an editor would check


def test_init_ignores_state_and_outputs(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    project = tmp_path / "made"
    assert vidbuild("init", str(project), cwd=tmp_path).returncode == 0
    assert (project / ".gitignore").read_text(encoding="utf-8") == (
        "# vidbuild: state and built outputs\n/.vidbuild/\n/out/\n")
    subprocess.run(["git", "init", "-q", str(project)], check=True)

    checked = subprocess.run(["git", "check-ignore", ".vidbuild/emulator/cache.db", "out/c-001.mp4",
                              "out/review.html", "vidbuild.yaml", "vidbuild.schema.json", "customers.csv"],
                             cwd=project, capture_output=True, text=True, check=False)

    assert checked.stdout.split() == [".vidbuild/emulator/cache.db", "out/c-001.mp4", "out/review.html"]


def test_init_adds_to_an_existing_gitignore_without_losing_it(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("*.pyc\n.vidbuild\n", encoding="utf-8")

    assert vidbuild("init", cwd=tmp_path).returncode == 0

    assert (tmp_path / ".gitignore").read_text(encoding="utf-8") == (
        "*.pyc\n.vidbuild\n# vidbuild: state and built outputs\n/out/\n")


def test_init_refuses_when_the_schema_copy_exists(tmp_path: Path) -> None:
    (tmp_path / "vidbuild.schema.json").write_text("{}\n", encoding="utf-8")

    result = vidbuild("init", cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr == "vidbuild: error: not overwriting existing files: vidbuild.schema.json\n"
    assert not (tmp_path / "vidbuild.yaml").exists()
