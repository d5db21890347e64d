"""The explain command: everything vidbuild knows about one row, from the project and state alone.

For row KEY: where it comes from, its body and hash, what a build would do and why, what state
recorded about its body (or the last body built for the key), with the time of each step, and,
when it would be rebuilt, which fields changed with their new values and the scene that makes them.
State keeps a digest of each field of the last built body, not its values, so old values are
not shown.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

from vidbuild.errors import EXIT_OK, UsageError
from vidbuild.heygen.choice import BackendChoice
from vidbuild.pipeline import open_project
from vidbuild.planner.decide import Step, changed_fields, decide, field_digests, via
from vidbuild.spec.expand import Job
from vidbuild.state.protocol import Record, State

# Record timestamps in the order a body goes through them.
_TIMES = (("claimed", "claimed_at"), ("submitted", "submitted_at"), ("completed", "completed_at"),
          ("downloaded", "downloaded_at"), ("last updated", "updated_at"))


def explain(path: str | None, key: str, *, state_dir: str | None = None, state_url: str | None = None,
            json_output: bool = False, api: str | None = None, stdout: TextIO | None = None,
            backend: BackendChoice | None = None) -> int:
    """Print what is known about row ``key``; UsageError (exit 2) when no row has that key."""
    from vidbuild.commands.build import announced
    from vidbuild.pipeline.openers import jobs, parsed, state_directory

    choice = announced(backend or BackendChoice.from_env())
    source, state = open_project(path, backend=choice, state_dir=state_dir, state_url=state_url)
    try:
        project = parsed(source)
        job = _find(jobs(project, state_directory(project, state_dir, state), api), key)
        step = decide(job, state, project.root)
        report = row_report(job, step, state)
    finally:
        state.close()
    stream = stdout or sys.stdout
    if json_output:
        stream.write(json.dumps(report, ensure_ascii=False) + "\n")
    else:
        _print(report, stream)
    return EXIT_OK


def _find(jobs: Iterator[Job], key: str) -> Job:
    """The row's job; every row is read, so a mistake anywhere is still reported."""
    found = None
    for job in jobs:
        if job.key == key:
            found = job
    if found is None:
        raise UsageError(f"explain: no row with key {key}")
    return found


def row_report(job: Job, step: Step, state: State) -> dict[str, Any]:
    """What explain shows, as a JSON-ready dict."""
    record = step.record or state.get(job.hash)
    previous = state.for_key(job.key)
    built = record
    if built is None and previous is not None:
        built = state.get(previous.hash)
    report: dict[str, Any] = {
        "key": job.key, "row": f"{job.row.file}:{job.row.line}", "output": job.output,
        "kind": job.kind, "hash": job.hash, "route": via(job),
        "plan": {"action": step.action, "reason": step.reason},
        "record": _record(built), "body": job.body,
    }
    if previous is not None and previous.hash != job.hash:
        now = field_digests(job.body)
        report["changed"] = {"since_hash": previous.hash,
                             "fields": [_change(job, name) for name in changed_fields(previous.fields, now)]}
    return report


def _record(record: Record | None) -> dict[str, Any] | None:
    if record is None:
        return None
    times = [{"step": name, "at": _iso(getattr(record, attribute))}
             for name, attribute in _TIMES if getattr(record, attribute) is not None]
    times += [{"step": "reply lost", "at": _iso(moment)} for moment in record.lost_at]
    return {"hash": record.hash, "status": record.status, "attempts": record.attempts,
            "video_id": record.video_id, "earlier_video_ids": record.earlier_video_ids,
            "video_url": record.video_url, "thumbnail_url": record.thumbnail_url,
            "error": record.error, "error_permanent": record.error_permanent,
            "transitions": sorted(times, key=lambda entry: entry["at"])}


def _change(job: Job, name: str) -> dict[str, Any]:
    """One changed field: its new value (None where the field went away) and what makes it."""
    value = _value_at(job.body, name)
    origin = "the project's video: settings"
    if name.startswith("video_inputs["):
        index = int(name.split("[", 1)[1].split("]", 1)[0])
        origin = f"scenes[{job.scenes[index]}]" if index < len(job.scenes) else "a scene no longer there"
    text = value if isinstance(value, str) else json.dumps(value)
    columns = [column for column, cell in job.row.values.items()
               if isinstance(cell, str) and cell and cell in text]
    return {"field": name, "new": value, "from": origin, "row_values_in_it": columns}


def _value_at(body: dict[str, Any], name: str) -> Any:
    """The leaf at a field path such as ``video_inputs[0].voice.input_text`` (None if absent)."""
    current: Any = body
    for part in name.replace("[", ".[").split("."):
        if not part:
            continue
        if part.startswith("["):
            index = int(part[1:-1])
            current = current[index] if isinstance(current, list) and index < len(current) else None
        else:
            current = current.get(part) if isinstance(current, dict) else None
    return current


def _iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def _print(report: dict[str, Any], stream: TextIO) -> None:
    for label in ("key", "row", "output", "kind", "route", "hash"):
        stream.write(f"{label + ':':<10} {report[label]}\n")
    stream.write(f"{'plan:':<10} {report['plan']['action']}: {report['plan']['reason']}\n")
    record = report["record"]
    if record is None:
        stream.write("state:     nothing recorded for this row\n")
    else:
        stream.write(f"state:     {record['status']} (body {record['hash'][:12]}, "
                     f"{record['attempts']} submission{'s' if record['attempts'] != 1 else ''})\n")
        for entry in record["transitions"]:
            stream.write(f"  {entry['step']:<13} {entry['at']}\n")
        for label in ("video_id", "video_url", "thumbnail_url", "error"):
            if record[label]:
                stream.write(f"  {label}: {record[label]}\n")
        if record["earlier_video_ids"]:
            stream.write(f"  earlier video_ids: {', '.join(record['earlier_video_ids'])}\n")
    if "changed" in report:
        stream.write(f"changed since the body built last ({report['changed']['since_hash'][:12]}; "
                     f"state keeps no old values):\n")
        for change in report["changed"]["fields"]:
            columns = f"; row values in it: {', '.join(change['row_values_in_it'])}" \
                if change["row_values_in_it"] else ""
            stream.write(f"  {change['field']} -> {json.dumps(change['new'], ensure_ascii=False)} "
                         f"(from {change['from']}{columns})\n")
    stream.write("body:\n" + json.dumps(report["body"], indent=2, ensure_ascii=False) + "\n")
