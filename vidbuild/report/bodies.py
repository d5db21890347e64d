"""What ``vidbuild compile`` shows of each job: its identity, destination, route and the exact
request body, as JSON lines, one pretty document, or one DIR/KEY.json file per row."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from vidbuild.errors import UsageError
from vidbuild.spec.project import Project, display_path

if TYPE_CHECKING:
    from vidbuild.spec.expand import Job


def job_record(job: Job) -> dict[str, Any]:
    """What compile shows of a job: identity, destination, the API generation it goes through
    and why, and the exact body sent there (the hash is always the legacy body's)."""
    endpoint, body = job.submission()
    return {"key": job.key, "hash": job.hash, "endpoint": endpoint, "api": job.generation,
            "api_reason": job.route_reason, "output": job.output, "scenes": list(job.scenes),
            "body": body}


def print_bodies(jobs: Sequence[Job], stream: TextIO, *, pretty: bool = False) -> None:
    """One JSON line per job, or (``pretty``, for a single job) one indented document."""
    if pretty:
        json.dump(job_record(jobs[0]), stream, indent=2, ensure_ascii=False)
        stream.write("\n")
        return
    for job in jobs:
        stream.write(json.dumps(job_record(job), ensure_ascii=False) + "\n")


def write_bodies(jobs: Sequence[Job], project: Project, directory: Path) -> None:
    """DIR/KEY.json per job; UsageError, before anything is written, if one would overwrite a
    file of the project's own."""
    _refuse_protected(project, [directory / f"{job.key}.json" for job in jobs])
    directory.mkdir(parents=True, exist_ok=True)
    for job in jobs:
        text = json.dumps(job_record(job), indent=2, ensure_ascii=False) + "\n"
        (directory / f"{job.key}.json").write_text(text, encoding="utf-8")


def _refuse_protected(project: Project, files: Sequence[Path]) -> None:
    from vidbuild.spec.protected import ProtectedFiles

    protected = ProtectedFiles.of(project)
    for file in files:
        clash = protected.problem(os.path.realpath(file), output=False)
        if clash:
            raise UsageError(f"--out: {display_path(file)} {clash}: not writing any request body")
