"""The validate and compile commands: expand a project offline and show or write what would be sent."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from vidbuild.errors import EXIT_OK, UsageError
from vidbuild.spec.expand import Job, expand_project
from vidbuild.spec.project import Project, display_path, load_project
from vidbuild.spec.rows import empty_rows_note


def validate(path: str | None, *, online: bool = False, api: str | None = None,
             stderr: TextIO | None = None) -> int:
    """Check everything that can be checked before sending; ProjectError carries every problem.

    Under ``api`` (or the project's ``api:``) 'v3', a row v3 can't render is one of them.
    """
    project = load_project(path)
    jobs = list(expand_project(project, api=api))
    if online:
        from vidbuild.commands.catalogue import check_online

        check_online(project, jobs, stderr=stderr)
    count = len(jobs)
    print(f"{project.document.display}: ok, {count} video{'s' if count != 1 else ''}"
          f"{empty_rows_note(project)}", file=stderr or sys.stderr)
    return EXIT_OK


def _refuse_protected(project: Project, files: Sequence[Path]) -> None:
    """UsageError, before anything is written, if a file would overwrite the project's own."""
    from vidbuild.spec.protected import ProtectedFiles

    protected = ProtectedFiles.of(project)
    for file in files:
        clash = protected.problem(os.path.realpath(file), output=False)
        if clash:
            raise UsageError(f"--out: {display_path(file)} {clash}: not writing any request body")


def job_record(job: Job) -> dict[str, Any]:
    """What compile shows of a job: identity, destination, the API generation it goes through
    and why, and the exact body sent there (the hash is always the legacy body's)."""
    endpoint, body = job.submission()
    return {"key": job.key, "hash": job.hash, "endpoint": endpoint, "api": job.generation,
            "api_reason": job.route_reason, "output": job.output, "scenes": list(job.scenes),
            "body": body}


def compile_bodies(path: str | None, *, rows: Sequence[str] | None = None, out: str | None = None,
                   api: str | None = None, stdout: TextIO | None = None,
                   stderr: TextIO | None = None) -> int:
    """Print one JSON line per job (or pretty JSON for a single --row), or write DIR/KEY.json files."""
    project = load_project(path)
    wanted = set(rows or ())
    # Expand every row even when only some are wanted: a mistake anywhere is still reported.
    jobs = [job for job in expand_project(project, api=api) if not wanted or job.key in wanted]
    missing = wanted - {job.key for job in jobs}
    if missing:
        raise UsageError(f"no row with key {', '.join(sorted(missing))} in {project.document.display}")
    stdout = stdout or sys.stdout
    if out is not None:
        directory = Path(out)
        _refuse_protected(project, [directory / f"{job.key}.json" for job in jobs])
        directory.mkdir(parents=True, exist_ok=True)
        for job in jobs:
            text = json.dumps(job_record(job), indent=2, ensure_ascii=False) + "\n"
            (directory / f"{job.key}.json").write_text(text, encoding="utf-8")
        print(f"wrote {len(jobs)} request bodies to {display_path(directory)}", file=stderr or sys.stderr)
    elif len(wanted) == 1:
        json.dump(job_record(jobs[0]), stdout, indent=2, ensure_ascii=False)
        stdout.write("\n")
    else:
        for job in jobs:
            stdout.write(json.dumps(job_record(job), ensure_ascii=False) + "\n")
    return EXIT_OK
