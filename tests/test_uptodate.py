"""The no-op shortcut: an unchanged rerun is answered from the last complete build's snapshot."""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable
from pathlib import Path

import pytest

from vidbuild import commands

# The module, not the function of the same name that vidbuild.commands exports.
build_module = importlib.import_module("vidbuild.commands.build")

PROJECT = {
    "vidbuild.yaml": """
        version: 1
        name: snap
        data: {source: people.csv, key: "{{ row.id }}"}
        defaults:
          avatar: {avatar_id: Daisy-inskirt-20220818}
          voice: {voice_id: 2d5b0e6cf36f460aa7fc47e3eee4ba54}
        scenes:
          - id: hi
            voice: {text: "{% include 'hi.j2' %}"}
        """,
    "people.csv": "id,name\na,Ana\nb,Ben\n",
    "templates/hi.j2": "Hi {{ row.name }}!",
}


@pytest.fixture
def built(write_tree: Callable[[dict[str, str]], Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VIDBUILD_EMULATOR_SPEED", "0")
    root = write_tree(PROJECT)
    assert commands.build(str(root), stderr=io.StringIO()) == 0
    return root


def watch_loads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Record each time a build loads and expands the project (the shortcut never does)."""
    calls: list[object] = []
    real = build_module._load

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(build_module, "_load", spy)
    return calls


def expands(root: Path, monkeypatch: pytest.MonkeyPatch, *, question: bool = False) -> bool:
    """Run a build and tell whether it had to load and expand the project."""
    calls = watch_loads(monkeypatch)
    err = io.StringIO()
    assert commands.build(str(root), question=question, stderr=err) == 0
    assert "0 built, 2 up to date, 0 failed" in err.getvalue() or question
    return bool(calls)


def test_an_unchanged_rerun_expands_nothing(built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not expands(built, monkeypatch)
    assert not expands(built, monkeypatch, question=True)


@pytest.mark.parametrize("change", [
    lambda root: (root / "people.csv").write_text("id,name\na,Ana\nb,Bea\n"),
    lambda root: (root / "templates/hi.j2").write_text("Hello {{ row.name }}!"),
    lambda root: (root / "templates/outro.yaml").write_text("voice: {text: Bye}\n"),
    lambda root: (root / "vidbuild.yaml").write_text((root / "vidbuild.yaml").read_text() + "\n"),
], ids=["data", "included template", "new template that may shadow a built-in", "project file"])
def test_any_changed_input_takes_the_full_path(built: Path, monkeypatch: pytest.MonkeyPatch,
                                               change: Callable[[Path], object]) -> None:
    change(built)
    calls = watch_loads(monkeypatch)
    commands.build(str(built), stderr=io.StringIO())
    assert calls


@pytest.mark.parametrize("change", [
    lambda root: (root / "out/a.mp4").unlink(),
    lambda root: (root / "out/a.mp4").write_bytes(b"not the video"),
    lambda root: (root / "out/manifest.json").unlink(),
], ids=["output deleted", "output altered", "manifest deleted"])
def test_a_changed_output_takes_the_full_path_and_is_repaired(
        built: Path, monkeypatch: pytest.MonkeyPatch, change: Callable[[Path], object]) -> None:
    video = (built / "out/a.mp4").read_bytes()
    change(built)
    calls = watch_loads(monkeypatch)
    assert commands.build(str(built), stderr=io.StringIO()) == 0
    assert calls
    assert (built / "out/a.mp4").read_bytes() == video
    assert (built / "out/manifest.json").is_file()


def test_a_forced_rebuild_never_takes_the_shortcut(built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = watch_loads(monkeypatch)
    assert commands.build(str(built), force=["a"], stderr=io.StringIO()) == 0
    assert calls
