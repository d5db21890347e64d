"""What explain says of a row's past: its body's transitions, and the fields changed since the body
built last, old value to new, with what produced each new value (a data column, or a template).

State keeps the body claimed for each hash and a log of its transitions (state/history.py); a
row recorded before vidbuild kept them has neither, and explain says so rather than guess.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from vidbuild.planner.fields import changed_since, value_at
from vidbuild.spec.expand import Job
from vidbuild.spec.project import Project
from vidbuild.state.protocol import KeyEntry, Record, State

# Record timestamps in the order a body goes through them: shown for a row recorded before
# vidbuild kept a history, as the next best thing.
_TIMES = (("claimed", "claimed_at"), ("submitted", "submitted_at"), ("completed", "completed_at"),
          ("downloaded", "downloaded_at"), ("last updated", "updated_at"))


def transitions(record: Record, state: State) -> dict[str, Any]:
    """The body's transitions, oldest first, each ``{"step", "at" (ISO 8601 UTC), "detail"}``;
    ``history``: 'kept', or 'unavailable' (recorded before vidbuild kept one: then the record's
    last timestamps stand in); ``dropped``: older transitions the bound removed."""
    log = state.history(record.hash)
    if log.entries:
        steps = [{"step": entry.event, "at": iso(entry.at), "detail": entry.detail} for entry in log.entries]
        return {"history": "kept", "dropped": log.dropped, "transitions": steps}
    steps = [{"step": name, "at": iso(getattr(record, attribute)), "detail": ""}
             for name, attribute in _TIMES if getattr(record, attribute) is not None]
    steps += [{"step": "reply lost", "at": iso(moment), "detail": ""} for moment in record.lost_at]
    return {"history": "unavailable", "dropped": 0,
            "transitions": sorted(steps, key=lambda entry: entry["at"])}


def changes(job: Job, previous: KeyEntry, state: State, project: Project) -> dict[str, Any]:
    """The fields of ``job``'s body that differ from the body built last for its key: each
    ``{"field" (its JSON path), "old", "new", "from" (the scene or settings that make it),
    "columns" (data columns whose edit produced it), "template" (the template, when no column
    explains the change), "row_values_in_it"}``. ``old_body``: 'kept' or 'unavailable' (built
    before vidbuild kept bodies: old values are then null and the cause is not told)."""
    old_body = state.body(previous.hash) or previous.body
    names = changed_since(previous, job.body)
    return {"since_hash": previous.hash, "old_body": "kept" if old_body is not None else "unavailable",
            "fields": [_change(job, name, old_body, project) for name in names]}


def _change(job: Job, name: str, old_body: dict[str, Any] | None, project: Project) -> dict[str, Any]:
    new = value_at(job.body, name)
    old = value_at(old_body, name) if old_body is not None else None
    scene = _scene(job, name)
    columns = _cells_in(job, new)
    if old_body is None:   # nothing to compare with: the cause can't be told
        edited, template = [], None
    else:
        edited = [column for column in columns if column not in _cells_in(job, old)]
        template = None if edited else \
            _template(project, scene) if scene else f"the video: settings in {project.file.name}"
    return {"field": name, "old": old, "new": new,
            "from": f"scenes[{scene}]" if scene else _settings_or_gone(name),
            "columns": edited, "template": template, "row_values_in_it": columns}


def _scene(job: Job, name: str) -> str | None:
    if not name.startswith("video_inputs["):
        return None
    index = int(name.split("[", 1)[1].split("]", 1)[0])
    return job.scenes[index] if index < len(job.scenes) else None


def _settings_or_gone(name: str) -> str:
    return "a scene no longer there" if name.startswith("video_inputs[") else "the project's video: settings"


def _cells_in(job: Job, value: Any) -> list[str]:
    """The data columns whose (non-empty, text) cell appears in ``value``."""
    if value is None:
        return []
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return [column for column, cell in job.row.values.items()
            if isinstance(cell, str) and cell and cell in text]


def _template(project: Project, label: str) -> str:
    """Where the scene ``label`` is written: the project file, or a reusable scene it uses."""
    for scene in project.spec.get("scenes", []):
        if isinstance(scene, dict) and label in (scene.get("id"), scene.get("use")):
            if "use" in scene:
                local = project.templates_dir / f"{scene['use']}.yaml"
                where = f"{project.templates_dir.name}/{local.name}" if local.is_file() \
                    else f"vidbuild's built-in {scene['use']}.yaml"
                return f"scenes[{label}] in {project.file.name}, using {where}"
    return f"scenes[{label}] in {project.file.name}"


def iso(moment: float) -> str:
    """Unix seconds as ISO 8601 UTC, to the millisecond (steps of one poll are that close)."""
    stamp = datetime.datetime.fromtimestamp(moment, tz=datetime.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
