"""A build against a server whose legacy reads are retired: a gone route never fails a video.

The videos are created through the kept ``/v2/video/generate`` (``--api legacy``) and read
through v3 once the legacy status route answers 404 for the route itself. Treating that 404
as "HeyGen no longer knows the video" would pay again.
"""

from __future__ import annotations

from pathlib import Path

from buildkit import LoopbackHeyGen, rows, run_vidbuild, write_project


def test_retired_status_route_is_read_through_v3_and_nothing_is_paid_twice(tmp_path: Path) -> None:
    heygen = LoopbackHeyGen(tmp_path / "emulator", legacy="gone")
    try:
        project = write_project(tmp_path / "project", rows(3))
        first = run_vidbuild("build", "--api", "legacy", str(project), env=heygen.env())
        assert first.code == 0, first.stderr
        assert "Traceback" not in first.stderr and "internal error" not in first.stderr
        assert {r.path for r in heygen.submits()} == {"/v2/video/generate"}
        assert all(r.status in (404, 410) for r in heygen.legacy_reads())
        heygen.assert_each_body_paid_once()
        heygen.assert_all_built(project, ["r01", "r02", "r03"])

        heygen.restart(legacy="served")  # the reads answer again
        second = run_vidbuild("build", str(project), env=heygen.env())
        assert second.code == 0, second.stderr
        assert len(heygen.submits()) == 3
    finally:
        heygen.close()
