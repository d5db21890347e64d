"""Issue 16 item 3: a manifest a CRM can use (chosen data columns as written, title, duration,
times, share page, URL expiry, estimated credits), thumbnails beside the videos, and
run_results.json per build. Builds run the real CLI against the loopback emulator."""

from __future__ import annotations

import csv
import json
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from buildkit import LoopbackHeyGen, run_vidbuild

from vidbuild.heygen.client._media import jpeg_problem
from vidbuild.report.manifest import FIELDS
from vidbuild.run.finished import SIGNED_URL_LIFETIME, take_finished, url_expiry
from vidbuild.state.disk import DiskState
from vidbuild.state.protocol import Record

CRM_YAML = """\
    version: 1
    name: crm
    data:
      source: people.csv
      key: "{{ row.id }}"
    video:
      title: "Hi {{ row.first_name }}"
      dimension: {width: 1280, height: 720}
    defaults:
      avatar: {avatar_id: Daisy-inskirt-20220818}
      voice: {voice_id: 2d5b0e6cf36f460aa7fc47e3eee4ba54}
      background: {type: color, value: "#0B1F3A"}
    scenes:
      - id: hello
        voice: {text: "Hi {{ row.first_name }}, welcome aboard!"}
    output: "out/{{ key }}.mp4"
    thumbnail: "out/{{ key }}.jpg"
    manifest:
      columns: [email, first_name, zip]
"""
PEOPLE = [
    {"id": "p1", "email": "ana@example.com", "first_name": "Ana", "zip": "01730", "plan": "pro"},
    {"id": "p2", "email": "bo@example.com", "first_name": "Bo", "zip": "02134", "plan": "free"},
    {"id": "p3", "email": "cy@example.com", "first_name": "Cy, Jr.", "zip": "00501", "plan": "pro"},
]
ISO = "%Y-%m-%dT%H:%M:%SZ"


def write_crm_project(root: Path, people: list[dict[str, str]], yaml: str = CRM_YAML) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "vidbuild.yaml").write_text(textwrap.dedent(yaml), encoding="utf-8")
    with (root / "people.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(people[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(people)
    return root


def cli_build(project: Path, heygen: LoopbackHeyGen) -> tuple[int, str]:
    run = run_vidbuild("build", str(project), env=heygen.env(), timeout=120)
    return run.code, run.stderr


def seconds(text: str) -> float:
    return datetime.strptime(text, ISO).replace(tzinfo=UTC).timestamp()


def run_results(project: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((project / "out" / "run_results.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture
def crm(tmp_path: Path) -> Path:
    return write_crm_project(tmp_path / "crm", PEOPLE)


def test_manifest_csv_loads_as_a_mail_merge_table_with_the_chosen_columns(
        crm: Path, heygen: LoopbackHeyGen) -> None:
    before = time.time()
    code, err = cli_build(crm, heygen)
    assert code == 0, err

    with (crm / "out" / "manifest.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        table = list(reader)
    assert reader.fieldnames == [*FIELDS, "email", "first_name", "zip"]
    merge = [{name: row[name] for name in ("email", "first_name", "zip")} for row in table]
    # As written: the leading zeros stay, the comma in a name is quoted, not split.
    assert merge == [{name: person[name] for name in ("email", "first_name", "zip")} for person in PEOPLE]
    for row, person in zip(table, PEOPLE, strict=True):
        assert row["status"] == "done" and row["title"] == f"Hi {person['first_name']}"
        assert float(row["duration"]) > 0 and float(row["credits_estimated"]) > 0
        assert before - 1 <= seconds(row["created_at"]) <= seconds(row["completed_at"]) <= time.time() + 1
        assert row["video_page_url"].startswith(f"{heygen.url}/share/{row['video_id']}")
        expires = int(parse_qs(urlsplit(row["video_url"]).query)["Expires"][0])
        assert seconds(row["urls_expire_at"]) == expires


def test_manifest_json_carries_the_new_fields_and_the_columns_as_written(
        crm: Path, heygen: LoopbackHeyGen) -> None:
    code, err = cli_build(crm, heygen)
    assert code == 0, err

    document = json.loads((crm / "out" / "manifest.json").read_text(encoding="utf-8"))
    for entry, person in zip(document["videos"], PEOPLE, strict=True):
        assert tuple(entry) == (*FIELDS, "columns")
        assert entry["columns"] == {"email": person["email"], "first_name": person["first_name"],
                                    "zip": person["zip"]}
        assert entry["thumbnail"] == f"out/{person['id']}.jpg"
        assert isinstance(entry["duration"], float) and isinstance(entry["credits_estimated"], float)
        for name in ("created_at", "completed_at", "urls_expire_at"):
            assert datetime.strptime(entry[name], ISO), name


def test_thumbnails_downloaded_beside_the_videos_are_jpegs(crm: Path, heygen: LoopbackHeyGen) -> None:
    code, err = cli_build(crm, heygen)
    assert code == 0, err

    for person in PEOPLE:
        thumbnail = crm / "out" / f"{person['id']}.jpg"
        assert thumbnail.is_file(), person["id"]
        assert jpeg_problem(thumbnail) is None
    leftovers = [path.name for path in (crm / "out").iterdir() if path.name.startswith(".")]
    assert leftovers == []


def test_a_missing_thumbnail_is_fetched_again_without_paying(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    # Built before the project asked for thumbnails: a later build fetches them, sending no video.
    no_thumbnails = CRM_YAML.replace('    thumbnail: "out/{{ key }}.jpg"\n', "")
    project = write_crm_project(tmp_path / "crm", PEOPLE, no_thumbnails)
    assert cli_build(project, heygen)[0] == 0
    assert not list((project / "out").glob("*.jpg"))
    videos = {person["id"]: (project / "out" / f"{person['id']}.mp4").stat().st_mtime_ns for person in PEOPLE}

    write_crm_project(project, PEOPLE)
    code, err = cli_build(project, heygen)
    assert code == 0, err
    (project / "out" / "p2.jpg").unlink()
    code, err = cli_build(project, heygen)

    assert code == 0, err
    assert len(heygen.submits()) == len(PEOPLE)
    for person in PEOPLE:
        assert jpeg_problem(project / "out" / f"{person['id']}.jpg") is None
        assert (project / "out" / f"{person['id']}.mp4").stat().st_mtime_ns == videos[person["id"]]
    assert {entry["key"]: entry["thumbnail"] for entry in json.loads(
        (project / "out" / "manifest.json").read_text(encoding="utf-8"))["videos"]} == {
        person["id"]: f"out/{person['id']}.jpg" for person in PEOPLE}


def test_the_jpeg_check_refuses_what_is_not_a_jpeg(tmp_path: Path) -> None:
    # The check the thumbnail test relies on must be able to fail.
    fake = tmp_path / "x.jpg"
    fake.write_bytes(b"\x00\x00\x00\x18ftypmp42 not a jpeg")
    assert jpeg_problem(fake) is not None


def test_run_results_counts_match_the_build(crm: Path, heygen: LoopbackHeyGen) -> None:
    code, err = cli_build(crm, heygen)
    assert code == 0, err
    first = run_results(crm)
    assert first["counts"] == {"built": 3, "up_to_date": 0, "failed": 0, "unfinished": 0}
    assert first["exit_code"] == 0 and first["failures"] == []
    assert first["credits"]["estimated"] is True
    manifest_credits = [entry["credits_estimated"] for entry in
                        json.loads((crm / "out" / "manifest.json").read_text(encoding="utf-8"))["videos"]]
    assert first["credits"]["built"] == pytest.approx(sum(manifest_credits))
    assert first["credits"]["planned"] == pytest.approx(sum(manifest_credits), abs=0.02)
    assert first["timing"]["elapsed_seconds"] >= 0
    assert seconds(first["timing"]["started_at"]) <= seconds(first["timing"]["completed_at"])
    assert first["metadata"]["project"] == "crm" and first["metadata"]["vidbuild_version"]
    assert first["backend"] == {"name": "heygen", "base_url": heygen.url}
    assert first["args"]["force"] == [] and "jobs" in first["args"]
    assert "test-key" not in json.dumps(first)

    code, err = cli_build(crm, heygen)   # unchanged: answered from the snapshot, still reported
    assert code == 0, err
    again = run_results(crm)
    assert again["counts"] == {"built": 0, "up_to_date": 3, "failed": 0, "unfinished": 0}
    assert again["credits"]["built"] == 0 and again["metadata"]["project"] == "crm"


def test_run_results_lists_each_failure_with_its_key_and_error(tmp_path: Path,
                                                              heygen: LoopbackHeyGen) -> None:
    project = write_crm_project(tmp_path / "crm", PEOPLE[:2])
    assert cli_build(project, heygen)[0] == 0
    write_crm_project(project, PEOPLE)
    heygen.restart(faults={"render_fail": 1.0})

    code, err = cli_build(project, heygen)

    assert code == 1, err
    results = run_results(project)
    assert results["counts"] == {"built": 0, "up_to_date": 2, "failed": 1, "unfinished": 0}
    assert [failure["key"] for failure in results["failures"]] == ["p3"]
    assert "HeyGen failed the render" in results["failures"][0]["error"]
    assert results["exit_code"] == 1 and results["credits"]["built"] == 0


def test_an_unknown_manifest_column_is_a_located_exit_2_error(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = write_crm_project(tmp_path / "crm", PEOPLE, CRM_YAML.replace("[email, first_name, zip]",
                                                                          "[email, frist_name, zip]"))

    code, err = cli_build(project, heygen)

    assert code == 2, err
    assert "vidbuild.yaml:19:" in err and "unknown column 'frist_name'" in err
    assert "row p1" in err and "Traceback" not in err
    assert heygen.submits() == []
    assert not (project / "out").exists()


def test_a_column_named_like_a_manifest_field_is_refused(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    people = [{**person, "status": "vip"} for person in PEOPLE]
    project = write_crm_project(tmp_path / "crm", people, CRM_YAML.replace("[email, first_name, zip]",
                                                                          "[email, status]"))

    code, err = cli_build(project, heygen)

    assert code == 2, err
    assert "vidbuild.yaml:19:" in err and "'status' is one of the manifest's own fields" in err
    assert heygen.submits() == []


def test_a_thumbnail_on_the_video_output_is_refused(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = write_crm_project(tmp_path / "crm", PEOPLE, CRM_YAML.replace('"out/{{ key }}.jpg"',
                                                                          '"out/{{ key }}.mp4"'))

    code, err = cli_build(project, heygen)

    assert code == 2, err
    assert "is the row's video output" in err and heygen.submits() == []


def test_a_thumbnail_outside_the_project_is_refused(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = write_crm_project(tmp_path / "crm", PEOPLE, CRM_YAML.replace('"out/{{ key }}.jpg"',
                                                                          '"../{{ key }}.jpg"'))

    code, err = cli_build(project, heygen)

    assert code == 2, err
    assert "vidbuild.yaml:17:" in err and heygen.submits() == []


# --- state: the new fields, and records written before them --------------------------------------

def test_url_expiry_comes_from_the_signed_url_else_from_the_documented_lifetime() -> None:
    from vidbuild.heygen.client import VideoStatus

    assert url_expiry("https://x/v.mp4?Expires=1732600000&Signature=abc") == 1732600000.0
    assert url_expiry("https://x/v.mp4?Signature=abc") is None
    assert url_expiry("https://x/v.mp4?Expires=soon") is None
    record = Record(hash="h", key="k", kind="video", status="rendering")
    take_finished(record, VideoStatus("v", "completed", video_url="https://x/v.mp4", duration=3.0,
                                      created_at=100.0), read_at=1000.0)
    assert record.urls_expire_at == 1000.0 + SIGNED_URL_LIFETIME
    assert (record.created_at, record.completed_at, record.video_page_url) == (100.0, 1000.0, None)
    from vidbuild.heygen.client._v3_replies import VideoDetail

    detail = VideoDetail("v", "completed", video_url="https://x/v.mp4", created_at=100.0,
                         completed_at=900.0, video_page_url="https://app/share/v")
    take_finished(record, detail, read_at=1000.0)
    assert (record.completed_at, record.video_page_url) == (1000.0, "https://app/share/v")   # our clock


def test_a_record_written_before_the_new_fields_still_loads(tmp_path: Path) -> None:
    old = {"hash": "h1", "key": "k1", "kind": "video", "status": "downloaded", "owner": "o",
           "video_id": "v1", "video_url": "https://x/v.mp4", "attempts": 1, "updated_at": 1.0}
    record = Record.from_json(old)
    assert (record.created_at, record.video_page_url, record.urls_expire_at, record.thumbnail) == (
        None, None, None, None)

    state = DiskState(tmp_path / "state", "test")
    try:
        state._cache.set("job:h1", old)   # exactly as an earlier vidbuild wrote it
        loaded = state.get("h1")
        assert loaded is not None and loaded.video_id == "v1" and loaded.thumbnail is None
    finally:
        state.close()


def test_the_new_fields_survive_a_round_trip_through_disk_state(tmp_path: Path) -> None:
    record = Record(hash="h2", key="k2", kind="video", status="claimed", owner="o", claimed_at=5.0,
                    created_at=10.0, video_page_url="https://x/share/v", urls_expire_at=20.0,
                    thumbnail="out/k2.jpg")
    state = DiskState(tmp_path / "state", "test")
    try:
        state._cache.set("job:h2", record.to_json())
        assert state.get("h2") == record
    finally:
        state.close()
