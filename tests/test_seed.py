"""Seeding a new state from the last manifest (issue 13 item 2): a fresh CI runner with ``out/``
restored from a cache sends nothing for the files still intact, fetches a damaged or missing one
again through its status (never resubmitting it), and trusts nothing the files don't confirm."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from buildkit import (
    LoopbackHeyGen,
    is_status_read,
    manifest,
    rows,
    run_vidbuild,
    sha256,
    write_project,
    write_rows,
)

ROWS = 6
KEYS = [row["id"] for row in rows(ROWS)]


def built_once(tmp_path: Path, heygen: LoopbackHeyGen) -> Path:
    """The campaign built on a first runner; returns its project directory."""
    first = write_project(tmp_path / "runner1" / "campaign", rows(ROWS))
    run = run_vidbuild("build", str(first), env=heygen.env())
    assert run.code == 0, run.stderr
    return first


def fresh_runner(tmp_path: Path, first: Path, name: str = "runner2") -> Path:
    """A clean checkout (the project's files, no .vidbuild) with out/ restored from a cache."""
    project = write_project(tmp_path / name / "campaign", rows(ROWS))
    shutil.copytree(first / "out", project / "out")   # new mtimes, as a cache restore gives
    return project


def test_the_manifest_records_each_files_checksum_and_size(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    first = built_once(tmp_path, heygen)
    for key, entry in manifest(first).items():
        data = (first / "out" / f"{key}.mp4").read_bytes()
        assert (entry["checksum"], entry["size"]) == (sha256(data), len(data))
        assert entry["video_id"] and entry["hash"]


def test_a_fresh_runner_with_out_restored_sends_nothing(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    first = built_once(tmp_path, heygen)
    project = fresh_runner(tmp_path, first)
    before = len(heygen.requests())

    planned = run_vidbuild("plan", str(project), env=heygen.env())
    assert planned.code == 0 and planned.stdout.startswith(f"{ROWS} up-to-date;"), planned.stdout
    run = run_vidbuild("build", str(project), env=heygen.env())

    assert run.code == 0, run.stderr
    assert heygen.requests()[before:] == []
    assert f"0 built, {ROWS} up to date, 0 failed" in run.stderr
    assert manifest(project) == manifest(first)
    heygen.assert_all_built(project, KEYS)


def test_a_damaged_or_missing_file_is_fetched_again_through_its_status(tmp_path: Path,
                                                                       heygen: LoopbackHeyGen) -> None:
    first = built_once(tmp_path, heygen)
    project = fresh_runner(tmp_path, first)
    damaged = project / "out" / "r02.mp4"
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\0")   # same size, other bytes
    (project / "out" / "r05.mp4").unlink()
    before = len(heygen.requests())

    planned = run_vidbuild("plan", str(project), env=heygen.env())
    assert "download    r02  rendered, not downloaded yet" in planned.stdout, planned.stdout
    run = run_vidbuild("build", str(project), env=heygen.env())

    assert run.code == 0, run.stderr
    sent = heygen.requests()[before:]
    assert heygen.submits() == heygen.submits()[:ROWS]           # nothing submitted again
    assert len(heygen.emulator.videos()) == ROWS
    reads = [r for r in sent if is_status_read(r.path)]
    assert 1 <= len(reads) <= 2, [r.path for r in sent]         # one read per video (or one for both)
    assert all(r.method == "GET" for r in sent)
    heygen.assert_all_built(project, KEYS)
    heygen.assert_each_body_paid_once()


def test_an_edited_row_is_new_the_others_are_seeded(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    first = built_once(tmp_path, heygen)
    project = fresh_runner(tmp_path, first)
    edited = rows(ROWS)
    edited[0]["line"] = "a new line"
    write_rows(project, edited)

    run = run_vidbuild("build", str(project), env=heygen.env())

    assert run.code == 0, run.stderr
    assert len(heygen.submits()) == ROWS + 1
    assert f"1 built, {ROWS - 1} up to date, 0 failed" in run.stderr


def test_a_manifest_is_trusted_only_as_far_as_the_files_confirm(tmp_path: Path,
                                                                 heygen: LoopbackHeyGen) -> None:
    first = built_once(tmp_path, heygen)
    project = fresh_runner(tmp_path, first)
    path = project / "out" / "manifest.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    lying = document["videos"][0]
    lying["checksum"] = "0" * 64                       # the file no longer matches: fetched again
    document["videos"][1]["size"] = "12"               # not a number: not trusted at all
    document["videos"][2]["output"] = "../elsewhere.mp4"   # outside the project: not trusted
    path.write_text(json.dumps(document), encoding="utf-8")

    run = run_vidbuild("build", str(project), env=heygen.env())

    assert run.code == 0, run.stderr
    assert len(heygen.submits()) == ROWS                # looked up in the account, never paid again
    heygen.assert_all_built(project, KEYS)


def test_another_projects_or_apis_or_a_broken_manifest_seeds_nothing(tmp_path: Path,
                                                                     heygen: LoopbackHeyGen) -> None:
    first = built_once(tmp_path, heygen)
    written = json.loads((first / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert written["api"].startswith("127.0.0.1")
    for name, change in (("runner2", {"project": "another"}),
                         ("runner3", {"api": "vidbuild-emulator"}),   # its video ids mean nothing here
                         ("runner4", None)):
        project = fresh_runner(tmp_path, first, name)
        path = project / "out" / "manifest.json"
        if change is not None:
            document = json.loads(path.read_text(encoding="utf-8"))
            path.write_text(json.dumps({**document, **change}), encoding="utf-8")
        else:
            path.write_text("{not json", encoding="utf-8")
        planned = run_vidbuild("plan", str(project), env=heygen.env())
        assert planned.code == 0, planned.stderr
        assert "new, its output exists (will look in the account first)" in planned.stdout or \
               "new (will look in the account first)" in planned.stdout, planned.stdout
    assert len(heygen.submits()) == ROWS


def test_a_state_that_holds_jobs_is_not_seeded(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    first = built_once(tmp_path, heygen)
    (first / "out" / "r03.mp4").unlink()
    planned = run_vidbuild("plan", str(first), env=heygen.env())
    assert "download    r03  output file is missing" in planned.stdout, planned.stdout
