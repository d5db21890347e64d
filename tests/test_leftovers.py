"""run/files.py's ``remove_leftovers``: a killed build's temporary files go, nothing else does."""

from __future__ import annotations

import os
from pathlib import Path

from vidbuild.run.files import remove_leftovers


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
