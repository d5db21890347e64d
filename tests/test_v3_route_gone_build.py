"""A build against a server whose legacy reads are retired: a gone route never fails a video.

Until the engine reads through v3, ``vidbuild build`` against ``legacy=gone`` must stop
with exit 3 and keep its state (the videos were created through the kept
``/v2/video/generate``), so that a rerun once the reads answer again resumes without
paying twice. Treating the 404 as "HeyGen no longer knows the video" would resubmit.
"""

from __future__ import annotations

from pathlib import Path

from buildkit import LoopbackHeyGen, rows, run_vidbuild, write_project


def test_retired_status_route_stops_the_build_and_a_rerun_pays_nothing_again(tmp_path: Path) -> None:
    heygen = LoopbackHeyGen(tmp_path / "emulator", legacy="gone")
    try:
        project = write_project(tmp_path / "project", rows(3))
        first = run_vidbuild("build", str(project), env=heygen.env())
        assert first.code == 3, first.stderr
        assert "route itself is not served" in first.stderr
        assert "Traceback" not in first.stderr and "internal error" not in first.stderr
        assert len(heygen.submits()) == 3

        heygen.restart()  # the reads answer again
        second = run_vidbuild("build", str(project), env=heygen.env())
        assert second.code == 0, second.stderr
        assert len(heygen.submits()) == 3
        heygen.assert_each_body_paid_once()
        heygen.assert_all_built(project, ["r01", "r02", "r03"])
    finally:
        heygen.close()
