"""Where the emulator keeps its videos and its request log: SQLite, in memory or in a state directory.

With a state directory, successive processes (say two ``vidbuild build`` runs, one after a
crash) see the same account, and two processes may use it at once: writes take SQLite's
write lock (``BEGIN IMMEDIATE``) and wait for each other through the busy timeout.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

DATABASE_NAME: Final = "heygen-emulator.sqlite3"
_BUSY_TIMEOUT_SECONDS: Final = 30.0

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS videos (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    video_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    title TEXT,
    callback_id TEXT,
    callback_echoed INTEGER NOT NULL,
    created_at REAL NOT NULL,
    finishes_at REAL NOT NULL,
    duration REAL NOT NULL,
    error TEXT,
    body_hash TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    query TEXT NOT NULL,
    body TEXT,
    status INTEGER,
    fault TEXT
);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    endpoint TEXT NOT NULL,
    key TEXT NOT NULL,
    first_seen REAL NOT NULL,
    ready_at REAL,
    status INTEGER,
    headers TEXT,
    body BLOB,
    PRIMARY KEY (endpoint, key)
);
CREATE TABLE IF NOT EXISTS previews (
    video_id TEXT NOT NULL,
    extension TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (video_id, extension)
);
"""


@dataclass(frozen=True)
class Video:
    """One video the emulated account holds; its status follows from the clock (see render.py)."""

    video_id: str
    kind: str
    title: str | None
    callback_id: str | None
    callback_echoed: bool
    created_at: float
    finishes_at: float
    duration: float
    error: dict[str, Any] | None
    body_hash: str
    body: str
    seq: int = 0


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the emulator saw it.

    ``body`` is the parsed JSON (or the raw text if it wasn't JSON, None if empty);
    ``status`` is the status the emulator produced, None if it never got that far;
    ``fault`` names the injected fault that struck this request, if any.
    """

    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int | None
    fault: str | None
    at: float


_VIDEO_COLUMNS: Final = ("video_id, kind, title, callback_id, callback_echoed, created_at, "
                         "finishes_at, duration, error, body_hash, body, seq")


class VideoStore:
    """Thread-safe access to the emulator's SQLite database (one connection, one lock)."""

    def __init__(self, state_dir: Path | None = None) -> None:
        if state_dir is None:
            target = ":memory:"
        else:
            state_dir.mkdir(parents=True, exist_ok=True)
            target = str(state_dir / DATABASE_NAME)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(target, timeout=_BUSY_TIMEOUT_SECONDS,
                                   isolation_level=None, check_same_thread=False)
        if state_dir is not None:
            # WAL lets one process read while another writes; NORMAL skips an fsync per commit.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        with self._write() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def add_video(self, video: Video, *, max_rendering: int | None, now: float) -> Video | None:
        """Store ``video`` unless ``max_rendering`` videos are already rendering (then None).

        The count and the insert happen under one write lock, so two processes sharing
        the directory can't both take the last slot.
        """
        with self._write() as db:
            if max_rendering is not None:
                (rendering,) = db.execute(
                    "SELECT COUNT(*) FROM videos WHERE finishes_at > ?", (now,)).fetchone()
                if rendering >= max_rendering:
                    return None
            cursor = db.execute(
                f"INSERT INTO videos ({_VIDEO_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,NULL)",
                _video_row(video))
        return replace(video, seq=cursor.lastrowid or 0)

    def video(self, video_id: str) -> Video | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_VIDEO_COLUMNS} FROM videos WHERE video_id = ?", (video_id,)).fetchone()
        return _video_from_row(row) if row else None

    def videos(self, *, limit: int = -1, before_seq: int | None = None,
               title_contains: str | None = None, created_by: float | None = None) -> list[Video]:
        """Videos newest first; ``before_seq`` continues a previous page.

        ``title_contains`` keeps videos whose title holds it, ignoring ASCII case;
        ``created_by`` leaves out videos created after that time (a lagging list).
        """
        bound = before_seq if before_seq is not None else 2**62
        where = "seq < ?"
        arguments: list[object] = [bound]
        if title_contains:
            where += " AND instr(lower(title), lower(?)) > 0"
            arguments.append(title_contains)
        if created_by is not None:
            where += " AND created_at <= ?"
            arguments.append(created_by)
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_VIDEO_COLUMNS} FROM videos WHERE {where} ORDER BY seq DESC LIMIT ?",
                (*arguments, limit)).fetchall()
        return [_video_from_row(row) for row in rows]

    def record(self, request: RecordedRequest) -> None:
        body = None if request.body is None else json.dumps(request.body)
        with self._write() as db:
            db.execute(
                "INSERT INTO requests (at, method, path, query, body, status, fault) "
                "VALUES (?,?,?,?,?,?,?)",
                (request.at, request.method, request.path, json.dumps(request.query), body,
                 request.status, request.fault))

    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            rows = self._db.execute(
                "SELECT method, path, query, body, status, fault, at FROM requests ORDER BY seq"
            ).fetchall()
        return [
            RecordedRequest(method, path, json.loads(query),
                            None if body is None else json.loads(body), status, fault, at)
            for method, path, query, body, status, fault, at in rows
        ]


    def claim_key(self, endpoint: str, key: str, *, now: float, window: float,
                  abandoned_after: float) -> KeyRecord | None:
        """Claim an Idempotency-Key for a new request, or return the record that holds it.

        A record holds the key for ``window`` seconds from its first use; an unfinished
        claim older than ``abandoned_after`` (its process died) is taken over.
        """
        with self._write() as db:
            row = db.execute(
                "SELECT first_seen, ready_at, status, headers, body FROM idempotency_keys "
                "WHERE endpoint = ? AND key = ?", (endpoint, key)).fetchone()
            if row is not None:
                record = KeyRecord(row[0], row[1], row[2],
                                   None if row[3] is None else json.loads(row[3]), row[4])
                finished = record.ready_at is not None
                if now < record.first_seen + (window if finished else abandoned_after):
                    return record
            db.execute("INSERT OR REPLACE INTO idempotency_keys (endpoint, key, first_seen) "
                       "VALUES (?,?,?)", (endpoint, key, now))
        return None

    def finish_key(self, endpoint: str, key: str, *, ready_at: float, status: int,
                   headers: dict[str, str], body: bytes) -> None:
        """Keep the response to replay for the key; until ``ready_at`` it is still in flight."""
        with self._write() as db:
            db.execute("UPDATE idempotency_keys SET ready_at = ?, status = ?, headers = ?, body = ? "
                       "WHERE endpoint = ? AND key = ?",
                       (ready_at, status, json.dumps(headers), body, endpoint, key))

    def release_key(self, endpoint: str, key: str) -> None:
        """Forget a claim whose request created nothing, so the key can be used again."""
        with self._write() as db:
            db.execute("DELETE FROM idempotency_keys WHERE endpoint = ? AND key = ?",
                       (endpoint, key))

    def preview(self, video_id: str, extension: str) -> bytes | None:
        """The preview file kept for the video (see preview.py), or None if none was made yet."""
        with self._lock:
            row = self._db.execute("SELECT data FROM previews WHERE video_id = ? AND extension = ?",
                                   (video_id, extension)).fetchone()
        return None if row is None else bytes(row[0])

    def keep_preview(self, video_id: str, extension: str, data: bytes) -> bytes:
        """Keep ``data`` as the video's preview file unless one is kept already; return the kept one,
        so two processes that made it at once serve the same bytes."""
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO previews (video_id, extension, data) VALUES (?,?,?)",
                       (video_id, extension, data))
            (kept,) = db.execute("SELECT data FROM previews WHERE video_id = ? AND extension = ?",
                                 (video_id, extension)).fetchone()
        return bytes(kept)


@dataclass(frozen=True)
class KeyRecord:
    """What an Idempotency-Key holds: its first use, and once finished the response to replay.

    ``ready_at`` is None while the first request is being processed; after it is set the
    request still counts as in flight until then (its reply is on its way).
    """

    first_seen: float
    ready_at: float | None
    status: int | None
    headers: dict[str, str] | None
    body: bytes | None


def _video_row(video: Video) -> tuple[Any, ...]:
    error = None if video.error is None else json.dumps(video.error)
    return (video.video_id, video.kind, video.title, video.callback_id,
            int(video.callback_echoed), video.created_at, video.finishes_at, video.duration,
            error, video.body_hash, video.body)


def _video_from_row(row: tuple[Any, ...]) -> Video:
    (video_id, kind, title, callback_id, echoed, created_at, finishes_at, duration, error,
     body_hash, body, seq) = row
    return Video(video_id, kind, title, callback_id, bool(echoed), created_at, finishes_at,
                 duration, None if error is None else json.loads(error), body_hash, body, seq)

