"""The known rows (state/known_rows.py) in PostgreSQL: the ``vidbuild_rows`` table of schema 2,
read and written a page of rows per statement for ``PostgresState``, within its connection; and
the key entries (``vidbuild_keys``, each entry's JSON: its hash, field digests and body)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from vidbuild.state.known_rows import KnownRow
from vidbuild.state.protocol import KeyEntry

if TYPE_CHECKING:
    import psycopg

# Schema version 2 adds this table; a version-1 database gets it when first opened.
SCHEMA = """
CREATE TABLE IF NOT EXISTS vidbuild_rows (
    namespace text NOT NULL, key text NOT NULL, fingerprint text NOT NULL, hash text NOT NULL,
    data jsonb NOT NULL, PRIMARY KEY (namespace, key));
CREATE INDEX IF NOT EXISTS vidbuild_rows_by_fingerprint ON vidbuild_rows (namespace, fingerprint);
CREATE INDEX IF NOT EXISTS vidbuild_rows_by_hash ON vidbuild_rows (namespace, hash);
"""


def read(connection: psycopg.Connection[tuple[Any, ...]], namespace: str,
         fingerprints: Sequence[str]) -> dict[str, KnownRow]:
    """The known rows of ``namespace`` with those ``fingerprints``, by fingerprint: one query."""
    if not fingerprints:
        return {}
    rows = connection.execute(
        "SELECT fingerprint, data FROM vidbuild_rows WHERE namespace = %s AND fingerprint = ANY(%s)",
        (namespace, list(fingerprints))).fetchall()
    return {fingerprint: KnownRow.from_json(data) for fingerprint, data in rows}


def write(connection: psycopg.Connection[tuple[Any, ...]], namespace: str, rows: Sequence[KnownRow]) -> None:
    """Insert or replace ``rows`` (one statement for the lot)."""
    if not rows:
        return
    from psycopg.types.json import Jsonb

    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO vidbuild_rows (namespace, key, fingerprint, hash, data) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (namespace, key) DO UPDATE SET "
            "fingerprint = EXCLUDED.fingerprint, hash = EXCLUDED.hash, data = EXCLUDED.data",
            [(namespace, row.key, row.fingerprint, row.hash, Jsonb(row.to_json())) for row in rows])


def forget_keys(connection: psycopg.Connection[tuple[Any, ...]], namespace: str, keys: Sequence[str]) -> None:
    if keys:
        connection.execute("DELETE FROM vidbuild_rows WHERE namespace = %s AND key = ANY(%s)",
                           (namespace, list(keys)))


def forget_hash(connection: psycopg.Connection[tuple[Any, ...]], namespace: str, content_hash: str) -> None:
    """The hash's rows are no longer known up to date (within the caller's transaction)."""
    connection.execute("DELETE FROM vidbuild_rows WHERE namespace = %s AND hash = %s",
                       (namespace, content_hash))


def key_entries(connection: psycopg.Connection[tuple[Any, ...]], namespace: str,
                keys: Sequence[str]) -> dict[str, KeyEntry]:
    """The key entries of those ``keys`` that have one, by key: one query. An entry with a body
    is read without its digests (they follow from it); one written by an older version has none.

    The body is kept as JSON text inside the entry (``KeyEntry.to_store``)."""
    if not keys:
        return {}
    rows = connection.execute(
        "SELECT key, CASE WHEN jsonb_typeof(data->'body_json') = 'string' THEN data - 'fields' "
        "ELSE data END FROM vidbuild_keys WHERE namespace = %s AND key = ANY(%s)",
        (namespace, list(keys))).fetchall()
    return {key: KeyEntry(data["hash"], data.get("fields"),
                          json.loads(data["body_json"]) if isinstance(data.get("body_json"), str) else None)
            for key, data in rows}


def remember_key(connection: psycopg.Connection[tuple[Any, ...]], namespace: str, key: str,
                 entry: KeyEntry) -> None:
    """Insert or replace ``key``'s entry (see ``KeyEntry.to_store``)."""
    from psycopg.types.json import Jsonb

    fields, text = entry.to_store()
    connection.execute(
        "INSERT INTO vidbuild_keys (namespace, key, data) VALUES (%s, %s, %s) "
        "ON CONFLICT (namespace, key) DO UPDATE SET data = EXCLUDED.data",
        (namespace, key, Jsonb({"hash": entry.hash, "fields": fields, "body_json": text})))
