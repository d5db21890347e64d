"""State stage, moving state: JSON lines out of one store and into another (disk or PostgreSQL).

The file is a header line, then one line per record (per content hash), each ``Record.to_json``::

    {"vidbuild_state": 1, "api": "api.heygen.com-1a2b3c4d", "project": "campaign", "records": 25}
    {"hash": "…", "key": "r01", "kind": "video", "status": "downloaded", "video_id": "…", …}

A record line may also carry ``body`` (the body claimed for the hash) and ``history`` (its
transitions, see state/history.py); an older export has neither, and an import merges both (a
body kept if none is there, histories joined). ``api`` is the API namespace the records belong to
(video ids are only meaningful there); an import into another API's state is refused. Only
records, their bodies and histories move: the snapshot of the last complete
build describes one checkout's files, and learned pace and retired routes are relearnt.

An import never overwrites a newer record. Newer means, in order: a later claim (``claimed_at``;
a record without one, seeded or adopted, is older than any claim), then for the same claim a
later write (``updated_at``). A claim that was in flight when exported belongs to a process that
is not running here, so a build finds it orphaned and reconciles it (looks the video up) rather
than sending it again.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO, get_args

from vidbuild.errors import UsageError
from vidbuild.state.history import History, Transition
from vidbuild.state.location import api_namespace
from vidbuild.state.protocol import Record, State, Status

FORMAT = 1
_HASH = re.compile(r"^[0-9a-f]{64}$")
_STATUSES = frozenset(get_args(Status))
_OPTIONAL_TEXT = frozenset({"title", "output", "video_id", "video_url", "thumbnail_url", "checksum", "error",
                            "video_page_url", "thumbnail"})
_OPTIONAL_NUMBER = frozenset({"duration", "claimed_at", "submitted_at", "completed_at", "downloaded_at",
                              "created_at", "urls_expire_at", "credits_estimated"})
_OPTIONAL_WHOLE = frozenset({"size", "mtime_ns"})


@dataclass
class Carried:
    """One record line of an export: the record, its body (None: not kept) and its history."""

    record: Record
    body: dict[str, Any] | None
    history: History


@dataclass
class Imported:
    """What an import did: records written, and records kept because state held a newer one."""

    written: int = 0
    kept: int = 0


def export_state(state: State, project: str, stream: TextIO) -> int:
    """Write the header and every record of ``state`` to ``stream``; returns the number of records.
    Records are read twice (a count for the header, then the lines), a page at a time."""
    count = sum(1 for _ in state.records())
    header = {"vidbuild_state": FORMAT, "api": api_namespace(state.namespace), "project": project,
              "records": count}
    stream.write(json.dumps(header, ensure_ascii=False) + "\n")
    written = 0
    for record in state.records():
        line = record.to_json()
        body, history = state.body(record.hash), state.history(record.hash)
        if body is not None:
            line["body"] = body
        if history.entries:
            line["history"] = history.to_json()
        stream.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
        written += 1
    return written


def read_export(lines: Iterable[str], source: str, api: str) -> list[Carried]:
    """The records of an export, every line checked first: UsageError naming ``source:LINE`` and
    the offending field for the first line that is not what ``export_state`` writes, or an export
    of another API than ``api``."""
    numbered = enumerate(lines, start=1)
    first = next(numbered, None)
    if first is None:
        raise UsageError(f"{source}: empty: not a vidbuild state export")
    _check_header(_json_object(first[1], source, 1), source, api)
    return list(_records(numbered, source))


def _records(numbered: Iterator[tuple[int, str]], source: str) -> Iterator[Carried]:
    for number, line in numbered:
        if line.strip():
            data = _json_object(line, source, number)
            yield Carried(_record(data, source, number), _body(data, source, number),
                          _history(data, source, number))


def _body(data: dict[str, Any], source: str, number: int) -> dict[str, Any] | None:
    body = data.get("body")
    if body is not None and not isinstance(body, dict):
        raise UsageError(f"{source}:{number}: body: expected a JSON object or null, "
                         f"got {json.dumps(body)[:80]}")
    return body


def _history(data: dict[str, Any], source: str, number: int) -> History:
    """The line's history; UsageError naming the line when it is not what ``export_state`` writes."""
    history = data.get("history")
    if history is None:
        return History()
    entries = history.get("entries") if isinstance(history, dict) else None
    dropped = history.get("dropped", 0) if isinstance(history, dict) else None
    if not isinstance(entries, list) or not isinstance(dropped, int) or isinstance(dropped, bool) \
            or not all(map(_transition, entries)):
        raise UsageError(f"{source}:{number}: history: expected {{\"entries\": [{{\"at\": seconds, "
                         f"\"event\": text, \"detail\": text}}, …], \"dropped\": count}}, got "
                         f"{json.dumps(history)[:120]}")
    return History([Transition.from_json(entry) for entry in entries], dropped)


def _transition(entry: Any) -> bool:
    return isinstance(entry, dict) and _number(entry.get("at")) and _text(entry.get("event")) \
        and _text(entry.get("detail", ""))


def _json_object(line: str, source: str, number: int) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError as exc:
        raise UsageError(f"{source}:{number}: not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise UsageError(f"{source}:{number}: expected a JSON object, got {type(value).__name__}")
    return value


def _check_header(header: dict[str, Any], source: str, api: str) -> None:
    if header.get("vidbuild_state") != FORMAT:
        raise UsageError(f"{source}:1: not a vidbuild state export (format {FORMAT}): the first line "
                         f"must be its header, got {json.dumps(header)[:120]}")
    if header.get("api") != api:
        raise UsageError(f"{source}:1: these records belong to API {header.get('api')!r}, this state to "
                         f"{api!r}: their video ids mean nothing here (HEYGEN_API_BASE / HEYGEN_API_KEY "
                         f"choose the API)")


def _record(data: dict[str, Any], source: str, number: int) -> Record:
    """A Record from one line; UsageError naming the line and the first field (in the record's
    field order) whose value is wrong. A field left out takes its default."""
    def wrong(name: str, expected: str) -> UsageError:
        return UsageError(f"{source}:{number}: {name}: expected {expected}, got {json.dumps(data.get(name))}")

    if not isinstance(data.get("hash"), str) or not _HASH.match(data["hash"]):
        raise wrong("hash", "64 lowercase hex digits")
    if data.get("status") not in _STATUSES:
        raise wrong("status", "one of " + ", ".join(sorted(_STATUSES)))
    for name in ("key", "kind"):   # required: a record has no default for them
        if name not in data:
            raise wrong(name, "a non-empty string")
    for field in dataclasses.fields(Record):
        check, expected = _FIELD_CHECKS.get(field.name, (_anything, ""))
        if field.name in data and not check(data[field.name]):
            raise wrong(field.name, expected)
    known = {field.name for field in dataclasses.fields(Record)}
    return Record.from_json({name: value for name, value in data.items() if name in known})


def _anything(value: Any) -> bool:
    return True


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _text(value: Any) -> bool:
    return isinstance(value, str)


_FIELD_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    **{name: ((lambda v: _text(v) and bool(v)), "a non-empty string") for name in ("key", "kind")},
    "owner": (_text, "a string"),
    **{name: (_optional(_text), "a string or null") for name in _OPTIONAL_TEXT},
    **{name: (_optional(_number), "a number or null") for name in _OPTIONAL_NUMBER},
    **{name: (_optional(_whole), "a whole number or null") for name in _OPTIONAL_WHOLE},
    "attempts": (_whole, "a whole number"),
    "updated_at": (_number, "a number"),
    "earlier_video_ids": ((lambda v: isinstance(v, list) and all(map(_text, v))), "a list of strings"),
    "lost_at": ((lambda v: isinstance(v, list) and all(map(_number, v))), "a list of numbers"),
    "generation": ((lambda v: v in ("legacy", "v3")), "legacy or v3"),
    **{name: ((lambda v: isinstance(v, bool)), "true or false") for name in ("forced", "error_permanent")},
}


def newer(incoming: Record, current: Record) -> bool:
    """Whether ``incoming`` is newer than ``current`` (see the module docstring)."""
    if incoming.claimed_at != current.claimed_at:
        return (incoming.claimed_at or 0.0) > (current.claimed_at or 0.0)
    return incoming.updated_at > current.updated_at


def import_records(state: State, records: Iterable[Record | Carried]) -> Imported:
    """Merge ``records`` into ``state``, each written only where it is newer than what is there;
    the bodies and histories they carry are merged whatever the record's fate."""
    done = Imported()
    for item in records:
        record = item.record if isinstance(item, Carried) else item
        if isinstance(item, Carried):
            state.restore(record.hash, item.body, item.history)
        if state.merge(record, newer):
            done.written += 1
        else:
            done.kept += 1
    return done
