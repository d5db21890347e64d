"""State stage, per row key: what the last build learnt of each row that ended downloaded.

A ``KnownRow`` lets the planner skip a row whose inputs did not change (vidbuild/planner/fingerprint.py):
the fingerprint of everything that determined its body, the body's hash and route, and its output
as its record had it. On disk these live in a small SQLite table of their own (``rows.sqlite``
beside the diskcache store), looked up by fingerprint, so a page of rows is one query;
PostgreSQL keeps them in ``vidbuild_rows``. Either store forgets a hash's rows whenever the hash
is claimed again or its record leaves 'downloaded', so a known row always describes a record that
still holds.

The disk file also keeps each key's *key entry* (``State.remember_key``: the last body sent for
the key, its hash and a digest per field, to name what changed), looked up a page of keys at a
time by plain key: in the diskcache store each name was a zlib-compressed key to encode first,
which made a plan after a template edit spend ~0.5 s per 10,000 rows on lookups alone.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidbuild.errors import StateError

PAGE = 500   # keys per query: SQLite's default limit on parameters is 999


@dataclass
class KnownRow:
    """A row key that ended downloaded: the ``fingerprint`` of what determined its body (see
    planner/fingerprint.py), the body's ``hash`` and route (``generation``, ``route_reason``), its
    ``output`` with the size and mtime (ns) its record has, and what the manifest lists of the video
    (its record's fields of the same names: a row known unchanged is listed without reading its
    record), and that entry itself as the manifest writes it (``listing``: see
    report/manifest.py's ``listing``). Rows remembered before a field was kept read it as unknown."""

    key: str
    fingerprint: str
    hash: str
    output: str
    generation: str
    route_reason: str
    size: int
    mtime_ns: int
    video_id: str | None = None
    video_url: str | None = None
    thumbnail_url: str | None = None
    checksum: str | None = None
    title: str | None = None
    duration: float | None = None
    submitted_at: float | None = None
    created_at: float | None = None
    completed_at: float | None = None
    video_page_url: str | None = None
    urls_expire_at: float | None = None
    thumbnail: str | None = None
    credits_estimated: float | None = None
    listing: list[str] | None = None   # its manifest entry as written: [JSON text, CSV line]

    def to_json(self) -> dict[str, Any]:
        """Every field by name (PostgreSQL keeps a known row as this JSON)."""
        # Not dataclasses.asdict, which deep-copies field by field (seconds for 100,000 rows).
        return {name: getattr(self, name) for name in _NAMES}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KnownRow:
        if data.keys() <= _FIELDS:
            return cls(**data)
        return cls(**{name: value for name, value in data.items() if name in _FIELDS})


_NAMES = tuple(field.name for field in dataclasses.fields(KnownRow))
_FIELDS = frozenset(_NAMES)


# One SQL column per field (``listing`` as two): SQLite hands a row back as a tuple, with no JSON
# to decode (10,000 rows looked up: ~0.3 s of JSON before). The table of the first format (one
# JSON text per row) is left as it is, unread: its rows were fingerprinted by an older vidbuild, so
# none would match, and an older vidbuild still building on this state keeps writing to it.
_TABLE = "known_rows_2"
_COLUMNS = (*(name for name in _NAMES if name != "listing"), "listing_json", "listing_csv")
_TYPES = {"size": "INTEGER NOT NULL", "mtime_ns": "INTEGER NOT NULL", "duration": "REAL",
          "submitted_at": "REAL", "created_at": "REAL", "completed_at": "REAL", "urls_expire_at": "REAL",
          "credits_estimated": "REAL"}
_NOT_NULL = frozenset({"fingerprint", "hash", "output", "generation", "route_reason"})
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM {_TABLE}"
_LISTING = len(_COLUMNS) - 2   # where listing's two columns start
assert _NAMES[-1] == "listing", "KnownRow's fields map onto the columns in order, listing last"


def _column(name: str) -> str:
    if name == "key":
        return "key TEXT PRIMARY KEY"
    return f"{name} {_TYPES.get(name, 'TEXT NOT NULL' if name in _NOT_NULL else 'TEXT')}"


def _from_columns(values: tuple[Any, ...]) -> KnownRow:
    text, line = values[_LISTING], values[_LISTING + 1]
    row = KnownRow(*values[:_LISTING])   # the fields in _COLUMNS' order
    row.listing = [text, line] if text is not None else None
    return row


def _to_columns(row: KnownRow) -> tuple[Any, ...]:
    listing = row.listing or (None, None)
    return (*(getattr(row, name) for name in _COLUMNS[:_LISTING]), listing[0], listing[1])


class KnownRowsFile:
    """The known rows of one disk namespace, in SQLite (WAL: a committed write survives kill -9).

    Raises StateError when the file can't be opened, read or written.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        with self._translated("open"):
            # One connection, used under a lock: a state may be opened in one thread, used in another.
            self._db = sqlite3.connect(str(path), timeout=60, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(f"CREATE TABLE IF NOT EXISTS {_TABLE} ({', '.join(map(_column, _COLUMNS))})")
            self._db.execute(f"CREATE INDEX IF NOT EXISTS {_TABLE}_by_fingerprint ON {_TABLE} (fingerprint)")
            self._db.execute(f"CREATE INDEX IF NOT EXISTS {_TABLE}_by_hash ON {_TABLE} (hash)")
            self._db.execute("CREATE TABLE IF NOT EXISTS key_entries (key TEXT PRIMARY KEY, "
                             "hash TEXT NOT NULL, fields TEXT NOT NULL, body TEXT)")
            self._add_body_column()

    def _add_body_column(self) -> None:
        """Give a key entries table made by an older vidbuild its ``body`` column. Older versions
        name their columns when they read and write, so they go on as before (writing no body: a
        plan compares digests for the keys they wrote); two processes may add it at once."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(key_entries)")}
        if "body" not in columns:
            try:
                self._db.execute("ALTER TABLE key_entries ADD COLUMN body TEXT")
            except sqlite3.OperationalError as exc:
                if "duplicate column" not in str(exc):
                    raise

    @contextmanager
    def _translated(self, doing: str) -> Iterator[None]:
        try:
            with self._lock:
                yield
        except sqlite3.Error as exc:
            raise StateError(f"cannot {doing} the known rows in {self.path}: {exc}") from exc

    def get_many(self, fingerprints: Sequence[str]) -> dict[str, KnownRow]:
        """The known rows with those ``fingerprints``, by fingerprint."""
        found: dict[str, KnownRow] = {}
        with self._translated("read"):
            for values in self._select_in(_SELECT, "fingerprint", fingerprints):
                row = _from_columns(values)
                found[row.fingerprint] = row
        return found

    def _select_in(self, select: str, column: str, values: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """The rows of ``select`` whose ``column`` is one of ``values``, a page of them per query
        (the caller holds ``_translated``)."""
        for start in range(0, len(values), PAGE):
            page = list(values[start:start + PAGE])
            yield from self._db.execute(f"{select} WHERE {column} IN ({','.join('?' * len(page))})", page)

    def put_many(self, rows: Sequence[KnownRow]) -> None:
        if not rows:
            return
        with self._translated("write"), self._transaction():
            self._db.executemany(f"INSERT OR REPLACE INTO {_TABLE} ({', '.join(_COLUMNS)}) "
                                 f"VALUES ({', '.join('?' * len(_COLUMNS))})", map(_to_columns, rows))

    def forget_keys(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        with self._translated("write"), self._transaction():
            self._db.executemany(f"DELETE FROM {_TABLE} WHERE key = ?", [(key,) for key in keys])

    def forget_hash(self, content_hash: str) -> None:
        with self._translated("write"):
            self._db.execute(f"DELETE FROM {_TABLE} WHERE hash = ?", (content_hash,))

    def key_entries(self, keys: Sequence[str]) -> dict[str, tuple[str, dict[str, str] | None, Any]]:
        """The key entries of those ``keys`` that have one, by key: its hash, field digests and
        body; with the body when one was kept (the digests, which follow from it, are then not
        read: None), else with the digests (and None)."""
        found: dict[str, tuple[str, dict[str, str] | None, Any]] = {}
        with self._translated("read"):
            for key, content_hash, fields, body in self._select_in(
                    "SELECT key, hash, CASE WHEN body IS NULL THEN fields END, body FROM key_entries",
                    "key", keys):
                found[key] = (content_hash, None, json.loads(body)) if body is not None else \
                    (content_hash, json.loads(fields), None)
        return found

    def put_key_entry(self, key: str, content_hash: str, fields: dict[str, str], body: str | None) -> None:
        """Keep a key entry: its field digests always (older vidbuild versions read them), its
        body (JSON text, see ``KeyEntry.to_store``) when given."""
        digests = json.dumps(fields, separators=(",", ":"))
        with self._translated("write"):
            self._db.execute("INSERT OR REPLACE INTO key_entries (key, hash, fields, body) "
                             "VALUES (?, ?, ?, ?)", (key, content_hash, digests, body))

    def holds_key_entries(self) -> bool:
        with self._translated("read"):
            return self._db.execute("SELECT 1 FROM key_entries LIMIT 1").fetchone() is not None

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()
