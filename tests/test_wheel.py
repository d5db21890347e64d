"""The built wheel carries schemas and templates, and works without the checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("hatchling", reason="building the wheel offline needs hatchling in this venv")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "-w", str(out), str(REPO)],
                   check=True, capture_output=True, timeout=120)
    (built,) = out.glob("vidbuild-*.whl")
    return built


@pytest.fixture(scope="module")
def unpacked(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


def test_wheel_contains_schemas_and_templates(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    expected = {
        "vidbuild/_data/schemas/project.schema.json",
        "vidbuild/_data/schemas/heygen/video_generate.request.schema.json",
        "vidbuild/_data/schemas/heygen/video_agent_generate.request.schema.json",
        "vidbuild/_data/templates/outro.yaml",
        "vidbuild/_data/templates/init/vidbuild.yaml",
        "vidbuild/__main__.py",
        "vidbuild/report/review_page/page.html.j2",
        "vidbuild/report/review_page/review.css",
        "vidbuild/report/review_page/review.js",
    }
    assert expected <= names
    assert not any(name.startswith(("tests/", "projects/")) for name in names)


def run_installed(unpacked: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(unpacked)}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_installed_package_runs_without_the_checkout(unpacked: Path, tmp_path: Path) -> None:
    project = tmp_path / "campaign"
    shutil.copytree(REPO / "projects" / "spring-welcome", project)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    where = run_installed(unpacked, elsewhere, "-c",
                          "import vidbuild.resources as r; print(r.schemas_dir()); print(r.templates_dir())")
    assert where.returncode == 0, where.stderr
    data = unpacked / "vidbuild" / "_data"
    assert where.stdout.splitlines() == [str(data / "schemas"), str(data / "templates")]

    validated = run_installed(unpacked, elsewhere, "-m", "vidbuild", "validate", str(project))
    assert validated.returncode == 0, validated.stderr
    assert validated.stderr.endswith(": ok, 24 videos\n")

    compiled = run_installed(unpacked, elsewhere, "-m", "vidbuild", "compile", str(project),
                             "--row", "c-001", "--api", "legacy")
    assert compiled.returncode == 0, compiled.stderr
    record = json.loads(compiled.stdout)
    outro = record["body"]["video_inputs"][-1]["voice"]["input_text"]
    assert outro == "Thanks for watching, and see you soon!"   # from the packaged templates/outro.yaml


def test_installed_init_scaffolds_a_working_project(unpacked: Path, tmp_path: Path) -> None:
    created = run_installed(unpacked, tmp_path, "-m", "vidbuild", "init", "fresh")
    assert created.returncode == 0, created.stderr
    first_line = (tmp_path / "fresh" / "vidbuild.yaml").read_text(encoding="utf-8").splitlines()[0]
    # A copy of the packaged schema beside the project, named relatively: it outlives the install.
    assert first_line.endswith("$schema=vidbuild.schema.json")
    packaged = unpacked / "vidbuild" / "_data" / "schemas" / "project.schema.json"
    assert (tmp_path / "fresh" / "vidbuild.schema.json").read_bytes() == packaged.read_bytes()
    validated = run_installed(unpacked, tmp_path, "-m", "vidbuild", "validate", "fresh")
    assert validated.returncode == 0, validated.stderr


def test_installed_review_writes_its_page(unpacked: Path, tmp_path: Path) -> None:
    project = tmp_path / "campaign"
    shutil.copytree(REPO / "projects" / "spring-welcome", project)
    reviewed = run_installed(unpacked, tmp_path, "-m", "vidbuild", "review", "campaign")
    assert reviewed.returncode == 0, reviewed.stderr
    page = (project / "out" / "review.html").read_text(encoding="utf-8")
    assert reviewed.stdout == "campaign/out/review.html\n"
    assert page.count('<tr class="row"') == 24 and "function apply()" in page
