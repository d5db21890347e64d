"""``vidbuild state export`` / ``import`` (issue 13 item 5): JSON lines between a state directory
and a PostgreSQL database (a real server on loopback, see pg_cluster.py).

A round trip disk → JSON lines → PostgreSQL → JSON lines → disk keeps every record as it was; an
import never overwrites a newer record; a bad line is refused naming the file, line and field,
with nothing written; an in-flight claim moved elsewhere is reconciled, never resent blindly.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from buildkit import LoopbackHeyGen, rows, run_vidbuild, write_project
from pg_cluster import Cluster

from vidbuild.state.disk import DiskState
from vidbuild.state.protocol import Record
from vidbuild.state.transfer import import_records, newer

ROWS = 5
KEYS = [row["id"] for row in rows(ROWS)]


def lines(path: Path) -> tuple[dict[str, object], list[dict[str, object]]]:
    """An export's header and its records, sorted by hash."""
    header, *records = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines())
    return header, sorted(records, key=lambda record: str(record["hash"]))


def test_a_round_trip_disk_database_disk_keeps_every_record(tmp_path: Path, heygen: LoopbackHeyGen,
                                                            cluster: Cluster) -> None:
    project = write_project(tmp_path / "campaign", rows(ROWS))
    assert run_vidbuild("build", str(project), env=heygen.env()).code == 0
    url = cluster.new_database()
    env = heygen.env()
    first, second, third = (tmp_path / name for name in ("disk.jsonl", "pg.jsonl", "back.jsonl"))

    steps = [("state", "export", str(project), "-o", str(first)),
             ("state", "import", str(first), str(project), "--state-url", url),
             ("state", "export", str(project), "--state-url", url, "-o", str(second)),
             ("state", "import", str(second), str(project), "--state-dir", str(tmp_path / "other")),
             ("state", "export", str(project), "--state-dir", str(tmp_path / "other"), "-o", str(third))]
    for args in steps:
        run = run_vidbuild(*args, env=env)
        assert run.code == 0, (args, run.stderr)

    header, records = lines(first)
    assert header["vidbuild_state"] == 1 and header["project"] == "campaign" and header["records"] == ROWS
    assert sorted(str(r["key"]) for r in records) == KEYS
    assert all(r["status"] == "downloaded" for r in records)
    assert lines(second) == (header, records) == lines(third)
    assert len(heygen.submits()) == ROWS


def test_a_fresh_checkout_over_the_imported_database_pays_nothing(tmp_path: Path, heygen: LoopbackHeyGen,
                                                                  cluster: Cluster) -> None:
    project = write_project(tmp_path / "laptop" / "campaign", rows(ROWS))
    assert run_vidbuild("build", str(project), env=heygen.env()).code == 0
    exported = run_vidbuild("state", "export", str(project), env=heygen.env())
    assert exported.code == 0 and "exported 5 records" in exported.stderr
    (tmp_path / "state.jsonl").write_text(exported.stdout, encoding="utf-8")
    url = cluster.new_database()
    runner = write_project(tmp_path / "ci" / "campaign", rows(ROWS))
    env = heygen.env(VIDBUILD_STATE_URL=url)
    assert run_vidbuild("state", "import", str(tmp_path / "state.jsonl"), str(runner), env=env).code == 0
    before = len(heygen.requests())

    run = run_vidbuild("build", str(runner), env=env)

    assert run.code == 0, run.stderr
    assert len(heygen.submits()) == ROWS
    assert all(r.method == "GET" for r in heygen.requests()[before:])   # downloads and reads only
    heygen.assert_all_built(runner, KEYS)


def record(content_hash: str, claimed_at: float | None, updated_at: float, video_id: str) -> Record:
    return Record(hash=content_hash, key="r01", kind="video", status="submitted", video_id=video_id,
                  claimed_at=claimed_at, updated_at=updated_at)


def test_an_import_never_overwrites_a_newer_record(tmp_path: Path) -> None:
    store = DiskState(tmp_path / ".vidbuild", "ns")
    try:
        hashes = [f"{n:064x}" for n in range(4)]
        for content_hash in hashes:
            assert store.merge(record(content_hash, 100.0, 200.0, "here"), newer)
        incoming = [record(hashes[0], 50.0, 900.0, "older claim"),       # kept: an older claim
                    record(hashes[1], 100.0, 150.0, "same claim, older"),  # kept
                    record(hashes[2], 100.0, 250.0, "same claim, later"),  # written
                    record(hashes[3], None, 999.0, "no claim")]            # kept: older than any claim
        done = import_records(store, incoming)
        assert (done.written, done.kept) == (1, 3)
        assert [store.get(h).video_id for h in hashes] == ["here", "here", "same claim, later", "here"]  # type: ignore[union-attr]
        assert store.get(hashes[2]).updated_at == 250.0   # type: ignore[union-attr]
        again = import_records(store, [record(hashes[0], 300.0, 300.0, "a later claim")])
        assert again.written == 1 and store.get(hashes[0]).video_id == "a later claim"  # type: ignore[union-attr]
    finally:
        store.close()


def test_the_same_rule_holds_on_the_database(cluster: Cluster) -> None:
    from vidbuild.state.postgres import PostgresState

    store = PostgresState(cluster.new_database(), "campaign/ns")
    try:
        content_hash = "a" * 64
        assert store.merge(record(content_hash, 100.0, 200.0, "here"), newer)
        assert not store.merge(record(content_hash, 50.0, 900.0, "older claim"), newer)
        assert store.merge(record(content_hash, 100.0, 250.0, "later"), newer)
        assert store.get(content_hash).video_id == "later"   # type: ignore[union-attr]
    finally:
        store.close()


@pytest.mark.parametrize(("line", "message"), [
    ("not json", "3: not JSON: "),
    ("[1, 2]", "3: expected a JSON object, got list"),
    ('{"hash": "' + "b" * 64 + '", "kind": "video", "status": "downloaded"}',
     "3: key: expected a non-empty string, got null"),
    ('{"hash": "zz", "key": "r09", "kind": "video", "status": "downloaded"}',
     '3: hash: expected 64 lowercase hex digits, got "zz"'),
    ('{"hash": "' + "b" * 64 + '", "key": "r09", "kind": "video", "status": "done"}',
     '3: status: expected one of claimed, completed, downloaded, failed, rendering, '
     'submitted, uncertain, got "done"'),
    ('{"hash": "' + "b" * 64 + '", "key": "r09", "kind": "video", "status": "downloaded", "attempts": 1, '
     '"size": "12", "lost_at": "x"}',
     '3: size: expected a whole number or null, got "12"'),
])
def test_a_bad_line_is_refused_by_file_and_line_and_nothing_is_written(
        tmp_path: Path, heygen: LoopbackHeyGen, line: str, message: str) -> None:
    project = write_project(tmp_path / "campaign", rows(2))
    assert run_vidbuild("build", str(project), env=heygen.env()).code == 0
    exported = run_vidbuild("state", "export", str(project), env=heygen.env()).stdout.splitlines()
    shutil.rmtree(project / ".vidbuild")
    (tmp_path / "state.jsonl").write_text("\n".join([*exported[:2], line, *exported[2:]]) + "\n",
                                          encoding="utf-8")

    source = tmp_path / "state.jsonl"
    run = run_vidbuild("state", "import", str(source), str(project), env=heygen.env())

    assert run.code == 2, run.stderr
    assert run.stderr.startswith(f"vidbuild: error: {source}:{message}"), run.stderr
    assert "Traceback" not in run.stderr
    exported_now = run_vidbuild("state", "export", str(project), env=heygen.env())
    assert json.loads(exported_now.stdout.splitlines()[0])["records"] == 0


def test_an_export_of_another_api_is_refused(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "campaign", rows(2))
    (tmp_path / "state.jsonl").write_text(json.dumps({"vidbuild_state": 1, "api": "elsewhere-00000000",
                                                      "project": "campaign", "records": 0}) + "\n")
    run = run_vidbuild("state", "import", str(tmp_path / "state.jsonl"), str(project), env=heygen.env())
    assert run.code == 2
    assert "these records belong to API 'elsewhere-00000000'" in run.stderr


def test_an_imported_claim_in_flight_is_reconciled_not_resent(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "campaign", rows(2))
    assert run_vidbuild("build", str(project), env=heygen.env()).code == 0
    header, records = lines_of(run_vidbuild("state", "export", str(project), env=heygen.env()).stdout)
    claimed = {**records[0], "status": "uncertain", "video_id": None, "owner": "laptop:123:abcd",
               "claimed_at": time.time(), "updated_at": time.time(), "lost_at": [time.time()]}
    other = write_project(tmp_path / "ci" / "campaign", rows(2))
    (tmp_path / "state.jsonl").write_text("\n".join(json.dumps(x) for x in (header, claimed)) + "\n")
    imported = run_vidbuild("state", "import", str(tmp_path / "state.jsonl"), str(other), env=heygen.env())
    assert imported.code == 0, imported.stderr

    planned = run_vidbuild("plan", str(other), env=heygen.env())
    assert f"reconcile   {claimed['key']}" in planned.stdout, planned.stdout


def lines_of(text: str) -> tuple[dict[str, object], list[dict[str, object]]]:
    header, *records = (json.loads(line) for line in text.splitlines())
    return header, records
