"""Report stage, on disk: out/manifest.json and out/manifest.csv, one entry per row."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from vidbuild.expand import Job
from vidbuild.state import Record, State

FIELDS = ("key", "hash", "video_id", "status", "output", "video_url", "thumbnail_url", "error")


def manifest_dir(root: Path, jobs: Iterable[Job]) -> Path:
    """The directory the outputs share (usually out/), or the project directory."""
    parents = {PurePosixPath(job.output).parent for job in jobs}
    if not parents:
        return root / "out"
    common = os.path.commonpath([str(p) for p in parents]) if len(parents) > 1 else str(parents.pop())
    return root / common if common not in ("", ".") else root


def entry(job: Job, record: Record | None) -> dict[str, Any]:
    done = record is not None and record.status == "downloaded" and record.hash == job.hash
    return {"key": job.key, "hash": job.hash,
            "video_id": record.video_id if record else None,
            "status": "done" if done else (record.status if record else "not-built"),
            "output": job.output if done else None,
            "video_url": record.video_url if record else None,
            "thumbnail_url": record.thumbnail_url if record else None,
            "error": record.error if record else None}


def write_manifest(root: Path, project_name: str, jobs: list[Job], state: State) -> Path:
    """Write both files atomically; returns the JSON file's path."""
    directory = manifest_dir(root, jobs)
    directory.mkdir(parents=True, exist_ok=True)
    rows = [entry(job, state.get(job.hash)) for job in jobs]
    document = {"project": project_name, "videos": rows}
    _atomic_write(directory / "manifest.json", json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    _atomic_write(directory / "manifest.csv", buffer.getvalue())
    return directory / "manifest.json"


def _atomic_write(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
