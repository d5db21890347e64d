"""What state is and the rules every store keeps: a ``Record`` per content hash (claimed,
submitted, rendered, downloaded), the ``State`` protocol the planner and the engine use, and the
claim rules (``claim_outcome``, ``new_claim``, ``superseded``) that ``DiskState`` (disk.py) and
``PostgresState`` (postgres.py) share, so that no two stores can disagree about a claim.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from vidbuild.heygen.routes import Generation
from vidbuild.state.known_rows import KnownRow

if TYPE_CHECKING:
    from vidbuild.state.history import History, Transition

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
    # What the manifest tells of the finished video (records written before these were kept read
    # as unknown): when HeyGen created it (Unix seconds), its share page (v3 reads only), when the
    # signed URLs read with it expire, where its thumbnail was downloaded (project-relative), and
    # the plan's credit estimate for the body when it was sent (HeyGen reports none per video).
    created_at: float | None = None
    video_page_url: str | None = None
    urls_expire_at: float | None = None
    thumbnail: str | None = None
    credits_estimated: float | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Record:
        if data.keys() <= _RECORD_FIELDS:   # as written by this version: nothing to leave out
            return cls(**data)
        return cls(**{k: v for k, v in data.items() if k in _RECORD_FIELDS})


_RECORD_FIELDS = frozenset(f.name for f in dataclasses.fields(Record))


@dataclass
class KeyEntry:
    """The last body built for a row key, to name what changed in the next body for the key: its
    ``hash``; a digest per leaf by its path (``fields``, see planner/fields.py), which every state
    keeps and every vidbuild version reads; and the ``body`` itself (a plan compares two bodies
    ~10 times faster than it digests one), which entries written by older versions lack. A state
    read leaves out ``fields`` when it has the body (they follow from it), ``body`` when it has
    none; ``remember_key`` needs ``fields`` (ValueError without: older versions read them)."""

    hash: str
    fields: dict[str, str] | None = None
    body: dict[str, Any] | None = None

    def to_store(self) -> tuple[dict[str, str], str | None]:
        """What a state writes: the field digests (ValueError without them: older versions read
        them) and the body as JSON text (None without one). Text, not a store's own JSON type:
        it gives back every value exactly (jsonb would turn the float 1e23 into an int)."""
        if self.fields is None:
            raise ValueError("a key entry is remembered with its field digests")
        text = None if self.body is None else json.dumps(self.body, separators=(",", ":"), ensure_ascii=False)
        return self.fields, text


class _HasHash(Protocol):
    @property
    def hash(self) -> str: ...


_Row = TypeVar("_Row", bound=_HasHash)


class Lookups(Protocol):
    """What the planner looks rows up with: a ``State``, or the reader a state opens in another
    process (``State.reader``)."""

    def get_many(self, hashes: Sequence[str]) -> dict[str, Record]: ...
    def for_keys(self, keys: Sequence[str]) -> dict[str, KeyEntry]: ...
    def close(self) -> None: ...


class State(Protocol):
    """The one interface the planner and the engine use for state.

    A backend must make ``claim`` and ``take_over`` atomic across processes, and ``record`` refuse
    to move a record backwards (an older copy must never undo a newer claim or a download),
    telling the caller so, and run its ``install`` step only when it writes, in the same
    transaction, as ``DiskState`` does. ``get_many`` and ``for_keys`` answer for a page of rows
    at once (only the hashes and keys that are known appear in the result): a remote store
    answers them in one round trip instead of one per row; so do ``known_rows`` (by fingerprint)
    and ``remember_rows`` (what the last build learnt per row key, see state/known_rows.py), and a
    store forgets the known rows of a hash whenever ``claim`` or ``record`` moves it off
    'downloaded'. ``reader`` gives a picklable opener of the store's lookups in another process
    (planner/lookahead.py looks rows up there), or None if the store has none.

    History (see state/history.py): ``claim``, ``take_over`` and ``record`` append the
    transitions their write means to the hash's log in the same transaction; ``note`` appends
    one the record can't show. ``remember_body`` keeps the body claimed for a hash (once);
    ``body`` and ``history`` read them back (None / an empty history for a hash recorded before
    vidbuild kept them); ``restore`` merges an imported body and history. The planner uses none
    of them.
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
    def merge(self, record: Record, newer: Callable[[Record, Record], bool]) -> bool: ...
    def remember_key(self, key: str, entry: KeyEntry) -> None: ...
    def known_rows(self, fingerprints: Sequence[str]) -> dict[str, KnownRow]: ...
    def remember_rows(self, rows: Sequence[KnownRow]) -> None: ...
    def forget_rows(self, keys: Sequence[str]) -> None: ...
    def owner_alive(self, owner: str) -> bool: ...
    def records(self) -> Iterator[Record]: ...
    def holds_no_jobs(self) -> bool: ...
    def reader(self) -> Callable[[], Lookups] | None: ...
    def remember_body(self, content_hash: str, body: dict[str, Any]) -> None: ...
    def body(self, content_hash: str) -> dict[str, Any] | None: ...
    def note(self, content_hash: str, transition: Transition) -> None: ...
    def history(self, content_hash: str) -> History: ...
    def restore(self, content_hash: str, body: dict[str, Any] | None, history: History) -> None: ...
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


def _earlier_ids(current: Record | None) -> list[str]:
    if current is None:
        return []
    return [*current.earlier_video_ids, *([current.video_id] if current.video_id else [])]
