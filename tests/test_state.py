"""The state store: atomic claims, dead owners, namespaces, JSON on disk, nothing evicted, no stale writes."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from vidbuild.heygen.backend import EMULATOR_NAMESPACE, backend_namespace
from vidbuild.state.disk import DiskState
from vidbuild.state.location import namespace_for, state_root
from vidbuild.state.protocol import Record

HASH = "a" * 64


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / ".vidbuild"


@pytest.fixture
def stores(root: Path) -> Iterator[list[DiskState]]:
    """Two stores on one directory, as two vidbuild processes would have."""
    opened = [DiskState(root, "ns"), DiskState(root, "ns")]
    yield opened
    for store in opened:
        store.close()


def claim(store: DiskState, content_hash: str = HASH, *, force: bool = False) -> tuple[str, Record | None]:
    return store.claim(content_hash, "r01", "video", title="Hi", output="out/r01.mp4", force=force)


def test_a_claim_is_recorded_with_its_owner(stores: list[DiskState]) -> None:
    first, _ = stores
    outcome, record = claim(first)

    assert outcome == "claimed"
    assert record is not None
    stored = first.get(HASH)
    assert stored == record
    assert (stored.status, stored.owner, stored.key, stored.attempts) == ("claimed", first.owner, "r01", 1)
    assert stored.claimed_at is not None


def test_only_one_of_two_stores_gets_the_claim(stores: list[DiskState]) -> None:
    first, second = stores
    assert claim(first)[0] == "claimed"

    outcome, record = claim(second)

    assert outcome == "busy"
    assert record is not None and record.owner == first.owner
    assert second.owner_alive(first.owner)


def test_claims_racing_in_threads_have_one_winner(root: Path) -> None:
    racers = [DiskState(root, "ns") for _ in range(6)]
    start = threading.Barrier(len(racers))
    outcomes: list[str] = []

    def race(store: DiskState) -> None:
        start.wait()
        outcomes.append(claim(store)[0])

    threads = [threading.Thread(target=race, args=(store,)) for store in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in racers:
        store.close()

    assert sorted(outcomes) == ["busy"] * 5 + ["claimed"]


def test_a_submitted_or_built_hash_is_not_claimed_again(stores: list[DiskState]) -> None:
    first, second = stores
    _, record = claim(first)
    assert record is not None
    record.status, record.video_id = "submitted", "v1"
    first.record(record)

    assert claim(second)[0] == "exists"
    assert claim(first)[0] == "exists"


def test_a_failed_hash_is_claimed_again_remembering_its_video(stores: list[DiskState]) -> None:
    first, second = stores
    _, record = claim(first)
    assert record is not None
    record.status, record.video_id, record.error = "failed", "v1", "render failed"
    first.record(record)

    outcome, retry = claim(second)

    assert outcome == "claimed"
    assert retry is not None
    assert (retry.owner, retry.attempts, retry.video_id, retry.earlier_video_ids) == (second.owner, 2, None,
                                                                                      ["v1"])


def test_force_claims_a_built_hash(stores: list[DiskState]) -> None:
    first, _ = stores
    _, record = claim(first)
    assert record is not None
    record.status, record.video_id = "downloaded", "v1"
    first.record(record)

    outcome, forced = claim(first, force=True)

    assert outcome == "claimed"
    assert forced is not None and forced.earlier_video_ids == ["v1"]


KILLED_OWNER = """
import os, signal, sys
from pathlib import Path
from vidbuild.state.disk import DiskState
store = DiskState(Path(sys.argv[1]), "ns")
store.claim(sys.argv[2], "r01", "video", title="Hi", output="out/r01.mp4")
print(store.owner, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_claim_whose_owner_was_killed_is_orphaned_and_taken_over_once(root: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", KILLED_OWNER, str(root), HASH], capture_output=True,
                          text=True, check=False)
    assert dead.returncode == -signal.SIGKILL
    dead_owner = dead.stdout.strip()
    first, second = DiskState(root, "ns"), DiskState(root, "ns")
    try:
        outcome, record = claim(first)
        assert outcome == "orphaned"
        assert record is not None and record.owner == dead_owner
        assert not first.owner_alive(dead_owner)

        assert first.take_over(record)
        assert record.owner == first.owner
        assert not second.take_over(Record.from_json({**record.to_json(), "owner": dead_owner}))
        assert claim(second)[0] == "busy"
    finally:
        first.close()
        second.close()


def test_a_closed_store_releases_its_claims_to_reconciliation(stores: list[DiskState]) -> None:
    first, second = stores
    claim(first)
    first.close()
    stores.remove(first)

    assert claim(second)[0] == "orphaned"


def test_state_is_namespaced_by_base_url(root: Path) -> None:
    emulator_url, heygen_url = "http://127.0.0.1:8123", "https://api.heygen.com"
    assert namespace_for(emulator_url) != namespace_for(heygen_url)
    assert namespace_for("http://127.0.0.1:8124") != namespace_for(emulator_url)
    assert namespace_for(heygen_url).startswith("api.heygen.com-")
    emulated = DiskState(root, namespace_for(emulator_url))
    real = DiskState(root, namespace_for(heygen_url))
    try:
        claim(emulated)
        assert emulated.get(HASH) is not None
        assert real.get(HASH) is None
        assert list(real.records()) == []
        assert claim(real)[0] == "claimed"
    finally:
        emulated.close()
        real.close()


def test_the_namespace_follows_the_environment() -> None:
    assert backend_namespace({}) == EMULATOR_NAMESPACE
    assert backend_namespace({"HEYGEN_API_KEY": "k"}) == namespace_for("https://api.heygen.com")
    assert backend_namespace({"HEYGEN_API_KEY": "k", "HEYGEN_API_BASE": "http://127.0.0.1:9"}) == \
        namespace_for("http://127.0.0.1:9")


def test_state_root_option_then_variable_then_project(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    assert state_root(tmp_path) == tmp_path / ".vidbuild"
    monkeypatch.setenv("VIDBUILD_STATE_DIR", str(tmp_path / "env"))
    assert state_root(tmp_path) == tmp_path / "env"
    assert state_root(tmp_path, str(tmp_path / "option")) == tmp_path / "option"


def test_state_on_disk_is_json_not_pickle(root: Path) -> None:
    store = DiskState(root, "ns")
    claim(store)
    store.close()

    with sqlite3.connect(root / "ns" / "store" / "cache.db") as db:
        stored = db.execute("SELECT key, value, filename FROM Cache").fetchall()
    entries = {json.loads(zlib.decompress(key)): (value, filename) for key, value, filename in stored}
    assert set(entries) == {f"job:{HASH}", f"log:{HASH}"}   # the record and its history
    assert all(filename is None for _, filename in entries.values())   # small values: in the database
    data = json.loads(zlib.decompress(entries[f"job:{HASH}"][0]))
    assert (data["hash"], data["key"], data["status"]) == (HASH, "r01", "claimed")
    log = json.loads(zlib.decompress(entries[f"log:{HASH}"][0]))
    assert [entry["event"] for entry in log["entries"]] == ["claimed"]


def test_nothing_is_ever_evicted(root: Path) -> None:
    store = DiskState(root, "ns")
    try:
        assert store._cache.eviction_policy == "none"
        store._cache.reset("size_limit", 1)   # far over the limit from the first write on
        for number in range(300):
            claim(store, f"{number:064x}")
        assert len(list(store.records())) == 300
    finally:
        store.close()


def test_a_stale_copy_never_undoes_a_download(stores: list[DiskState]) -> None:
    first, second = stores
    _, record = claim(first)
    assert record is not None
    record.status, record.video_id = "submitted", "v1"
    first.record(record)
    copy = second.get(HASH)   # another build follows the same video
    record.status, record.checksum = "downloaded", "c" * 64
    first.record(record)

    assert copy is not None
    copy.status = "completed"
    second.record(copy)

    stored = second.get(HASH)
    assert stored is not None and (stored.status, stored.checksum) == ("downloaded", "c" * 64)


def test_a_stale_copy_never_overwrites_a_newer_claim(stores: list[DiskState]) -> None:
    first, second = stores
    _, record = claim(first)
    assert record is not None
    record.status, record.video_id = "rendering", "v1"
    first.record(record)
    copy = second.get(HASH)
    claim(first, force=True)
    newer = first.get(HASH)
    assert newer is not None
    newer.status, newer.video_id = "submitted", "v2"
    first.record(newer)

    assert copy is not None
    copy.status, copy.error = "failed", "render failed"
    second.record(copy)

    stored = first.get(HASH)
    assert stored is not None and (stored.status, stored.video_id) == ("submitted", "v2")


def test_records_ignore_fields_they_do_not_know() -> None:
    record = Record(hash=HASH, key="r01", kind="video", status="claimed")

    assert Record.from_json({**record.to_json(), "from_a_later_version": 1}) == record


def test_a_state_knows_when_it_never_held_a_job(tmp_path: Path) -> None:
    state = DiskState(tmp_path, "ns")
    try:
        assert state.holds_no_jobs()
        state.set_meta("render_ratio", 0.5)          # meta alone is not a job
        assert state.holds_no_jobs()
        state.claim("h" * 64, "a", "video", title=None, output="out/a.mp4")
        assert not state.holds_no_jobs()
    finally:
        state.close()
