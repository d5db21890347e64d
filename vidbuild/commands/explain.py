"""The explain command: everything vidbuild knows about one row, from the project and state alone.

For row KEY: where it comes from, its body and hash, what a build would do and why, what state
recorded about its body (or the last body built for the key) with every transition and its time,
and, when it would be rebuilt, each changed field old -> new with the data column or template
that produced it (explain_changes.py). A row never built says so.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from vidbuild.commands.explain_changes import changes, transitions
from vidbuild.errors import EXIT_OK, UsageError
from vidbuild.heygen.choice import BackendChoice
from vidbuild.pipeline import open_project
from vidbuild.planner.decide import Step, decide, via
from vidbuild.spec.expand import Job
from vidbuild.spec.project import Project
from vidbuild.state.protocol import Record, State


def explain(path: str | None, key: str, *, state_dir: str | None = None, state_url: str | None = None,
            json_output: bool = False, api: str | None = None, stdout: TextIO | None = None,
            backend: BackendChoice | None = None) -> int:
    """Print what is known about row ``key``; UsageError (exit 2) when no row has that key."""
    from vidbuild.commands.build import announced
    from vidbuild.pipeline.openers import jobs, parsed, state_directory

    _check_order(path, key)
    choice = announced(backend or BackendChoice.from_env())
    source, state = open_project(path, backend=choice, state_dir=state_dir, state_url=state_url)
    try:
        project = parsed(source)
        job = _find(jobs(project, state_directory(project, state_dir, state), api), key)
        step = decide(job, state, project.root)
        report = row_report(job, step, state, project)
    finally:
        state.close()
    stream = stdout or sys.stdout
    if json_output:
        stream.write(json.dumps(report, ensure_ascii=False) + "\n")
    else:
        _print(report, stream)
    return EXIT_OK


def _check_order(path: str | None, key: str) -> None:
    """UsageError when KEY and PATH look swapped (``explain PATH KEY``): PATH names nothing and
    KEY is a project, so "no project at KEY" would mislead."""
    from pathlib import Path

    from vidbuild.spec.project import PROJECT_FILE

    if path is None or Path(path).exists():
        return
    project = Path(key)
    if project.is_file() or (project / PROJECT_FILE).is_file():
        raise UsageError(f"vidbuild explain takes the row's key first, then the project: "
                         f"vidbuild explain {path} {key}")


def _find(jobs: Iterator[Job], key: str) -> Job:
    """The row's job; every row is read, so a mistake anywhere is still reported."""
    found = None
    for job in jobs:
        if job.key == key:
            found = job
    if found is None:
        raise UsageError(f"explain: no row with key {key}")
    return found


def row_report(job: Job, step: Step, state: State, project: Project) -> dict[str, Any]:
    """What explain shows, as a JSON-ready dict (see explain_changes.py for the history and the
    changes); ``built`` is False for a row never built (nothing recorded for it or its key)."""
    record = step.record or state.get(job.hash)
    previous = state.for_key(job.key)
    built = record
    if built is None and previous is not None:
        built = state.get(previous.hash)
    report: dict[str, Any] = {
        "key": job.key, "row": f"{job.row.file}:{job.row.line}", "output": job.output,
        "kind": job.kind, "hash": job.hash, "route": via(job),
        "plan": {"action": step.action, "reason": step.reason},
        "built": built is not None, "record": _record(built, state), "body": job.body,
    }
    if previous is not None and previous.hash != job.hash:
        report["changed"] = changes(job, previous, state, project)
    return report


def _record(record: Record | None, state: State) -> dict[str, Any] | None:
    if record is None:
        return None
    return {"hash": record.hash, "status": record.status, "attempts": record.attempts,
            "video_id": record.video_id, "earlier_video_ids": record.earlier_video_ids,
            "video_url": record.video_url, "thumbnail_url": record.thumbnail_url,
            "error": record.error, "error_permanent": record.error_permanent,
            **transitions(record, state)}


def _print(report: dict[str, Any], stream: TextIO) -> None:
    for label in ("key", "row", "output", "kind", "route", "hash"):
        stream.write(f"{label + ':':<10} {report[label]}\n")
    stream.write(f"{'plan:':<10} {report['plan']['action']}: {report['plan']['reason']}\n")
    record = report["record"]
    if record is None:
        stream.write("state:     never built: nothing recorded for this row\n")
    else:
        _print_record(record, stream)
    if "changed" in report:
        _print_changes(report["changed"], stream)
    stream.write("body:\n" + json.dumps(report["body"], indent=2, ensure_ascii=False) + "\n")


def _print_record(record: dict[str, Any], stream: TextIO) -> None:
    stream.write(f"state:     {record['status']} (body {record['hash'][:12]}, "
                 f"{record['attempts']} submission{'s' if record['attempts'] != 1 else ''})\n")
    if record["history"] == "unavailable":
        stream.write("  history unavailable (recorded before vidbuild kept one): the record's last times\n")
    elif record["dropped"]:
        stream.write(f"  ({record['dropped']} earlier transitions dropped)\n")
    for entry in record["transitions"]:
        detail = f"  {entry['detail']}" if entry["detail"] else ""
        stream.write(f"  {entry['at']}  {entry['step']}{detail}\n")
    for label in ("video_id", "video_url", "thumbnail_url", "error"):
        if record[label]:
            stream.write(f"  {label}: {record[label]}\n")
    if record["earlier_video_ids"]:
        stream.write(f"  earlier video_ids: {', '.join(record['earlier_video_ids'])}\n")


def _print_changes(changed: dict[str, Any], stream: TextIO) -> None:
    kept = changed["old_body"] == "kept"
    note = "" if kept else "; its body was not kept (built before vidbuild kept bodies): no old values"
    stream.write(f"changed since the body built last ({changed['since_hash'][:12]}{note}):\n")
    for change in changed["fields"]:
        new = json.dumps(change["new"], ensure_ascii=False)
        old = f"{json.dumps(change['old'], ensure_ascii=False)} -> " if kept else "-> "
        if change["columns"]:
            cause = f"; data column{'s' if len(change['columns']) > 1 else ''} {', '.join(change['columns'])}"
        elif change["template"]:
            cause = f"; template {change['template']}"
        else:
            cause = ""
        stream.write(f"  {change['field']}: {old}{new} (from {change['from']}{cause})\n")
