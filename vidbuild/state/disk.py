"""State stage: what has been claimed, submitted, rendered and downloaded, per content hash.

All state goes through the small ``State`` protocol (claim, record, look up by hash and by key,
a page of rows at a time), and ``open_state`` picks the store. ``DiskState`` keeps it in a
diskcache store under ``.vidbuild/<namespace>/``; the namespace comes from the API base URL, so
the emulator's results never count as HeyGen's. ``PostgresState`` (vidbuild/state_postgres.py)
keeps it in a database many runners share (``--state-url``). Both decide claims with the same
``claim_outcome`` and ``superseded`` rules.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import itertools
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from vidbuild.errors import StateError, UsageError
from vidbuild.heygen.routes import Generation, normalize_base_url

STATE_DIR_NAME = ".vidbuild"
STATE_FORMAT = 1
_FEW = 16

# claimed: we are about to send it; uncertain: sent, reply lost; submitted..processing: rendering;
# completed: rendered, not yet downloaded; downloaded: the file is at its output path; failed: HeyGen
# (or the API) said no, and the next build retries it.
Status = Literal["claimed", "uncertain", "submitted", "rendering", "completed", "downloaded", "failed"]
ClaimOutcome = Literal["claimed", "busy", "orphaned", "exists"]


@dataclass
class Record:
    """Everything known about one content hash."""

    hash: str
    key: str
    kind: str
    status: Status
    owner: str = ""
    title: str | None = None
    output: str | None = None
    video_id: str | None = None
    video_url: str | None = None
    thumbnail_url: str | None = None
    duration: float | None = None
    checksum: str | None = None
    size: int | None = None
    mtime_ns: int | None = None
    error: str | None = None
    error_permanent: bool = False
    attempts: int = 0
    claimed_at: float | None = None
    submitted_at: float | None = None
    completed_at: float | None = None
    downloaded_at: float | None = None
    updated_at: float = field(default_factory=time.time)
    earlier_video_ids: list[str] = field(default_factory=list)
    # When each submission whose reply was lost was sent (Unix seconds), until the body has a
    # video again: a reconcile looks back to the first of them, and waits longer after each.
    lost_at: list[float] = field(default_factory=list)
    # The API generation the claim is sent through ("legacy" or "v3"); records written before
    # vidbuild spoke v3 read as "legacy". ``forced``: the claim came from ``--force`` (it must
    # pay again, so it never reuses an earlier claim's Idempotency-Key).
    generation: Generation = "legacy"
    forced: bool = False

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Record:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class KeyEntry:
    """The last body built for a row key: its hash and a digest per field, to name what changed."""

    hash: str
    fields: dict[str, str]


class _HasHash(Protocol):
    @property
    def hash(self) -> str: ...


_Row = TypeVar("_Row", bound=_HasHash)


class State(Protocol):
    """The one interface the planner and the engine use for state.

    A backend must make ``claim`` and ``take_over`` atomic across processes, and ``record`` refuse
    to move a record backwards (an older copy must never undo a newer claim or a download),
    telling the caller so, and run its ``install`` step only when it writes, in the same
    transaction, as ``DiskState`` does. ``get_many`` and ``for_keys`` answer for a page of rows
    at once (only the hashes and keys that are known appear in the result): a remote store
    answers them in one round trip instead of one per row.
    """

    namespace: str
    owner: str

    def get(self, content_hash: str) -> Record | None: ...
    def get_many(self, hashes: Sequence[str]) -> dict[str, Record]: ...
    def for_key(self, key: str) -> KeyEntry | None: ...
    def for_keys(self, keys: Sequence[str]) -> dict[str, KeyEntry]: ...
    def claim(self, content_hash: str, key: str, kind: str, *, title: str | None,
              output: str, force: bool = False, generation: Generation = "legacy"
              ) -> tuple[ClaimOutcome, Record | None]: ...
    def take_over(self, record: Record) -> bool: ...
    def record(self, record: Record, *, install: Callable[[], None] | None = None) -> bool: ...
    def remember_key(self, key: str, entry: KeyEntry) -> None: ...
    def owner_alive(self, owner: str) -> bool: ...
    def records(self) -> Iterator[Record]: ...
    def holds_no_jobs(self) -> bool: ...
    def get_meta(self, name: str) -> Any: ...
    def set_meta(self, name: str, value: Any) -> None: ...
    def close(self) -> None: ...


_LOOKUP_PAGE = 500


def with_records(state: State, rows: Iterable[_Row]) -> Iterator[tuple[_Row, Record | None]]:
    """Each of ``rows`` (anything with a ``hash``) with its record, looked up a page at a time."""
    iterator = iter(rows)
    while page := list(itertools.islice(iterator, _LOOKUP_PAGE)):
        found = state.get_many([row.hash for row in page])
        for row in page:
            yield row, found.get(row.hash)


def namespace_for(base_url: str) -> str:
    """A directory name for an API base URL: readable, and unique per API (every spelling of one
    URL, as ``normalize_base_url`` has it, names the same directory). UsageError if not a URL."""
    base_url = normalize_base_url(base_url)
    readable = re.sub(r"[^A-Za-z0-9.-]+", "-", base_url.split("://", 1)[-1]).strip("-")[:60]
    digest = hashlib.sha256(base_url.encode()).hexdigest()[:8]
    return f"{readable}-{digest}"


def state_root(project_root: Path, override: str | None = None) -> Path:
    """--state-dir, else $VIDBUILD_STATE_DIR, else .vidbuild/ in the project directory."""
    chosen = override or os.environ.get("VIDBUILD_STATE_DIR")
    return Path(chosen).resolve() if chosen else project_root / STATE_DIR_NAME


def state_url(override: str | None = None, state_dir: str | None = None) -> str | None:
    """--state-url, else $VIDBUILD_STATE_URL unless --state-dir chose a directory: the PostgreSQL
    database that holds state instead of ``.vidbuild/``, or None for the disk.

    UsageError if both options are given. The URL itself is checked when it is opened.
    """
    if override and state_dir:
        raise UsageError("--state-url and --state-dir both say where state lives: give one")
    if override:
        return override
    if state_dir:
        return None
    return os.environ.get("VIDBUILD_STATE_URL") or None


def open_state(root: Path, namespace: str, *, url: str | None = None, project: str = "") -> State:
    """The build state: a ``DiskState`` under ``root``, or with ``url`` a ``PostgresState``
    namespaced by ``project`` (its name) and the API ``namespace``, as the disk is by directory.

    Raises UsageError for a URL that is not PostgreSQL's or without psycopg installed, StateError
    when the store can't be opened; a URL's password never appears in either.
    """
    if url is None:
        return DiskState(root, namespace)
    from vidbuild.state.postgres import PostgresState

    return PostgresState(url, f"{project}/{namespace}")


def state_exists(root: Path, namespace: str, *, url: str | None = None) -> bool:
    """Whether state may hold anything yet (a database always may: it is asked)."""
    return url is not None or (root / namespace).is_dir()


class DiskState:
    """State in a diskcache store (SQLite in WAL mode: a committed write survives kill -9).

    Values are stored as JSON (never pickle: a state directory may come from elsewhere) and
    nothing is ever evicted. Each process holds an exclusive lock on its own owner file while
    it runs; a claim whose owner file can be locked by someone else belongs to a dead process.
    """

    def __init__(self, root: Path, namespace: str) -> None:
        import diskcache

        self.namespace = namespace
        self.directory = root / namespace
        self._owners = self.directory / "owners"
        try:
            self._owners.mkdir(parents=True, exist_ok=True)
            self._cache = diskcache.Cache(str(self.directory / "store"), disk=diskcache.JSONDisk,
                                          eviction_policy="none", statistics=0, timeout=60)
        except (OSError, diskcache.Timeout) as exc:
            raise StateError(f"cannot open state in {self.directory}: {exc}") from exc
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
        data = self._cache.get(f"job:{content_hash}")
        return Record.from_json(data) if data is not None else None

    def get_many(self, hashes: Sequence[str]) -> dict[str, Record]:
        found = {}
        for content_hash in hashes:
            record = self.get(content_hash)
            if record is not None:
                found[content_hash] = record
        return found

    def for_key(self, key: str) -> KeyEntry | None:
        data = self._cache.get(f"key:{key}")
        return KeyEntry(data["hash"], data["fields"]) if data is not None else None

    def for_keys(self, keys: Sequence[str]) -> dict[str, KeyEntry]:
        found = {}
        for key in keys:
            entry = self.for_key(key)
            if entry is not None:
                found[key] = entry
        return found

    def claim(self, content_hash: str, key: str, kind: str, *, title: str | None,
              output: str, force: bool = False, generation: Generation = "legacy"
              ) -> tuple[ClaimOutcome, Record | None]:
        """Atomically mark a hash as about to be submitted by this process, through ``generation``.

        'claimed': go ahead and send. 'busy': a live process holds it. 'orphaned': a dead process
        claimed it and may have sent it: reconcile first. 'exists': already submitted or done.
        """
        with self._writing(), self._cache.transact():
            current = self.get(content_hash)
            outcome, record = claim_outcome(current, self.owner, self.owner_alive, force=force)
            if outcome != "claimed" or record is not None:
                return outcome, record
            record = new_claim(current, self.owner, content_hash, key, kind, title=title, output=output,
                               force=force, generation=generation)
            self._cache.set(f"job:{content_hash}", record.to_json())
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
            record.owner = self.owner
            return True

    def record(self, record: Record, *, install: Callable[[], None] | None = None) -> bool:
        """Write ``record`` and return True, unless state has moved past it (see ``superseded``):
        then write nothing and return False, so the caller knows another build took the job over.

        ``install`` (say, renaming a downloaded file into place) runs only when the record is
        written, inside the same transaction: no claim can come between the check and the write.
        If it raises, nothing is written.
        """
        with self._writing(), self._cache.transact():
            current = self.get(record.hash)
            if current is not None and superseded(record, current):
                return False
            if install is not None:
                install()
            record.updated_at = time.time()
            self._cache.set(f"job:{record.hash}", record.to_json())
            return True

    def remember_key(self, key: str, entry: KeyEntry) -> None:
        with self._writing():
            self._cache.set(f"key:{key}", {"hash": entry.hash, "fields": entry.fields})

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
        return not any(name.startswith(("job:", "key:")) for name in self._cache.iterkeys())

    def get_meta(self, name: str) -> Any:
        return self._cache.get(f"meta:{name}")

    def set_meta(self, name: str, value: Any) -> None:
        with self._writing():
            self._cache.set(f"meta:{name}", value)

    def close(self) -> None:
        self._cache.close()
        fcntl.flock(self._owner_file, fcntl.LOCK_UN)
        self._owner_file.close()
        (self._owners / f"{_owner_token(self.owner)}.lock").unlink(missing_ok=True)


@contextmanager
def interrupts_held_back() -> Iterator[None]:
    """SIGINT that arrives in the block is delivered when it ends (main thread only: others can't
    set signal handlers, and Python delivers SIGINT to the main thread anyway)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: arrived.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if arrived:
            signal.raise_signal(signal.SIGINT)


def claim_outcome(current: Record | None, owner: str, owner_alive: Callable[[str], bool], *,
                  force: bool) -> tuple[ClaimOutcome, Record | None]:
    """What a claim by ``owner`` finds in ``current`` (the hash's record, read under the store's
    lock): ('claimed', None) means write a new claim (see ``new_claim``); any other answer is
    final. Shared by every store, so they cannot disagree."""
    if current is not None and current.owner == owner and current.status == "claimed":
        return "claimed", current   # our own claim, released unsent (rate limit): go again
    if current is not None and not (force or current.status == "failed"):
        if current.status in ("claimed", "uncertain") and current.owner != owner:
            return ("busy" if owner_alive(current.owner) else "orphaned"), current
        return "exists", current
    return "claimed", None


def new_claim(current: Record | None, owner: str, content_hash: str, key: str, kind: str, *,
              title: str | None, output: str, force: bool, generation: Generation) -> Record:
    """The record a claim writes over ``current`` (None: the hash was never claimed), to be
    sent through ``generation``."""
    return Record(hash=content_hash, key=key, kind=kind, status="claimed", owner=owner,
                  title=title, output=output, claimed_at=time.time(),
                  attempts=(current.attempts if current else 0) + 1,
                  earlier_video_ids=_earlier_ids(current),
                  lost_at=[] if force or current is None else current.lost_at,
                  generation=generation, forced=force)


def superseded(record: Record, current: Record) -> bool:
    """Whether ``record`` is a stale copy (another build followed the same job) that would undo
    ``current``: a newer claim of the hash would lose its video_id, a downloaded file its record."""
    if current.claimed_at != record.claimed_at:
        return True
    return (current.status == "downloaded" and current.video_id == record.video_id
            and record.status in ("submitted", "rendering", "completed"))


def _owner_token(owner: str) -> str:
    return hashlib.sha256(owner.encode()).hexdigest()[:16]


def _earlier_ids(current: Record | None) -> list[str]:
    if current is None:
        return []
    return [*current.earlier_video_ids, *([current.video_id] if current.video_id else [])]
