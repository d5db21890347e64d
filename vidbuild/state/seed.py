"""State stage, seeding: a new state learns from the last manifest what was built, sending nothing.

A CI runner starts from a clean checkout; with ``out/`` (the videos and ``manifest.json``)
restored from a cache or an artifact, the manifest says which body (``hash``) was built as which
video (``video_id``) and what its file was (``checksum``: sha256 of the bytes, ``size``). When
the state holds no job yet, each body a manifest lists as ``done`` becomes a record:

- ``downloaded`` if the file at its output still has those bytes (checked by sha256, since a
  restored cache gives files new mtimes): a row with that body is up to date, nothing is sent;
- ``completed`` (the video exists, its file doesn't) otherwise: the build asks the video's status
  for a fresh URL and downloads it again, and never submits the body.

Records are keyed by content hash, as every record is, so a row edited since the manifest was
written has another hash and is simply new (looked up in the account first, see
vidbuild/run/recover.py); a manifest entry is a fact about a body whatever the rows say now.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from vidbuild.planner.decide import file_checksum
from vidbuild.report.manifest import MANIFEST_JSON
from vidbuild.spec.project import DEFAULT_OUTPUT, Project
from vidbuild.state.history import Transition
from vidbuild.state.location import STATE_DIR_NAME, api_namespace
from vidbuild.state.protocol import Record, State

SEARCH_DEPTH = 3   # folders below the output's fixed prefix searched for a manifest (out/<region>/…)


@dataclass
class Seeded:
    """What seeding found: bodies whose file is intact, and bodies whose video is fetched again."""

    intact: int = 0
    refetch: int = 0


@dataclass(frozen=True)
class _Built:
    """A manifest entry that can vouch for a body: its row, its video and its file."""

    key: str
    hash: str
    output: str
    video_id: str
    checksum: str
    size: int
    video_url: str | None      # as the manifest lists them: kept for an intact file only
    thumbnail_url: str | None
    facts: dict[str, Any]      # what the manifest tells of the video (see ``_facts``)
    thumbnail: str | None      # where the thumbnail was downloaded (project-relative)


def seed_from_manifest(state: State, project: Project) -> Seeded | None:
    """Seed an empty ``state`` from the project's manifests; None if the state already holds
    jobs or no manifest of this project (its ``project`` field is the project's name) lies in the
    folder the ``output:`` template's fixed prefix names, or up to ``SEARCH_DEPTH`` below it
    (nor one of another API: see ``_read_manifest``).
    Raises StateError as the store's writes do."""
    if not state.holds_no_jobs():
        return None
    api = api_namespace(state.namespace)
    built = [entry for path in _manifests(project) for entry in _read_manifest(path, project.name, api)]
    if not built:
        return None
    twins: dict[str, list[_Built]] = {}   # one body, several rows: each has its file
    for entry in built:
        twins.setdefault(entry.hash, []).append(entry)
    seeded = Seeded()
    for entries in twins.values():
        intact = next((entry for entry in entries if _holds(project.root, entry)), None)
        entry = intact or entries[0]
        state.note(entry.hash,
                    Transition(time.time(), "seeded", f"from a manifest (video_id {entry.video_id})"))
        state.record(_record(state, project, entry, intact=intact is not None))
        if intact:
            seeded.intact += 1
        else:
            seeded.refetch += 1
    return seeded


def _manifests(project: Project) -> Iterator[Path]:
    """Every manifest.json where the outputs may share a folder, hidden folders (the state) aside."""
    template = project.spec.get("output", DEFAULT_OUTPUT)
    fixed = str(template).split("{", 1)[0]   # before the first Jinja tag: every output starts so
    start = project.root / fixed.rsplit("/", 1)[0] if "/" in fixed else project.root
    if not start.resolve().is_relative_to(project.root.resolve()):
        return
    for folder, subfolders, files in os.walk(start):
        depth = len(Path(folder).relative_to(start).parts)
        subfolders[:] = sorted(name for name in subfolders if not name.startswith(".")
                               and name != STATE_DIR_NAME and depth < SEARCH_DEPTH)
        if MANIFEST_JSON in files:
            yield Path(folder) / MANIFEST_JSON


def _record(state: State, project: Project, entry: _Built, *, intact: bool) -> Record:
    """A ``downloaded`` record if the file is ``intact``, else a ``completed`` one without a URL
    (the download then asks the video's status for one)."""
    now = time.time()
    record = Record(hash=entry.hash, key=entry.key, kind=project.kind, status="completed",
                    owner=state.owner, output=entry.output, video_id=entry.video_id,
                    submitted_at=now, completed_at=now)
    for name, value in entry.facts.items():
        setattr(record, name, value)
    if intact:
        record.status, record.checksum, record.size, record.downloaded_at = \
            "downloaded", entry.checksum, entry.size, now
        record.mtime_ns = (project.root / entry.output).stat().st_mtime_ns
        record.video_url, record.thumbnail_url = entry.video_url, entry.thumbnail_url
        thumbnail = entry.thumbnail
        record.thumbnail = thumbnail if thumbnail and (project.root / thumbnail).is_file() else None
    else:
        record.urls_expire_at = None
    return record


def _holds(root: Path, entry: _Built) -> bool:
    path = root / entry.output
    try:
        return path.is_file() and path.stat().st_size == entry.size and file_checksum(path) == entry.checksum
    except OSError:
        return False


def _read_manifest(path: Path, project_name: str, api: str) -> list[_Built]:
    """The manifest's done entries; none if it is unreadable, of another form, of another project
    or of another API (``api``: its video ids would mean nothing here, and the emulator's videos
    must never count as HeyGen's). A cache's copy: nothing in it is trusted beyond what the
    files confirm."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(document, dict) or document.get("project") != project_name \
            or document.get("api") != api or not isinstance(document.get("videos"), list):
        return []
    return [entry for entry in map(_usable, document["videos"]) if entry is not None]


def _usable(item: Any) -> _Built | None:
    if not isinstance(item, dict) or item.get("status") != "done":
        return None
    fields = tuple(item.get(name) for name in ("key", "hash", "output", "video_id", "checksum"))
    size = item.get("size")
    if not all(isinstance(value, str) and value for value in fields) \
            or not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return None
    output = PurePosixPath(str(item["output"]))
    if output.is_absolute() or ".." in output.parts:
        return None   # never a path outside the project
    return _Built(str(item["key"]), str(item["hash"]), str(output), str(item["video_id"]),
                  str(item["checksum"]), size, _text(item.get("video_url")), _text(item.get("thumbnail_url")),
                  _facts(item), _relative(item.get("thumbnail")))


def _facts(item: dict[str, Any]) -> dict[str, Any]:
    """The record fields a manifest entry gives beyond the file (manifests written before a
    field was listed leave it unknown); a value of the wrong type is left out, as unknown."""
    facts: dict[str, Any] = {name: _text(item.get(name)) for name in ("title", "video_page_url")}
    for name in ("duration", "credits_estimated"):
        value = item.get(name)
        facts[name] = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    for name in ("created_at", "completed_at", "urls_expire_at"):
        facts[name] = _seconds(item.get(name))
    return {name: value for name, value in facts.items() if value is not None}


def _relative(value: Any) -> str | None:
    """A path inside the project, or None (never one outside it)."""
    if not isinstance(value, str) or not value:
        return None
    path = PurePosixPath(value)
    return None if path.is_absolute() or ".." in path.parts else str(path)


def _seconds(value: Any) -> float | None:
    """ISO 8601 UTC text as the manifest writes it (``2026-11-30T08:15:00Z``) as Unix seconds."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
