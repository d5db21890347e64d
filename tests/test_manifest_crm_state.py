"""The CRM manifest (issue 16 item 3) against today's state: rows known unchanged keep their whole
entry (no record read for them), a restored runner seeds from the manifest (old manifests too),
the new Record fields pass through PostgreSQL and state export/import, and a build stopped by
SIGTERM still leaves run_results.json.

The CLI runs as a subprocess against the loopback emulator; PostgreSQL is the real cluster of
tests/conftest.py.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from buildkit import LoopbackHeyGen, rows, run_vidbuild, start_vidbuild, write_project
from pg_cluster import Cluster
from test_manifest_crm import CRM_YAML, PEOPLE, run_results, write_crm_project

from vidbuild.state.known_rows import KnownRow
from vidbuild.state.postgres import PostgresState
from vidbuild.state.protocol import Record

NEW_FIELDS = ("thumbnail", "title", "duration", "created_at", "completed_at", "video_page_url",
              "urls_expire_at", "credits_estimated")
OLD_FIELDS = ("key", "hash", "video_id", "status", "output", "video_url", "thumbnail_url", "error",
              "checksum", "size")


def entries(project: Path) -> dict[str, dict[str, Any]]:
    document = json.loads((project / "out" / "manifest.json").read_text(encoding="utf-8"))
    return {item["key"]: item for item in document["videos"]}


def built(project: Path, heygen: LoopbackHeyGen) -> None:
    run = run_vidbuild("build", str(project), env=heygen.env(), timeout=120)
    assert run.code == 0, run.stderr


@pytest.mark.parametrize("thumbnails", [True, False])
def test_an_edited_row_build_keeps_the_unchanged_rows_entries_whole(tmp_path: Path, heygen: LoopbackHeyGen,
                                                                    thumbnails: bool) -> None:
    yaml = CRM_YAML if thumbnails else CRM_YAML.replace('    thumbnail: "out/{{ key }}.jpg"\n', "")
    project = write_crm_project(tmp_path / "crm", PEOPLE, yaml)
    built(project, heygen)
    before = entries(project)
    assert all(before[key][name] is not None for key in before
               for name in ("checksum", "title", "created_at", "completed_at", "credits_estimated"))
    assert all((before[key]["thumbnail"] is not None) == thumbnails for key in before)
    people = [dict(person) for person in PEOPLE]
    people[1]["first_name"] = "Bob"
    write_crm_project(project, people, yaml)

    built(project, heygen)

    after = entries(project)
    assert after["p1"] == before["p1"] and after["p3"] == before["p3"]   # read from their known rows
    assert after["p2"]["status"] == "done" and after["p2"]["hash"] != before["p2"]["hash"]
    assert after["p2"]["columns"] == {"email": "bo@example.com", "first_name": "Bob", "zip": "02134"}
    assert after["p2"]["title"] == "Hi Bob"
    results = run_results(project)
    assert results["counts"] == {"built": 1, "up_to_date": 2, "failed": 0, "unfinished": 0}
    assert results["credits"]["built"] == after["p2"]["credits_estimated"] > 0


def test_a_deleted_thumbnail_of_a_known_row_is_fetched_again_unpaid(tmp_path: Path,
                                                                    heygen: LoopbackHeyGen) -> None:
    project = write_crm_project(tmp_path / "crm", PEOPLE)
    built(project, heygen)
    (project / "out" / "p2.jpg").unlink()
    submits = len(heygen.submits())

    planned = run_vidbuild("plan", str(project), env=heygen.env())
    assert "thumbnail file is missing" in planned.stdout, planned.stdout
    built(project, heygen)

    assert (project / "out" / "p2.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    assert len(heygen.submits()) == submits
    assert entries(project)["p2"]["thumbnail"] == "out/p2.jpg"


def restored(tmp_path: Path, first: Path, name: str) -> Path:
    """A clean checkout of ``first`` (no state) with its out/ restored, as a CI cache gives it."""
    project = write_crm_project(tmp_path / name / "crm", PEOPLE)
    shutil.copytree(first / "out", project / "out")
    return project


def test_a_restored_runner_seeds_the_manifest_facts_and_sends_nothing(tmp_path: Path,
                                                                      heygen: LoopbackHeyGen) -> None:
    first = write_crm_project(tmp_path / "first" / "crm", PEOPLE)
    built(first, heygen)
    project = restored(tmp_path, first, "second")
    requests = len(heygen.requests())

    built(project, heygen)

    assert heygen.requests()[requests:] == []
    assert entries(project) == entries(first)


def test_a_manifest_written_before_the_new_fields_still_seeds(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    first = write_crm_project(tmp_path / "first" / "crm", PEOPLE)
    built(first, heygen)
    project = restored(tmp_path, first, "second")
    path = project / "out" / "manifest.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    document["videos"] = [{name: item[name] for name in OLD_FIELDS} for item in document["videos"]]
    path.write_text(json.dumps(document), encoding="utf-8")
    requests = len(heygen.requests())

    planned = run_vidbuild("plan", str(project), env=heygen.env())
    assert planned.code == 0 and planned.stdout.startswith("3 up-to-date;"), planned.stdout
    built(project, heygen)

    assert heygen.requests()[requests:] == []
    now = entries(project)
    assert all(now[key]["checksum"] == entries(first)[key]["checksum"] for key in now)
    # Such a manifest can't say which JPEG is the video's: the file stays, unlisted, as vidbuild's own.
    assert all(now[key]["thumbnail"] is None for key in now)


def test_a_known_row_remembered_before_the_new_fields_still_loads() -> None:
    old = {"key": "p1", "fingerprint": "f" * 64, "hash": "a" * 64, "output": "out/p1.mp4",
           "generation": "legacy", "route_reason": "", "size": 3, "mtime_ns": 5, "video_id": "v1"}
    row = KnownRow.from_json(old)
    assert (row.video_id, row.title, row.checksum, row.credits_estimated) == ("v1", None, None, None)


def finished_record(**fields: Any) -> Record:
    return Record(hash="b" * 64, key="p1", kind="video", status="downloaded", video_id="v1",
                  output="out/p1.mp4", created_at=1_700_000_000.0, video_page_url="https://app.heygen.com/share/v1",
                  urls_expire_at=1_700_604_800.0, thumbnail="out/p1.jpg", credits_estimated=0.05,
                  **fields)


def test_postgres_keeps_the_new_record_and_known_row_fields(url: str) -> None:
    state = PostgresState(url, "crm/ns")
    try:
        record = finished_record(checksum="c" * 64, size=3, mtime_ns=5)
        assert state.record(record)
        again = state.get(record.hash)
        assert again is not None
        assert {name: getattr(again, name) for name in NEW_FIELDS} == \
            {name: getattr(record, name) for name in NEW_FIELDS}
        known = KnownRow(key="p1", fingerprint="f" * 64, hash=record.hash, output="out/p1.mp4",
                         generation="legacy", route_reason="", size=3, mtime_ns=5, checksum="c" * 64,
                         title="Hi Ana", thumbnail="out/p1.jpg", created_at=1_700_000_000.0)
        state.remember_rows([known])
        assert state.known_rows(["f" * 64]) == {"f" * 64: known}
    finally:
        state.close()


def test_export_and_import_through_postgres_keep_the_new_fields(tmp_path: Path, heygen: LoopbackHeyGen,
                                                                cluster: Cluster) -> None:
    project = write_crm_project(tmp_path / "crm", PEOPLE)
    built(project, heygen)
    url = cluster.new_database()
    first, second = tmp_path / "disk.jsonl", tmp_path / "pg.jsonl"
    for args in (("state", "export", str(project), "-o", str(first)),
                 ("state", "import", str(first), str(project), "--state-url", url),
                 ("state", "export", str(project), "--state-url", url, "-o", str(second))):
        run = run_vidbuild(*args, env=heygen.env())
        assert run.code == 0, (args, run.stderr)

    exported = [json.loads(line) for line in first.read_text(encoding="utf-8").splitlines()[1:]]
    assert all(record[name] is not None for record in exported
               for name in ("created_at", "urls_expire_at", "thumbnail", "credits_estimated"))
    assert sorted(second.read_text(encoding="utf-8").splitlines()) == \
        sorted(first.read_text(encoding="utf-8").splitlines())


def test_an_import_refuses_a_new_field_of_the_wrong_type_naming_its_line(tmp_path: Path,
                                                                       heygen: LoopbackHeyGen) -> None:
    project = write_crm_project(tmp_path / "crm", PEOPLE)
    built(project, heygen)
    export = tmp_path / "state.jsonl"
    assert run_vidbuild("state", "export", str(project), "-o", str(export), env=heygen.env()).code == 0
    header, first, *rest = export.read_text(encoding="utf-8").splitlines()
    export.write_text("\n".join([header, json.dumps({**json.loads(first), "urls_expire_at": "soon"}), *rest]),
                      encoding="utf-8")

    run = run_vidbuild("state", "import", str(export), str(project), "--state-dir", str(tmp_path / "other"),
                       env=heygen.env())

    assert run.code == 2, run.stderr
    assert f"{export.name}:2: urls_expire_at: expected a number or null" in run.stderr, run.stderr


def test_a_build_stopped_by_sigterm_still_writes_run_results(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "campaign", rows(6))
    process = start_vidbuild("build", "-j", "2", str(project),
                             env=heygen.env(VIDBUILD_TIMING_SCALE="0.005"))
    deadline = time.monotonic() + 60
    while len(heygen.submits()) < 2:   # synchronisation, not timing
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)

    assert process.returncode == 143, err
    results = run_results(project)
    assert results["exit_code"] == 143 and results["stopped"] == "terminated (SIGTERM)"
    counts = results["counts"]
    assert counts["unfinished"] >= 1 and counts["failed"] == 0
    assert sum(counts.values()) <= 6
    assert {row["status"] for row in results["unfinished"]} <= {"claimed", "uncertain", "submitted",
                                                                  "rendering", "completed"}


def test_the_review_page_shows_the_thumbnail_the_project_asked_for(tmp_path: Path,
                                                                    heygen: LoopbackHeyGen) -> None:
    yaml = CRM_YAML.replace('thumbnail: "out/{{ key }}.jpg"', 'thumbnail: "out/stills/{{ key }}-still.jpg"')
    project = write_crm_project(tmp_path / "crm", PEOPLE, yaml)
    built(project, heygen)
    assert (project / "out" / "stills" / "p1-still.jpg").is_file()

    run = run_vidbuild("review", str(project), env=heygen.env())

    assert run.code == 0, run.stderr
    page = (project / "out" / "review.html").read_text(encoding="utf-8")
    assert all(f'src="stills/{key}-still.jpg"' in page for key in ("p1", "p2", "p3")), page
