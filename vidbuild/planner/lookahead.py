"""Plan stage, looking rows up in state: what state knows of each rendered row (``look_up``), done
on a second core while the planner renders the next rows (``LookAhead``).

A plan after an edit that changes every row (a template, a ``vars`` value) renders every row, as a
cold plan does, and also looks each one up: its body's record (none: the body is new), the last
body built for its key, and the fields that differ (what ``plan`` names). In one process those
lookups made such a plan 1.3 to 1.5 times a cold plan of 10,000 rows (issue 14 asks for 1.2). They need
nothing from the rendering but the rendered bodies, so another process does them, a batch
behind the renderer, which takes their answers in data order.

The helper runs only where it can pay off: a plan that asked for it (``plan`` and a build's
planning pass, which sends nothing until every row is decided), a state that can open its lookups
in another process (``State.reader``), two cores for this process, and ``START_AFTER`` rows that
needed looking up (an edit of a few rows never starts one). Whatever the helper can't do (start,
open the state, stay alive), the planner looks up itself, as it does without one: the helper
changes where a lookup is done, never its answer.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from vidbuild.planner.fields import changed_since
from vidbuild.planner.same_video import may_be_same
from vidbuild.state.protocol import KeyEntry, Lookups, Record, State

if TYPE_CHECKING:
    from vidbuild.spec.expand import Job

# Rows looked up in this process before a helper is started: starting one costs this process a few
# ms and the other core ~0.3 s. Measured on 2 cores: 2,000 changed rows plan ~13% faster with
# 300; 600 rows neither faster nor slower.
START_AFTER = 256
STOP_WAIT = 1.0          # seconds a helper is given to exit when told to


@dataclass(frozen=True)
class Lookup:
    """What state knows of one row: its body's ``record``; when it has none, the last body built
    for the row's key (``earlier``, None for a row state never saw) and the paths of the fields
    that differ from it (``changed``, see planner/fields.py's ``changed_since``)."""

    record: Record | None
    earlier: KeyEntry | None = None
    changed: list[str] = field(default_factory=list)


# A row as it is looked up: its key, its body's content hash, its kind and its body.
LookupRow = tuple[str, str, str, dict[str, Any]]


def lookup_row(job: Job) -> LookupRow:
    return job.key, job.hash, job.kind, job.body


def look_up(lookups: Lookups, rows: Sequence[LookupRow], forced: Collection[str]) -> list[Lookup]:
    """What ``lookups`` (a state, or its reader) knows of each of ``rows``, in their order: their
    records in one request, then the key entries of the rows without one, except ``forced`` keys
    (a forced row is sent whatever its key last built). Raises StateError when state can't be read."""
    records = lookups.get_many([content_hash for _, content_hash, _, _ in rows])
    new_keys = [key for key, content_hash, _, _ in rows if content_hash not in records and key not in forced]
    previous = lookups.for_keys(new_keys) if new_keys else {}
    found = []
    for key, content_hash, _, body in rows:
        record = records.get(content_hash)
        earlier = previous.get(key) if record is None else None
        found.append(Lookup(record, earlier, changed_since(earlier, body) if earlier is not None else []))
    return found


@dataclass
class Batch:
    """Rows read together (``jobs``, in data order): the keys ``--force`` names among them
    (``forced``) and the rows to decide (``pending``: all but those known unchanged)."""

    jobs: list[Job]
    forced: set[str]
    pending: list[Job]


class LookAhead:
    """Looks a plan's batches up in a helper process (see the module docstring).

    ``looked_up`` hands each batch back, in order, with its rows' ``Lookup``s, or with None where
    the caller looks them up itself; ``close`` stops the helper. Raises nothing of its own: a
    helper that fails is dropped."""

    def __init__(self, state: State, *, start_after: int = START_AFTER) -> None:
        self._state = state
        self._start_after = start_after
        self._seen = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._connection: Connection | None = None
        self._ready = False
        self._broken = False
        self.answered = 0   # batches the helper looked up

    @property
    def failed(self) -> bool:
        """Whether the helper can't help (it could not start, or failed): rows are looked up here."""
        return self._broken

    @property
    def pid(self) -> int | None:
        """The helper's process id, while it runs."""
        return self._process.pid if self._process is not None else None

    def looked_up(self, batches: Iterable[Batch]) -> Iterator[tuple[Batch, list[Lookup] | None]]:
        """Each of ``batches``, in order, with its lookups (None: look it up yourself). One batch
        at a time is with the helper, and the next is sent only once its answer was read: neither
        process ever writes while the other does (two writes to a full socket would wait on each
        other for ever), and the helper looks one batch up while the planner renders the next."""
        sent: Batch | None = None
        for batch in batches:
            self._seen += len(batch.pending)
            answer = self._answer(sent) if sent is not None else None
            sent = batch if self.ready() and self._send(batch) else None
            if answer is not None:
                yield answer
            if sent is None:
                yield batch, None
        if sent is not None:
            yield self._answer(sent)

    def ready(self) -> bool:
        """Whether the helper answers now; it is started once ``start_after`` rows were seen."""
        if self._broken:
            return False
        if self._connection is None and (self._seen < self._start_after or not self._start()):
            return False
        if not self._ready and self._connection is not None:
            try:
                if not self._connection.poll():
                    return False   # still starting: this batch is looked up here
                self._ready = self._connection.recv() == ("ready", None)
            except (EOFError, OSError):
                pass
            self._broken = not self._ready
        return self._ready

    def _start(self) -> bool:
        """Start the helper if this process may use a second core; False if it didn't start."""
        opener = self._state.reader()
        if opener is None or _cores() < 2 or not sys.executable or getattr(sys, "frozen", False):
            self._broken = True
            return False
        ours, theirs = socket.socketpair()
        # A process of its own, not multiprocessing's: that one runs this program's main module
        # again first (a user's script calling vidbuild without a __main__ guard would run twice).
        # Isolated (-I: no current directory, no PYTHON* variables), it imports from this
        # process's own sys.path: the same vidbuild as this one, and nothing this one would not.
        # Its own session: a Ctrl-C stops the planner, whose socket then closes, ending the helper.
        code = f"import sys; sys.path[:] = sys.argv[2:]; from {__name__} import main; main(int(sys.argv[1]))"
        descriptor = theirs.fileno()
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", "-c", code, str(descriptor), *sys.path], pass_fds=[descriptor],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True)
        except OSError:
            ours.close()
            self._broken = True
            return False
        finally:
            theirs.close()
        self._process, self._connection = process, Connection(ours.detach())
        try:
            self._connection.send(opener)
        except (OSError, ValueError):
            self._broken = True
            return False
        return True

    def _send(self, batch: Batch) -> bool:
        assert self._connection is not None
        try:
            self._connection.send(([lookup_row(job) for job in batch.pending], batch.forced))
        except (OSError, ValueError):
            self._broken = True
            return False
        return True

    def _answer(self, batch: Batch) -> tuple[Batch, list[Lookup] | None]:
        """``batch`` with the helper's answer, or with None if the helper gave none."""
        if self._broken or self._connection is None:
            return batch, None
        try:
            what, looked = self._connection.recv()
        except (EOFError, OSError, ValueError):
            what, looked = "gone", None
        if what != "looked" or len(looked) != len(batch.pending):
            self._broken = True
            return batch, None
        self.answered += 1
        return batch, looked

    def close(self) -> None:
        """Stop the helper: its socket is closed (a helper waiting to read or write then ends),
        and it is killed if it hasn't ended within ``STOP_WAIT`` (it only reads state)."""
        process, connection = self._process, self._connection
        self._process = self._connection = None
        if connection is not None:
            connection.close()
        if process is None:
            return
        try:
            process.wait(STOP_WAIT if self._ready else 0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(descriptor: int) -> None:
    """The helper process's entry: its end of the planner's socket is file ``descriptor``."""
    connection = Connection(descriptor)
    try:
        open_reader = connection.recv()
    except (EOFError, OSError):
        return
    serve(connection, open_reader)


def serve(connection: Connection, open_reader: Callable[[], Lookups]) -> None:
    """The helper's loop: open the state's reader, say ``("ready", None)``, then answer each
    ``(rows, forced)`` with ``("looked", lookups)`` until told None or the pipe closes. A failure
    is told as ``("failed", message)`` and ends the helper (the planner looks up the rest)."""
    try:
        reader = open_reader()
    except Exception as exc:
        _tell(connection, ("failed", str(exc)))
        return
    try:
        connection.send(("ready", None))
        while (message := connection.recv()) is not None:
            rows, forced = message
            looked = zip(look_up(reader, rows, forced), rows, strict=True)
            connection.send(("looked", [_to_send(lookup, row) for lookup, row in looked]))
    except (EOFError, OSError):   # the planner is gone
        return
    except Exception as exc:
        _tell(connection, ("failed", str(exc)))
    finally:
        reader.close()


def _to_send(lookup: Lookup, row: LookupRow) -> Lookup:
    """``lookup`` without its earlier body, unless that body may render the same video as the row's
    (planner/same_video.py decides, with the body): a body rarely needs the trip back."""
    earlier = lookup.earlier
    if earlier is None or (row[2] == "video" and earlier.body is not None
                           and may_be_same(earlier.body, row[3], lookup.changed)):
        return lookup
    return Lookup(lookup.record, KeyEntry(earlier.hash), lookup.changed)


def _tell(connection: Connection, message: tuple[str, Any]) -> None:
    try:
        connection.send(message)
    except (OSError, ValueError):
        pass


def _cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # not on every platform
        return os.cpu_count() or 1
