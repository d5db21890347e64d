"""The disk store of known rows (state/known_rows.py): one SQL column per field, every field read
back as written, the first format's table left to older vidbuilds, and key entries beside them."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest

from vidbuild.state.known_rows import KnownRow, KnownRowsFile


def known(key: str, **fields: object) -> KnownRow:
    return KnownRow(key=key, fingerprint=f"fp-{key}", hash=f"h-{key}", output=f"out/{key}.mp4",
                    generation="v3", route_reason="", size=123, mtime_ns=1_700_000_000_123_456_789,
                    **fields)  # type: ignore[arg-type]


def test_every_field_comes_back_as_written(tmp_path: Path) -> None:
    full = known("a", video_id="v1", video_url="https://x/a.mp4?Expires=1", thumbnail_url=None,
                 checksum="ab" * 32,
                 title="Hi ü", duration=12.5, submitted_at=1.5, created_at=2.0, completed_at=3.25,
                 video_page_url="https://app/v1", urls_expire_at=4.0, thumbnail="out/a.jpg",
                 credits_estimated=0.25, listing=['{\n      "key": "a"\n    }', "a,out/a.mp4\n"])
    bare = known("b")   # remembered by a vidbuild that kept no listing
    store = KnownRowsFile(tmp_path / "rows.sqlite")
    store.put_many([full, bare])
    store.close()

    again = KnownRowsFile(tmp_path / "rows.sqlite")
    found = again.get_many(["fp-a", "fp-b", "fp-missing"])
    again.close()

    assert found == {"fp-a": full, "fp-b": bare}
    assert [field.name for field in dataclasses.fields(KnownRow)][-1] == "listing"
    assert type(found["fp-a"].mtime_ns) is int and type(found["fp-a"].duration) is float


def test_forgetting_by_key_and_by_hash(tmp_path: Path) -> None:
    store = KnownRowsFile(tmp_path / "rows.sqlite")
    store.put_many([known("a"), known("b"), known("c")])
    store.forget_keys(["a"])
    store.forget_hash("h-b")
    assert set(store.get_many(["fp-a", "fp-b", "fp-c"])) == {"fp-c"}
    store.close()


def test_the_first_formats_table_is_left_alone_and_not_read(tmp_path: Path) -> None:
    # An older vidbuild may still be building on this state: dropping its table would stop that
    # build at its next write (exit 3, mid-campaign).
    path = tmp_path / "rows.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE known_rows (key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, "
                   "hash TEXT NOT NULL, data TEXT NOT NULL)")
        db.execute("INSERT INTO known_rows VALUES ('a', 'fp-a', 'h-a', '{}')")
    db.close()

    store = KnownRowsFile(path)
    assert store.get_many(["fp-a"]) == {}
    store.close()
    with sqlite3.connect(path) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        left = db.execute("SELECT key, fingerprint, hash, data FROM known_rows").fetchall()
        db.execute("INSERT INTO known_rows VALUES ('b', 'fp-b', 'h-b', '{}')")   # as an older build writes
    db.close()
    assert tables == {"known_rows", "known_rows_2", "key_entries"}
    assert left == [("a", "fp-a", "h-a", "{}")]


def test_key_entries_live_beside_the_known_rows_and_older_ones_are_still_read(tmp_path: Path) -> None:
    from vidbuild.state.disk import DiskState
    from vidbuild.state.protocol import KeyEntry

    state = DiskState(tmp_path / ".vidbuild", "ns")
    assert state.holds_no_jobs()
    state.remember_key("new", KeyEntry("h-new", {"title": "0123456789ab", "dimension.width": "ba9876543210"}))
    state._cache.set("key:old", {"hash": "h-old", "fields": {"title": "aaaaaaaaaaaa"}})   # as kept before
    state._cache.set("key:new", {"hash": "h-stale", "fields": {}})   # an older entry of the same key

    assert not state.holds_no_jobs()
    assert state.for_keys(["new", "old", "none"]) == {
        "new": KeyEntry("h-new", {"title": "0123456789ab", "dimension.width": "ba9876543210"}),
        "old": KeyEntry("h-old", {"title": "aaaaaaaaaaaa"})}
    assert state.for_key("old") == KeyEntry("h-old", {"title": "aaaaaaaaaaaa"})
    assert state.for_key("none") is None
    state.close()
    with sqlite3.connect(tmp_path / ".vidbuild" / "ns" / "rows.sqlite") as db:
        assert db.execute("SELECT key, hash FROM key_entries").fetchall() == [("new", "h-new")]
    db.close()


def test_a_state_with_key_entries_only_is_not_cold(tmp_path: Path) -> None:
    from vidbuild.state.disk import DiskState
    from vidbuild.state.protocol import KeyEntry

    state = DiskState(tmp_path / ".vidbuild", "ns")
    state.remember_key("k", KeyEntry("h", {}))
    assert not state.holds_no_jobs()
    state.close()


def test_key_entries_keep_the_body_and_an_older_table_gains_the_column(tmp_path: Path) -> None:
    from vidbuild.planner.fields import key_entry
    from vidbuild.state.disk import DiskState
    from vidbuild.state.protocol import KeyEntry

    path = tmp_path / ".vidbuild" / "ns" / "rows.sqlite"
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as db:   # the table as an older vidbuild made it, with one entry
        db.execute("CREATE TABLE key_entries (key TEXT PRIMARY KEY, hash TEXT NOT NULL, "
                   "fields TEXT NOT NULL)")
        db.execute("""INSERT INTO key_entries VALUES ('old', 'h-old', '{"title":"aaaaaaaaaaaa"}')""")
    db.close()
    state = DiskState(tmp_path / ".vidbuild", "ns")
    body = {"title": "Chloé", "video_inputs": [{"voice": {"speed": 1.5, "flag": True, "none": None}}]}
    state.remember_key("new", key_entry("h-new", body))
    assert state.for_keys(["new", "old"]) == {"new": KeyEntry("h-new", None, body),
                                             "old": KeyEntry("h-old", {"title": "aaaaaaaaaaaa"})}
    with pytest.raises(ValueError):
        state.remember_key("bodiless", KeyEntry("h", None, body))   # older versions need the digests
    state.close()
    with sqlite3.connect(path) as db:
        # What an older vidbuild reads and writes still works: the digests are there, and its
        # write (no body column named) leaves the body empty, so the digests are read again.
        fields = db.execute("SELECT fields FROM key_entries WHERE key = 'new'").fetchone()[0]
        db.execute("INSERT OR REPLACE INTO key_entries (key, hash, fields) VALUES ('new', 'h-2', '{}')")
    db.close()
    assert json.loads(fields) == key_entry("h-new", body).fields
    state = DiskState(tmp_path / ".vidbuild", "ns")   # opened again: the column is not added twice
    assert state.for_key("new") == KeyEntry("h-2", {})
    state.close()


def test_a_body_column_added_meanwhile_by_another_process_is_no_error(tmp_path: Path) -> None:
    rows = KnownRowsFile(tmp_path / "rows.sqlite")   # the column exists already
    real = rows._db

    class SawNoBody:
        """The connection, but its table listing predates the other process's ALTER."""

        def execute(self, sql: str, *args: object) -> object:
            if sql.startswith("PRAGMA table_info"):
                return [row for row in real.execute(sql) if row[1] != "body"]
            return real.execute(sql, *args)

    rows._db = SawNoBody()  # type: ignore[assignment]
    rows._add_body_column()   # its ALTER finds the column there: tolerated
    rows._db = real
    assert "body" in {row[1] for row in real.execute("PRAGMA table_info(key_entries)")}
    rows.close()
