"""run/files.py's ``remove_leftovers``: a killed build's temporary files go, nothing else does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import test_incremental
from test_incremental import ROWS, build, write_rows

from vidbuild.run.files import remove_leftovers

project = test_incremental.project     # the fixtures: the small project, the rows it rendered
rendered = test_incremental.rendered


def test_only_temporary_regular_files_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    temporary = [".c1.mp4.0123abcd.part", ".c2.mp4.89abcdef.landing", ".c3.jpg.00000000.copy",
                 ".manifest.json.ab_cd123.tmp"]
    kept = ["c1.mp4", ".hidden", ".c4.mp4.0123abcd.partial", "x.c5.mp4.0123abcd.part", ".\n.part"]
    for name in temporary + kept:
        (out / name).write_bytes(b"x")
    (out / ".d.mp4.0123abcd.part").mkdir()                         # a directory named like one
    os.symlink(out / "c1.mp4", out / ".e.mp4.0123abcd.part")        # a link named like one
    removed = remove_leftovers([out, out, tmp_path / "missing"])
    assert sorted(path.name for path in removed) == sorted(temporary)
    assert sorted(os.listdir(out)) == sorted([*kept, ".d.mp4.0123abcd.part", ".e.mp4.0123abcd.part"])
    assert (out / "c1.mp4").read_bytes() == b"x"


@pytest.mark.parametrize("after_a_complete_build", [False, True])
def test_a_build_removes_leftovers_beside_thumbnails_kept_apart_from_outputs(
        project: Path, rendered: list[str], after_a_complete_build: bool) -> None:
    spec = project / "vidbuild.yaml"
    text = spec.read_text(encoding="utf-8")
    spec.write_text(text + 'thumbnail: "thumbs/{{ key }}.jpg"\n', encoding="utf-8")
    assert build(project, rendered)[1] == 4
    if not after_a_complete_build:   # a failed download, say: no snapshot, every row decided from state
        from vidbuild.heygen.backend import backend_namespace
        from vidbuild.planner.up_to_date import forget
        from vidbuild.state.disk import DiskState

        state = DiskState(project / ".vidbuild", backend_namespace({}))
        forget(state)
        state.close()
    killed = [project / "out" / ".r3.mp4.0123abcd.part", project / "thumbs" / ".r3.jpg.0123abcd.part"]
    for path in killed:
        path.write_bytes(b"half")
    write_rows(project, [ROWS[0], ("r2", "Bea", "basic"), *ROWS[2:]])
    assert build(project, rendered) == (["r2"], 1)
    assert [path.name for path in killed if path.exists()] == []
    assert (project / "thumbs" / "r3.jpg").is_file()
