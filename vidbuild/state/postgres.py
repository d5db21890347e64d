"""The ``State`` protocol in a PostgreSQL database, for many runners at once.

CI runners start from clean checkouts on their own disks; with ``--state-url`` they share one
database and so one record per content hash. Claims are atomic across machines (the hash's row
is locked ``FOR UPDATE``, or inserted ``ON CONFLICT DO NOTHING``), and each process holds a
session-level advisory lock named after its owner id while it runs: the server drops it with
the session (kill -9, a cancelled job, a lost machine), so a dead owner's claim is found and
reconciled, never resent blindly. Only this module and its postgres_*.py helpers import psycopg.

Tables, created and versioned here (``vidbuild_schema`` holds the version; a newer one is
refused, an older one upgraded): ``vidbuild_jobs``, ``vidbuild_keys``, ``vidbuild_rows`` (the
known rows, see state/known_rows.py), ``vidbuild_bodies`` and ``vidbuild_history`` (see
state/history.py) and ``vidbuild_meta``, each keyed by namespace
(the project's name and the API's namespace, as the disk keeps a directory per API).

Any database error, a lost connection above all, is a StateError (exit 3): what was committed
stays, and a rerun resumes. A Ctrl-C waits for the write under way to end, as on disk. The
connection is never reopened behind the build's back: its
advisory lock went with it, so another runner may already have taken its claims over.
"""

from __future__ import annotations

import functools
import hashlib
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from vidbuild.errors import StateError, UsageError
from vidbuild.state import postgres_history as bodies
from vidbuild.state import postgres_known_rows as known_rows
from vidbuild.state.history import History, Transition
from vidbuild.state.known_rows import KnownRow
from vidbuild.state.postgres_reader import PostgresReader, records_of
from vidbuild.state.postgres_url import check_url, scrub, scrub_url
from vidbuild.state.protocol import (
    ClaimOutcome,
    KeyEntry,
    Record,
    claim_outcome,
    interrupts_held_back,
    new_claim,
    superseded,
)
from vidbuild.state.transitions import transitions_between

if TYPE_CHECKING:
    import psycopg

    from vidbuild.heygen.routes import Generation

SCHEMA_VERSION = 3             # 2: vidbuild_rows (what the last build learnt per row key)
                               # 3: vidbuild_bodies, vidbuild_history (what explain shows)
_PAGE = 1000                   # records read per query when listing them all
# Every advisory lock vidbuild takes is keyed by a hash of a name under this prefix, so they
# can't collide with another application's locks on the same database (but for 2^-64).
_LOCK_PREFIX = "vidbuild:"
# The server notices a vanished client (a lost machine) after about idle + interval * count
# seconds, and only then drops its advisory lock: keep that short, as HeyGen's reply is not.
_KEEPALIVE = {"tcp_keepalives_idle": "15", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3"}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS vidbuild_schema (version integer NOT NULL);
CREATE TABLE IF NOT EXISTS vidbuild_jobs (
    namespace text NOT NULL, hash text NOT NULL, data jsonb NOT NULL, PRIMARY KEY (namespace, hash));
CREATE TABLE IF NOT EXISTS vidbuild_keys (
    namespace text NOT NULL, key text NOT NULL, data jsonb NOT NULL, PRIMARY KEY (namespace, key));
CREATE TABLE IF NOT EXISTS vidbuild_meta (
    namespace text NOT NULL, name text NOT NULL, value jsonb, PRIMARY KEY (namespace, name));
"""


def _lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for ``name``."""
    return int.from_bytes(hashlib.sha256((_LOCK_PREFIX + name).encode()).digest()[:8], "big", signed=True)


class PostgresState:
    """State in PostgreSQL (psycopg 3), shared by every process that opens the same URL.

    ``url``: a libpq URL, ``postgresql://user:password@host:port/database``; ``namespace``: the
    project and API this state belongs to. Raises UsageError for a bad URL, a missing psycopg or
    a schema newer than this vidbuild's; StateError when the database can't be reached or fails.
    """

    def __init__(self, url: str, namespace: str) -> None:
        check_url(url)
        self.namespace = namespace
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"
        self._url = url
        self._where = scrub_url(url)
        self._connection = self._connect()
        try:
            with self._translated("set up the schema in"):
                self._set_up()
        except BaseException:
            self._connection.close()
            raise

    # -- connection -------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        import psycopg

        with self._translated("connect to"):
            connection = psycopg.connect(self._url, autocommit=True, connect_timeout=10,
                                         application_name="vidbuild")
        return connection

    @contextmanager
    def _translated(self, doing: str) -> Iterator[None]:
        """Turn psycopg's errors into a StateError naming the database, its password scrubbed."""
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            detail = scrub(str(exc).strip().replace("\n", " "), self._url)
            kept = "" if doing == "connect to" else " (what was recorded is kept; rerun to resume)"
            raise StateError(f"cannot {doing} the state database {self._where}: {detail}{kept}") from exc

    def _set_up(self) -> None:
        """Create or check the schema, then take this process's owner lock and the namespace's
        shared lock (``clean`` needs it exclusively)."""
        connection = self._connection
        for name, value in _KEEPALIVE.items():
            connection.execute(f"SET {name} = {value}")   # constant names and values, not input
        with connection.transaction():
            # One process creates the tables while any others wait, then each checks the version.
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key("schema"),))
            version = self._schema_version()
            if version is None:
                connection.execute(_SCHEMA)
                connection.execute(known_rows.SCHEMA)
                connection.execute(bodies.SCHEMA)
                connection.execute("INSERT INTO vidbuild_schema (version) VALUES (%s)", (SCHEMA_VERSION,))
            elif version < SCHEMA_VERSION:
                connection.execute(known_rows.SCHEMA)
                connection.execute(bodies.SCHEMA)
                connection.execute("UPDATE vidbuild_schema SET version = %s", (SCHEMA_VERSION,))
            elif version > SCHEMA_VERSION:
                raise UsageError(f"the state database {self._where} has schema version {version}, newer "
                                 f"than this vidbuild's ({SCHEMA_VERSION}): upgrade vidbuild to use it "
                                 "(nothing was changed or sent)")
        connection.execute("SELECT pg_advisory_lock(%s)", (_lock_key("owner:" + self.owner),))
        connection.execute("SELECT pg_advisory_lock_shared(%s)", (_lock_key("namespace:" + self.namespace),))

    def _schema_version(self) -> int | None:
        if not self._one("SELECT to_regclass('vidbuild_schema') IS NOT NULL"):
            return None
        version = self._one("SELECT max(version) FROM vidbuild_schema")
        return int(version) if version is not None else None

    def _one(self, query: str, params: Sequence[Any] = ()) -> Any:
        row = self._connection.execute(query, params).fetchone()  # type: ignore[arg-type]
        return row[0] if row is not None else None

    # -- lookups ----------------------------------------------------------------------------

    def get(self, content_hash: str) -> Record | None:
        return self.get_many([content_hash]).get(content_hash)

    def get_many(self, hashes: Sequence[str]) -> dict[str, Record]:
        """The records of those ``hashes`` that have one: one query for the lot."""
        with self._translated("read"):
            return records_of(self._connection, self.namespace, hashes)

    def for_key(self, key: str) -> KeyEntry | None:
        return self.for_keys([key]).get(key)

    def for_keys(self, keys: Sequence[str]) -> dict[str, KeyEntry]:
        """The last body built for each of those row ``keys`` that has one: one query."""
        if not keys:
            return {}
        with self._translated("read"):
            return known_rows.key_entries(self._connection, self.namespace, keys)

    def known_rows(self, fingerprints: Sequence[str]) -> dict[str, KnownRow]:
        """The known rows with those ``fingerprints``, by fingerprint: one query."""
        with self._translated("read"):
            return known_rows.read(self._connection, self.namespace, fingerprints)

    def remember_rows(self, rows: Sequence[KnownRow]) -> None:
        with interrupts_held_back(), self._translated("record in"):
            known_rows.write(self._connection, self.namespace, rows)

    def forget_rows(self, keys: Sequence[str]) -> None:
        with interrupts_held_back(), self._translated("record in"):
            known_rows.forget_keys(self._connection, self.namespace, keys)

    def records(self) -> Iterator[Record]:
        """Every record of the namespace, read a page at a time in hash order."""
        after = ""
        while True:
            with self._translated("read"):
                rows = self._connection.execute(
                    "SELECT hash, data FROM vidbuild_jobs WHERE namespace = %s AND hash > %s "
                    "ORDER BY hash LIMIT %s", (self.namespace, after, _PAGE)).fetchall()
            for _, data in rows:
                yield Record.from_json(data)
            if len(rows) < _PAGE:
                return
            after = rows[-1][0]

    def reader(self) -> Callable[[], PostgresReader]:
        """Opens this state's lookups in another process, over a connection of its own (see
        ``State.reader``)."""
        return functools.partial(PostgresReader, self._url, self.namespace)

    def holds_no_jobs(self) -> bool:
        with self._translated("read"):
            return not self._one(
                "SELECT EXISTS (SELECT 1 FROM vidbuild_jobs WHERE namespace = %s) "
                "OR EXISTS (SELECT 1 FROM vidbuild_keys WHERE namespace = %s)",
                (self.namespace, self.namespace))

    def get_meta(self, name: str) -> Any:
        with self._translated("read"):
            return self._one("SELECT value FROM vidbuild_meta WHERE namespace = %s AND name = %s",
                             (self.namespace, name))

    # -- writes -----------------------------------------------------------------------------

    def claim(self, content_hash: str, key: str, kind: str, *, title: str | None,
              output: str, force: bool = False, generation: Generation = "legacy"
              ) -> tuple[ClaimOutcome, Record | None]:
        """As ``DiskState.claim``, atomic across every process and machine on this database."""
        with interrupts_held_back(), self._translated("claim in"), self._connection.transaction():
            known_rows.forget_hash(self._connection, self.namespace, content_hash)
            while True:
                current = self._locked(content_hash)
                outcome, record = claim_outcome(current, self.owner, self.owner_alive, force=force)
                if outcome != "claimed" or record is not None:
                    return outcome, record
                record = new_claim(current, self.owner, content_hash, key, kind, title=title,
                                   output=output, force=force, generation=generation)
                if current is not None:
                    self._write(record)
                elif not self._insert(record):
                    continue   # another process claimed the hash first: decide on its claim
                bodies.append(self._connection, self.namespace, content_hash,
                              transitions_between(current, record))
                return "claimed", record

    def _locked(self, content_hash: str) -> Record | None:
        """The hash's record, its row locked until the transaction ends (None: no row yet, and
        nothing to lock: a first claim is settled by ``_insert``)."""
        row = self._connection.execute(
            "SELECT data FROM vidbuild_jobs WHERE namespace = %s AND hash = %s FOR UPDATE",
            (self.namespace, content_hash)).fetchone()
        return Record.from_json(row[0]) if row is not None else None

    def _write(self, record: Record) -> None:
        from psycopg.types.json import Jsonb

        self._connection.execute(
            "INSERT INTO vidbuild_jobs (namespace, hash, data) VALUES (%s, %s, %s) "
            "ON CONFLICT (namespace, hash) DO UPDATE SET data = EXCLUDED.data",
            (self.namespace, record.hash, Jsonb(record.to_json())))

    def _insert(self, record: Record) -> bool:
        """Insert a first record for its hash; False if another transaction inserted one first
        (this waits for that transaction to end, and then sees its row)."""
        from psycopg.types.json import Jsonb

        inserted = self._connection.execute(
            "INSERT INTO vidbuild_jobs (namespace, hash, data) VALUES (%s, %s, %s) "
            "ON CONFLICT (namespace, hash) DO NOTHING RETURNING hash",
            (self.namespace, record.hash, Jsonb(record.to_json()))).fetchone()
        return inserted is not None

    def take_over(self, record: Record) -> bool:
        """Adopt an orphaned claim so only this process reconciles it; False if someone else did."""
        with interrupts_held_back(), self._translated("take over a claim in"), self._connection.transaction():
            current = self._locked(record.hash)
            if current is None or current.owner != record.owner or self.owner_alive(current.owner):
                return False
            current.owner = self.owner
            current.updated_at = time.time()
            self._write(current)
            bodies.append(self._connection, self.namespace, record.hash, [Transition(
                current.updated_at, "taken over", "its build had died: reconciled here")])
            record.owner = self.owner
            return True

    def record(self, record: Record, *, install: Callable[[], None] | None = None) -> bool:
        """As ``DiskState.record``: False (nothing written) if state moved past ``record``;
        ``install`` runs with the hash's row locked, before the write commits."""
        with interrupts_held_back(), self._translated("record in"), self._connection.transaction():
            current = self._locked(record.hash)
            if current is not None and superseded(record, current):
                return False
            if record.status != "downloaded":
                known_rows.forget_hash(self._connection, self.namespace, record.hash)
            if install is not None:
                install()
            record.updated_at = time.time()
            self._write(record)
            bodies.append(self._connection, self.namespace, record.hash, transitions_between(current, record))
            return True

    def merge(self, record: Record, newer: Callable[[Record, Record], bool]) -> bool:
        """As ``DiskState.merge``, with the hash's row locked (or its first insert settled)."""
        with interrupts_held_back(), self._translated("import into"), self._connection.transaction():
            current = self._locked(record.hash)
            if current is None and self._insert(record):
                return True
            current = current or self._locked(record.hash)
            if current is not None and not newer(record, current):
                return False
            self._write(record)
            return True

    def remember_body(self, content_hash: str, body: dict[str, Any]) -> None:
        with interrupts_held_back(), self._translated("record in"):
            bodies.remember_body(self._connection, self.namespace, content_hash, body)

    def body(self, content_hash: str) -> dict[str, Any] | None:
        with self._translated("read"):
            return bodies.body(self._connection, self.namespace, content_hash)

    def history(self, content_hash: str) -> History:
        with self._translated("read"):
            return bodies.history(self._connection, self.namespace, content_hash)

    def note(self, content_hash: str, transition: Transition) -> None:
        with interrupts_held_back(), self._translated("record in"), self._connection.transaction():
            self._locked(content_hash)   # appends to one hash's log take turns
            bodies.append(self._connection, self.namespace, content_hash, [transition])

    def restore(self, content_hash: str, body: dict[str, Any] | None, history: History) -> None:
        """As ``DiskState.restore``: an imported body kept if none is here, its history merged."""
        with interrupts_held_back(), self._translated("import into"), self._connection.transaction():
            if body is not None:
                bodies.remember_body(self._connection, self.namespace, content_hash, body)
            if history.entries:
                here = bodies.history(self._connection, self.namespace, content_hash, lock=True)
                bodies.write(self._connection, self.namespace, content_hash, here.merged(history))

    def remember_key(self, key: str, entry: KeyEntry) -> None:
        with interrupts_held_back(), self._translated("record in"):
            known_rows.remember_key(self._connection, self.namespace, key, entry)

    def set_meta(self, name: str, value: Any) -> None:
        from psycopg.types.json import Jsonb

        with interrupts_held_back(), self._translated("record in"):
            self._connection.execute(
                "INSERT INTO vidbuild_meta (namespace, name, value) VALUES (%s, %s, %s) "
                "ON CONFLICT (namespace, name) DO UPDATE SET value = EXCLUDED.value",
                (self.namespace, name, Jsonb(value)))

    # -- owners -----------------------------------------------------------------------------

    def owner_alive(self, owner: str) -> bool:
        """Whether ``owner``'s session still holds its advisory lock (it is running)."""
        if owner == self.owner:
            return True
        key = _lock_key("owner:" + owner)
        with self._translated("read"):
            if not self._one("SELECT pg_try_advisory_lock(%s)", (key,)):
                return True
            self._connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
        return False

    def others_running(self) -> bool:
        """Whether another process has this namespace open (``clean`` refuses then)."""
        key = _lock_key("namespace:" + self.namespace)
        with self._translated("read"):
            self._connection.execute("SELECT pg_advisory_unlock_shared(%s)", (key,))
            if not self._one("SELECT pg_try_advisory_lock(%s)", (key,)):
                return True
            self._connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
        return False

    def delete_all(self) -> int:
        """Remove every record, key and meta entry of this namespace; the number of records."""
        with self._translated("clean"), self._connection.transaction():
            removed = self._connection.execute(
                "DELETE FROM vidbuild_jobs WHERE namespace = %s", (self.namespace,)).rowcount
            for table in ("vidbuild_keys", "vidbuild_rows", "vidbuild_meta", *bodies.TABLES):
                self._connection.execute(f"DELETE FROM {table} WHERE namespace = %s", (self.namespace,))
        return removed

    def close(self) -> None:
        """Close the connection (the server releases this process's locks with it)."""
        self._connection.close()
