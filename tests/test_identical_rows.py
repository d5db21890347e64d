"""Rows whose bodies are identical share one video (paid once) yet each gets its own file."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from vidbuild import commands

PROJECT = {
    "vidbuild.yaml": """
        version: 1
        name: twins
        data: {source: people.csv, key: "{{ row.id }}"}
        video: {title: "Hi {{ row.name }}"}
        defaults:
          avatar: {avatar_id: Daisy-inskirt-20220818}
          voice: {voice_id: 2d5b0e6cf36f460aa7fc47e3eee4ba54}
        scenes:
          - voice: {text: "Hi {{ row.name }}!"}
        """,
    "people.csv": "id,name\na,Ana\nb,Ana\nc,Ana\nd,Ben\n",
}


@pytest.mark.parametrize("jobs", [1, 4])
def test_every_twin_gets_its_file_and_the_body_is_paid_once(
        write_tree: Callable[[dict[str, str]], Path], monkeypatch: pytest.MonkeyPatch, jobs: int) -> None:
    monkeypatch.setenv("VIDBUILD_EMULATOR_SPEED", "0")
    root = write_tree(PROJECT)
    err = io.StringIO()

    assert commands.build(str(root), jobs=jobs, stderr=err) == 0, err.getvalue()

    files = {key: (root / "out" / f"{key}.mp4").read_bytes() for key in "abcd"}
    assert files["a"] == files["b"] == files["c"] != files["d"]
    assert err.getvalue().count("submitted ") == 2
    (root / "out/b.mp4").unlink()
    (root / "out/a.mp4").unlink()
    rerun = io.StringIO()
    assert commands.build(str(root), jobs=jobs, stderr=rerun) == 0, rerun.getvalue()
    assert (root / "out/a.mp4").read_bytes() == (root / "out/b.mp4").read_bytes() == files["c"]
    assert "submitted " not in rerun.getvalue()
