"""Issue 14, round 2: a row found unchanged is listed in the manifest as its known row keeps its
entry (JSON text and CSV line, made when it was remembered), without its record or known row
being read again. The manifest must be byte-identical to one written from the records alone.

In process: the writer over state's records against the writer over listed entries only (an
empty state). Through the CLI against the loopback emulator: an edited-row build's manifest
against a rebuild of the same state whose known rows were deleted (every row's record read).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from buildkit import LoopbackHeyGen, run_vidbuild
from test_manifest_crm import PEOPLE, run_results, write_crm_project

from vidbuild.planner.fingerprint import with_known_records
from vidbuild.planner.row_index import IndexEntry
from vidbuild.report.manifest import MANIFEST_CSV, MANIFEST_JSON, listing, write_manifest
from vidbuild.state.disk import DiskState
from vidbuild.state.protocol import Record

COLUMNS = ("email", "note", "seats")
# Values a hand-written serialiser gets wrong: quotes, commas and newlines, non-ASCII text,
# control characters, floats, booleans, nested values and nulls.
AWKWARD: list[dict[str, Any]] = [
    {"email": 'a"b@example.com', "note": "line one\nline two, with a comma", "seats": 3},
    {"email": "zoë@example.com", "note": "tab\there \u2028 and \x01", "seats": 2.5},
    {"email": None, "note": ["nested", {"deep": True}], "seats": False},
]


def _record(number: int, entry: IndexEntry) -> Record:
    return Record(hash=entry.hash, key=entry.key, kind="video", status="downloaded", output=entry.output,
                  video_id=f"vid{number}", checksum=f"{number:064x}", size=100 + number,
                  mtime_ns=10**18 + number,
                  title=f"Hi \"{number}\" — ünïcode", duration=10.5 + number, submitted_at=1.8e9 + number,
                  completed_at=1.8e9 + 60.25, video_url=f"https://x.invalid/{number}.mp4?a=1&b=2",
                  credits_estimated=0.19 * number, thumbnail=entry.thumbnail)


def _entries() -> list[IndexEntry]:
    return [IndexEntry(f"row-{n}", f"{n:064x}", f"out/row-{n}.mp4", fingerprint=f"f{n}", reused=True,
                       settled=True, thumbnail=f"out/row-{n}.jpg" if n % 2 else None, columns=values)
            for n, values in enumerate(AWKWARD)]


def _written(directory: Path) -> tuple[bytes, bytes]:
    return (directory / MANIFEST_JSON).read_bytes(), (directory / MANIFEST_CSV).read_bytes()


def test_entries_listed_as_remembered_are_the_bytes_written_from_records(tmp_path: Path) -> None:
    entries = _entries()
    records = [_record(n, entry) for n, entry in enumerate(entries)]
    state = DiskState(tmp_path / "state", "ns")
    try:
        for record in records:
            state.record(record)
        from_records = write_manifest(tmp_path / "a", "crm", lambda: entries, state, directories=["out"],
                                      columns=COLUMNS)
    finally:
        state.close()
    listed = [entry._replace(known=[record.size, record.mtime_ns, *listing(entry, record, COLUMNS)])
              for entry, record in zip(entries, records, strict=True)]
    seen: list[str] = []
    empty = DiskState(tmp_path / "empty", "ns")   # nothing to read: every row must be listed
    try:
        from_known = write_manifest(tmp_path / "b", "crm", lambda: listed, empty, directories=["out"],
                                    columns=COLUMNS, records=with_known_records,
                                    observe=lambda row, record, item: seen.append(item["status"]))
    finally:
        empty.close()

    assert _written(from_known.parent) == _written(from_records.parent)
    assert seen == ["listed"] * len(entries)
    document = json.loads(from_known.read_text(encoding="utf-8"))
    assert [video["columns"] for video in document["videos"]] == AWKWARD


def _build(project: Path, heygen: LoopbackHeyGen, *extra: str) -> None:
    run = run_vidbuild("build", str(project), *extra, env=heygen.env(), timeout=120)
    assert run.code == 0, run.stderr


def test_an_edited_row_builds_the_manifest_a_build_from_records_writes(tmp_path: Path,
                                                                       heygen: LoopbackHeyGen) -> None:
    people = [*PEOPLE, {"id": "p4", "email": "dee@example.com", "first_name": 'Dee "D"\nSmith',
                        "zip": "", "plan": "pro"}]
    project = write_crm_project(tmp_path / "crm", people)
    _build(project, heygen)
    people[1] = {**people[1], "first_name": "Bob"}
    write_crm_project(project, people)
    _build(project, heygen)   # p1, p3 and p4 listed from their known rows
    fast = _written(project / "out")
    assert run_results(project)["counts"] == {"built": 1, "up_to_date": 3, "failed": 0, "unfinished": 0}
    known_rows = sorted(project.rglob("rows.sqlite*"))
    assert known_rows
    for path in known_rows:   # no known row: the next build reads every row's record
        path.unlink()

    _build(project, heygen, "--json")   # --json: every row read, not answered from the snapshot

    assert _written(project / "out") == fast
    assert run_results(project)["counts"] == {"built": 0, "up_to_date": 4, "failed": 0, "unfinished": 0}


def test_a_build_remembers_from_the_fresh_entries_only() -> None:
    from vidbuild.planner.fingerprint import KnownJob
    from vidbuild.planner.row_index import RowIndex
    from vidbuild.spec.expand import Job
    from vidbuild.spec.rows import Row

    def job(key: str, fingerprint: str | None, unchanged: bool) -> Job:
        kind = KnownJob if unchanged else Job
        return kind(key=key, kind="video", body={}, hash=key * 64, output=f"out/{key}.mp4", scenes=(),
                    row=Row(0, {}, "", 0), fingerprint=fingerprint, unchanged=unchanged)

    with RowIndex() as index:
        for added in (job("a", "fa", True), job("b", "fb", False), job("c", None, False),
                      job("d", "fd", True), job("e", "fe", False)):
            index.add_job(added, settled=added.unchanged)
        assert [entry.key for entry in index.entries()] == ["a", "b", "c", "d", "e"]
        assert [entry.key for entry in index.fresh_entries()] == ["b", "e"]
