"""State stage, PostgreSQL lookups over a connection of their own: what a second process opens to
look a plan's rows up in a PostgreSQL state (see planner/lookahead.py), and the record query the
state itself uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from vidbuild.state import postgres_known_rows as known_rows
from vidbuild.state.protocol import KeyEntry, Record

if TYPE_CHECKING:
    import psycopg


def records_of(connection: psycopg.Connection[tuple[Any, ...]], namespace: str,
               hashes: Sequence[str]) -> dict[str, Record]:
    """The records of those ``hashes`` that have one in ``namespace``: one query for the lot."""
    if not hashes:
        return {}
    rows = connection.execute("SELECT hash, data FROM vidbuild_jobs WHERE namespace = %s AND hash = ANY(%s)",
                              (namespace, list(hashes))).fetchall()
    return {content_hash: Record.from_json(data) for content_hash, data in rows}


class PostgresReader:
    """``get_many`` and ``for_keys`` of a PostgreSQL state's ``namespace`` at ``url``, over a
    connection that takes no lock and writes nothing. Raises psycopg's errors as they come: the
    planner's helper that uses it hands any failure back, and the planner looks up itself."""

    def __init__(self, url: str, namespace: str) -> None:
        import psycopg

        self.namespace = namespace
        self._connection = psycopg.connect(url, autocommit=True, connect_timeout=10,
                                           application_name="vidbuild lookups")

    def get_many(self, hashes: Sequence[str]) -> dict[str, Record]:
        return records_of(self._connection, self.namespace, hashes)

    def for_keys(self, keys: Sequence[str]) -> dict[str, KeyEntry]:
        return known_rows.key_entries(self._connection, self.namespace, keys)

    def close(self) -> None:
        self._connection.close()
