"""Bodies and histories (state/history.py) in PostgreSQL: the ``vidbuild_bodies`` and
``vidbuild_history`` tables of schema 3, read and written for ``PostgresState`` within its
connection (and, for appends, within the caller's transaction, which holds the hash's job row)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vidbuild.state.history import History, Transition

if TYPE_CHECKING:
    import psycopg

    Connection = psycopg.Connection[tuple[Any, ...]]

# Schema version 3 adds these tables; an older database gets them when first opened.
SCHEMA = """
CREATE TABLE IF NOT EXISTS vidbuild_bodies (
    namespace text NOT NULL, hash text NOT NULL, body jsonb NOT NULL, PRIMARY KEY (namespace, hash));
CREATE TABLE IF NOT EXISTS vidbuild_history (
    namespace text NOT NULL, hash text NOT NULL, data jsonb NOT NULL, PRIMARY KEY (namespace, hash));
"""
TABLES = ("vidbuild_bodies", "vidbuild_history")


def remember_body(connection: Connection, namespace: str, content_hash: str, body: dict[str, Any]) -> None:
    """Keep ``body`` for the hash unless one is kept already (a hash names one body)."""
    from psycopg.types.json import Jsonb

    connection.execute("INSERT INTO vidbuild_bodies (namespace, hash, body) VALUES (%s, %s, %s) "
                       "ON CONFLICT (namespace, hash) DO NOTHING", (namespace, content_hash, Jsonb(body)))


def body(connection: Connection, namespace: str, content_hash: str) -> dict[str, Any] | None:
    row = connection.execute("SELECT body FROM vidbuild_bodies WHERE namespace = %s AND hash = %s",
                             (namespace, content_hash)).fetchone()
    return row[0] if row is not None and isinstance(row[0], dict) else None


def history(connection: Connection, namespace: str, content_hash: str, *, lock: bool = False) -> History:
    """The hash's history; ``lock``: hold its row until the transaction ends (for an append)."""
    query = "SELECT data FROM vidbuild_history WHERE namespace = %s AND hash = %s"
    row = connection.execute(query + (" FOR UPDATE" if lock else ""), (namespace, content_hash)).fetchone()
    return History.from_json(row[0] if row is not None else None)


def append(connection: Connection, namespace: str, content_hash: str, transitions: list[Transition]) -> None:
    """Append ``transitions`` to the hash's history; run inside a transaction."""
    if transitions:
        write(connection, namespace, content_hash,
              history(connection, namespace, content_hash, lock=True).appended(transitions))


def write(connection: Connection, namespace: str, content_hash: str, log: History) -> None:
    from psycopg.types.json import Jsonb

    connection.execute("INSERT INTO vidbuild_history (namespace, hash, data) VALUES (%s, %s, %s) "
                       "ON CONFLICT (namespace, hash) DO UPDATE SET data = EXCLUDED.data",
                       (namespace, content_hash, Jsonb(log.to_json())))
