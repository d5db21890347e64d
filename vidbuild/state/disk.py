"""State in a diskcache store under ``.vidbuild/<namespace>/``, for the builds of one machine.

The namespace comes from the API base URL (see location.py), so the emulator's results never count
as HeyGen's. The store keeps the ``State`` protocol (protocol.py) with its shared claim rules.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vidbuild.errors import StateError
from vidbuild.heygen.routes import Generation
from vidbuild.state.history import History, Transition
from vidbuild.state.known_rows import KnownRow, KnownRowsFile
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

STATE_FORMAT = 1
KNOWN_ROWS_FILE = "rows.sqlite"   # the known rows (state/known_rows.py), beside the store
_FEW = 16


# Names looked up per query by get_many and for_keys (SQLite allows 32,766 parameters).
FETCH_PAGE = 500


class DiskState:
    """State in a diskcache store (SQLite in WAL mode: a committed write survives kill -9).

    Values are stored as JSON (never pickle: a state directory may come from elsewhere) and
    nothing is ever evicted. Each process holds an exclusive lock on its own owner file while
    it runs; a claim whose owner file can be locked by someone else belongs to a dead process.
    """

    def __init__(self, root: Path, namespace: str) -> None:
        self.namespace = namespace
        self.directory = root / namespace
        self._owners = self.directory / "owners"
        try:
            self._owners.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot open state in {self.directory}: {exc}") from exc
        self._reader = DiskReader(self.directory)
        self._cache, self._rows = self._reader.cache, self._reader.rows
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"
        self._owner_file = (self._owners / f"{_owner_token(self.owner)}.lock").open("a")
        fcntl.flock(self._owner_file, fcntl.LOCK_EX)
        self._identity = self._store_identity()

    def _store_identity(self) -> tuple[tuple[int, int], ...]:
        """Device and inode of the namespace directory, the store directory and its database file."""
        store = self.directory / "store"
        try:
            return tuple((info.st_dev, info.st_ino) for info in
                         (os.stat(path) for path in (self.directory, store, store / "cache.db")))
        except OSError:
            return ()

    def _check_store(self) -> None:
        """Raise StateError if the store was deleted or replaced since it was opened.

        SQLite keeps writing to a database file that was unlinked (``rm -rf .vidbuild`` during a
        build), where nothing will ever read it: every record would be lost and the next build
        would pay for every row again. So each write first checks that the store it opened is
        still the one on disk, and the build stops (exit 3) before sending anything more.
        """
        if self._store_identity() != self._identity:
            raise StateError(f"the state store {self.directory} was deleted or replaced while "
                             "this command ran; stopped before sending anything more (what it "
                             "recorded since is lost: check your HeyGen account before rebuilding)")

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Check the store (see ``_check_store``), then write with Ctrl-C held back until done.

        diskcache loses track of a transaction that a KeyboardInterrupt cuts between its BEGIN
        and its own bookkeeping: the transaction stays open and every later write of the process
        fails (diskcache.Timeout), so a build's last writes on its way out of a Ctrl-C turned
        exit 130 into an internal error. Held back, the Ctrl-C arrives as soon as the write ends.
        """
        self._check_store()
        with interrupts_held_back():
            yield

    def get(self, content_hash: str) -> Record | None:
        return self._reader.get(content_hash)

    def get_many(self, hashes: Sequence[str]) -> dict[str, Record]:
        return self._reader.get_many(hashes)

    def for_key(self, key: str) -> KeyEntry | None:
        return self._reader.for_keys([key]).get(key)

    def for_keys(self, keys: Sequence[str]) -> dict[str, KeyEntry]:
        return self._reader.for_keys(keys)

    def reader(self) -> Callable[[], DiskReader]:
        """Opens this state's lookups in another process (see ``State.reader``)."""
        return functools.partial(DiskReader, self.directory)

    def claim(self, content_hash: str, key: str, kind: str, *, title: str | None,
              output: str, force: bool = False, generation: Generation = "legacy"
              ) -> tuple[ClaimOutcome, Record | None]:
        """Atomically mark a hash as about to be submitted by this process, through ``generation``.

        'claimed': go ahead and send. 'busy': a live process holds it. 'orphaned': a dead process
        claimed it and may have sent it: reconcile first. 'exists': already submitted or done.
        """
        with self._writing():
            self._rows.forget_hash(content_hash)   # before the claim: a row known up to date no longer is
        with self._writing(), self._cache.transact():
            current = self.get(content_hash)
            outcome, record = claim_outcome(current, self.owner, self.owner_alive, force=force)
            if outcome != "claimed" or record is not None:
                return outcome, record
            record = new_claim(current, self.owner, content_hash, key, kind, title=title, output=output,
                               force=force, generation=generation)
            self._cache.set(f"job:{content_hash}", record.to_json())
            self._log(content_hash, transitions_between(current, record))
            return "claimed", record

    def take_over(self, record: Record) -> bool:
        """Adopt an orphaned claim so only this process reconciles it; False if someone else did."""
        with self._writing(), self._cache.transact():
            current = self.get(record.hash)
            if current is None or current.owner != record.owner or self.owner_alive(current.owner):
                return False
            current.owner = self.owner
            current.updated_at = time.time()
            self._cache.set(f"job:{record.hash}", current.to_json())
            self._log(record.hash, [Transition(current.updated_at, "taken over",
                                               "its build had died: reconciled here")])
            record.owner = self.owner
            return True

    def record(self, record: Record, *, install: Callable[[], None] | None = None) -> bool:
        """Write ``record`` and return True, unless state has moved past it (see ``superseded``):
        then write nothing and return False, so the caller knows another build took the job over.

        ``install`` (say, renaming a downloaded file into place) runs only when the record is
        written, inside the same transaction: no claim can come between the check and the write.
        If it raises, nothing is written.
        """
        if record.status != "downloaded":
            with self._writing():
                self._rows.forget_hash(record.hash)
        with self._writing(), self._cache.transact():
            current = self.get(record.hash)
            if current is not None and superseded(record, current):
                return False
            if install is not None:
                install()
            record.updated_at = time.time()
            self._cache.set(f"job:{record.hash}", record.to_json())
            self._log(record.hash, transitions_between(current, record))
            return True

    def merge(self, record: Record, newer: Callable[[Record, Record], bool]) -> bool:
        """Write ``record`` as it is (its ``updated_at`` kept) if the hash has no record yet or
        ``newer(record, current)``; True if written. For ``vidbuild state import``."""
        with self._writing(), self._cache.transact():
            current = self.get(record.hash)
            if current is not None and not newer(record, current):
                return False
            self._cache.set(f"job:{record.hash}", record.to_json())
            return True

    def _log(self, content_hash: str, transitions: list[Transition]) -> None:
        """Append to the hash's history; the caller holds the transaction."""
        if transitions:
            self._cache.set(f"log:{content_hash}", self.history(content_hash).appended(transitions).to_json())

    def remember_body(self, content_hash: str, body: dict[str, Any]) -> None:
        """Keep the body claimed for ``content_hash`` (a hash names one body: written once)."""
        if f"body:{content_hash}" not in self._cache:
            with self._writing():
                self._cache.set(f"body:{content_hash}", body)

    def body(self, content_hash: str) -> dict[str, Any] | None:
        data = self._cache.get(f"body:{content_hash}")
        return data if isinstance(data, dict) else None

    def note(self, content_hash: str, transition: Transition) -> None:
        with self._writing(), self._cache.transact():
            self._log(content_hash, [transition])

    def history(self, content_hash: str) -> History:
        return History.from_json(self._cache.get(f"log:{content_hash}"))

    def restore(self, content_hash: str, body: dict[str, Any] | None, history: History) -> None:
        """Merge an imported body (kept if none is here) and history into this store."""
        if body is not None:
            self.remember_body(content_hash, body)
        if history.entries:
            with self._writing(), self._cache.transact():
                merged = self.history(content_hash).merged(history)
                self._cache.set(f"log:{content_hash}", merged.to_json())

    def remember_key(self, key: str, entry: KeyEntry) -> None:
        fields, body = entry.to_store()
        with self._writing():
            self._rows.put_key_entry(key, entry.hash, fields, body)

    def known_rows(self, fingerprints: Sequence[str]) -> dict[str, KnownRow]:
        return self._rows.get_many(fingerprints)

    def remember_rows(self, rows: Sequence[KnownRow]) -> None:
        with self._writing():
            self._rows.put_many(rows)

    def forget_rows(self, keys: Sequence[str]) -> None:
        with self._writing():
            self._rows.forget_keys(keys)

    def owner_alive(self, owner: str) -> bool:
        if owner == self.owner:
            return True
        path = self._owners / f"{_owner_token(owner)}.lock"
        try:
            with path.open("a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        path.unlink(missing_ok=True)
        return False

    def records(self) -> Iterator[Record]:
        for name in self._cache.iterkeys():
            if name.startswith("job:"):
                record = self.get(name[4:])
                if record is not None:
                    yield record

    def holds_no_jobs(self) -> bool:
        """True when nothing was ever claimed here (a cold build): the planner then skips lookups."""
        if len(self._cache) > _FEW:   # only a handful of meta entries can exist without jobs
            return False
        return not any(name.startswith(("job:", "key:")) for name in self._cache.iterkeys()) \
            and not self._rows.holds_key_entries()

    def get_meta(self, name: str) -> Any:
        return self._cache.get(f"meta:{name}")

    def set_meta(self, name: str, value: Any) -> None:
        with self._writing():
            self._cache.set(f"meta:{name}", value)

    def close(self) -> None:
        self._reader.close()
        fcntl.flock(self._owner_file, fcntl.LOCK_UN)
        self._owner_file.close()
        (self._owners / f"{_owner_token(self.owner)}.lock").unlink(missing_ok=True)


class DiskReader:
    """The lookups of a disk state's namespace ``directory`` (``get``, ``get_many``, ``for_keys``)
    over its own connections to the store and the known rows' file, and no owner: what a
    ``DiskState`` reads through, and what a second process opens to look rows up in (see
    planner/lookahead.py). Raises StateError when the store can't be opened or read."""

    def __init__(self, directory: Path) -> None:
        import diskcache

        self.directory = directory
        try:
            self.cache = diskcache.Cache(str(directory / "store"), disk=diskcache.JSONDisk,
                                         eviction_policy="none", statistics=0, timeout=60)
        except (OSError, diskcache.Timeout) as exc:
            raise StateError(f"cannot open state in {directory}: {exc}") from exc
        self.rows = KnownRowsFile(directory / KNOWN_ROWS_FILE)

    def get(self, content_hash: str) -> Record | None:
        data = self.cache.get(f"job:{content_hash}")
        return Record.from_json(data) if data is not None else None

    def get_many(self, hashes: Sequence[str]) -> dict[str, Record]:
        return {content_hash: Record.from_json(data)
                for content_hash, data in self._fetch_many("job:", hashes).items()}

    def for_keys(self, keys: Sequence[str]) -> dict[str, KeyEntry]:
        """Key entries live in the known rows' file (see state/known_rows.py); a key not found
        there is looked up where vidbuild kept them before (``key:`` in the store)."""
        found = {key: KeyEntry(*entry) for key, entry in self.rows.key_entries(keys).items()}
        if len(found) < len(keys):
            older = self._fetch_many("key:", [key for key in keys if key not in found])
            found.update((key, KeyEntry(data["hash"], data["fields"])) for key, data in older.items())
        return found

    def _fetch_many(self, prefix: str, names: Sequence[str]) -> dict[str, Any]:
        """The values stored under ``prefix + name``, by name: one query per ``FETCH_PAGE`` names
        (diskcache's ``get`` is a query each: 100,000 rows took seconds). Matches keys and reads
        values through the store's own ``Disk``, as diskcache's ``get`` does."""
        found: dict[str, Any] = {}
        disk, query = self.cache._disk, self.cache._sql
        for start in range(0, len(names), FETCH_PAGE):
            # JSONDisk stores every key as compressed bytes: ``raw`` is the same for all.
            stored = {bytes(disk.put(prefix + name)[0]): name for name in names[start:start + FETCH_PAGE]}
            marks = ",".join("?" * len(stored))
            rows = query(f"SELECT key, mode, filename, value FROM Cache WHERE key IN ({marks}) AND raw = 1"
                         " AND (expire_time IS NULL OR expire_time > ?)", [*stored, time.time()]).fetchall()
            for key, mode, filename, value in rows:
                try:
                    found[stored[key]] = disk.fetch(mode, filename, value, False)
                except OSError:   # removed since it was listed, as diskcache's get treats it
                    continue
        return found

    def close(self) -> None:
        self.cache.close()
        self.rows.close()


def _owner_token(owner: str) -> str:
    return hashlib.sha256(owner.encode()).hexdigest()[:16]
