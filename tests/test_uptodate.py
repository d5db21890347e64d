"""The no-op shortcut: an unchanged rerun is answered from the last complete build's snapshot."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

import vidbuild
from vidbuild import commands

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


def library_build(root: Path, *, question: bool = False,
                  force: tuple[str, ...] = ()) -> tuple[bool, int, str]:
    """Build (or, with ``question``, ``build -q``) through the library as the CLI does: whether
    the project had to be loaded and its rows expanded (the snapshot did not answer), the exit
    code, and what the reporter printed."""
    err = io.StringIO()
    state = vidbuild.open_state(root)
    try:
        if question:
            options = vidbuild.PlanOptions(question=True, force=force)
            planned = vidbuild.plan(root, state=state, options=options)
            return not planned.from_snapshot, planned.exit_code, ""
        outcome = vidbuild.build(root, state=state, reporter=vidbuild.PlainReporter(err),
                                 options=vidbuild.BuildOptions(force=force))
        return not outcome.from_snapshot, outcome.exit_code, err.getvalue()
    finally:
        state.close()


def expands(root: Path, *, question: bool = False) -> bool:
    """Run a build and tell whether it had to load and expand the project."""
    expanded, code, err = library_build(root, question=question)
    assert code == 0
    assert "0 built, 2 up to date, 0 failed" in err or question
    return expanded


def test_an_unchanged_rerun_expands_nothing(built: Path) -> None:
    assert not expands(built)
    assert not expands(built, question=True)


@pytest.mark.parametrize("change", [
    lambda root: (root / "people.csv").write_text("id,name\na,Ana\nb,Bea\n"),
    lambda root: (root / "templates/hi.j2").write_text("Hello {{ row.name }}!"),
    lambda root: (root / "templates/outro.yaml").write_text("voice: {text: Bye}\n"),
    lambda root: (root / "vidbuild.yaml").write_text((root / "vidbuild.yaml").read_text() + "\n"),
], ids=["data", "included template", "new template that may shadow a built-in", "project file"])
def test_any_changed_input_takes_the_full_path(built: Path, change: Callable[[Path], object]) -> None:
    change(built)
    expanded, _, _ = library_build(built)
    assert expanded


@pytest.mark.parametrize("change", [
    lambda root: (root / "out/a.mp4").unlink(),
    lambda root: (root / "out/a.mp4").write_bytes(b"not the video"),
    lambda root: (root / "out/manifest.json").unlink(),
], ids=["output deleted", "output altered", "manifest deleted"])
def test_a_changed_output_takes_the_full_path_and_is_repaired(
        built: Path, change: Callable[[Path], object]) -> None:
    video = (built / "out/a.mp4").read_bytes()
    change(built)
    expanded, code, _ = library_build(built)
    assert code == 0
    assert expanded
    assert (built / "out/a.mp4").read_bytes() == video
    assert (built / "out/manifest.json").is_file()


def test_a_forced_rebuild_never_takes_the_shortcut(built: Path) -> None:
    expanded, code, _ = library_build(built, force=("a",))
    assert code == 0
    assert expanded
