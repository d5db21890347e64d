"""Writes ``run_results.json`` beside the manifest once per build, as dbt writes its artifact of
the same name: when the build ran, how each row ended, the credits it is estimated to have cost,
each failure with its key and error, and what ran it (vidbuild version, backend, options).

The file is replaced whole at each build (renamed into place, as the manifest is), so it always
describes the last build, including one interrupted by Ctrl-C or SIGTERM (its counts then come
from the manifest written on the way out). Credits are estimates (the plan's, 1 credit per minute
of estimated video: HeyGen's billing per /work/shared/heygen-api.md, "Limits"), since the API
reports no credits per video. Nothing here reads state: the rows are seen once, as the manifest is
written (``RowTally``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidbuild.report.manifest import _atomic, iso_time
from vidbuild.version import __version__

if TYPE_CHECKING:
    from vidbuild.pipeline.options import BuildOptions
    from vidbuild.planner.row_index import IndexEntry
    from vidbuild.run.outcome import Outcome
    from vidbuild.state.protocol import Record

RUN_RESULTS = "run_results.json"
SCHEMA_VERSION = 1
_UNFINISHED = ("claimed", "uncertain", "submitted", "rendering", "completed")


@dataclass
class RowTally:
    """The manifest's observer (see ``write_manifest``): the rows that failed (``{key, error}``),
    are unfinished (``{key, status, error}``), were built (downloaded since ``started``, Unix
    seconds) or up to date, and ``credits_built``, the estimates of the built rows also claimed
    since ``started``: those this build sent (a file fetched again costs nothing)."""

    started: float
    failures: list[dict[str, Any]] = field(default_factory=list)
    unfinished: list[dict[str, Any]] = field(default_factory=list)
    built: int = 0
    up_to_date: int = 0
    credits_built: float = 0.0

    def listed(self, count: int) -> None:
        """``count`` rows copied from the last complete build's manifest: up to date."""
        self.up_to_date += count

    def __call__(self, row: IndexEntry, record: Record | None, item: dict[str, Any]) -> None:
        status = item["status"]
        if status == "failed":
            self.failures.append({"key": row.key, "error": item["error"] or "failed"})
        elif status in _UNFINISHED:
            self.unfinished.append({"key": row.key, "status": status, "error": item["error"]})
        elif status == "listed":   # found unchanged: listed as its known row keeps it (see manifest.LISTED)
            self.up_to_date += 1
        elif status == "done" and record is not None:
            if (record.downloaded_at or 0.0) >= self.started:
                self.built += 1
                if (record.claimed_at or 0.0) >= self.started:   # sent by this build, not fetched again
                    self.credits_built += record.credits_estimated or 0.0
            else:
                self.up_to_date += 1


@dataclass
class RunFacts:
    """What run_results.json tells beside the outcome: ``started`` and ``ended`` (Unix seconds),
    the ``backend`` (``{"name": "emulator" | "heygen", "base_url"}``), the build's ``options``
    (see ``options_json``), the plan's credit estimate for what it set out to pay
    (``planned_credits``) and the rows as the manifest saw them (None: no manifest was written)."""

    started: float
    backend: Mapping[str, Any]
    options: Mapping[str, Any]
    planned_credits: float | None = None
    ended: float = field(default_factory=time.time)
    rows: RowTally | None = None


def options_json(options: BuildOptions) -> dict[str, Any]:
    """The build's options as JSON values, the engine's defaults filled in where the build left
    them unset (``shard`` as written, ``K/N``)."""
    from vidbuild.run.options import DEFAULT_JOBS, DEFAULT_RENDER_TIMEOUT

    return {"jobs": options.jobs or DEFAULT_JOBS, "fail_fast": options.fail_fast,
            "force": list(options.force), "render_timeout": options.render_timeout or DEFAULT_RENDER_TIMEOUT,
            "api": options.api, "shard": None if options.shard is None else str(options.shard),
            "state_dir": None if options.state_dir is None else str(options.state_dir),
            "snapshot": options.snapshot, "max_credits": options.max_credits,
            "select": list(options.select), "exclude": list(options.exclude),
            "plan": options.approved is not None}


def interrupted_outcome(code: int, tally: RowTally | None) -> Outcome:
    """The outcome of a build Ctrl-C or SIGTERM stopped (exit ``code``), from what the manifest saw."""
    from vidbuild.errors import EXIT_INTERRUPTED
    from vidbuild.run.outcome import Outcome

    outcome = Outcome(stopped="terminated (SIGTERM)" if code != EXIT_INTERRUPTED else "interrupted (Ctrl-C)")
    if tally is not None:
        outcome.done, outcome.cached = tally.built, tally.up_to_date
        outcome.failed = [failure["key"] for failure in tally.failures]
        outcome.unfinished = [row["key"] for row in tally.unfinished]
    return outcome


def last_project_name(directory: Path) -> str | None:
    """The project's name as the last run_results.json in ``directory`` gave it, or None."""
    try:
        document = json.loads((directory / RUN_RESULTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = document.get("metadata", {}).get("project") if isinstance(document, dict) else None
    return name if isinstance(name, str) else None


def write_run_results(directory: Path, project_name: str | None, outcome: Outcome, facts: RunFacts,
                      exit_code: int | None = None) -> Path:
    """Write ``directory``/run_results.json (atomically) and return its path; ``exit_code``: the
    process's when it is not the outcome's (an interrupted build). OSError if it can't be written
    (the caller names it)."""
    rows = facts.rows
    document = {
        "metadata": {"schema_version": SCHEMA_VERSION, "vidbuild_version": __version__,
                     "generated_at": iso_time(facts.ended), "project": project_name},
        "timing": {"started_at": iso_time(facts.started), "completed_at": iso_time(facts.ended),
                   "elapsed_seconds": round(facts.ended - facts.started, 3)},
        "exit_code": outcome.exit_code if exit_code is None else exit_code, "stopped": outcome.stopped,
        "counts": {"built": outcome.done, "up_to_date": outcome.cached,
                   "failed": len(outcome.failed), "unfinished": len(outcome.unfinished)},
        "credits": {"estimated": True, "planned": facts.planned_credits,
                    "built": round(rows.credits_built, 2) if rows else 0.0},
        "failures": rows.failures if rows else [{"key": key, "error": None} for key in outcome.failed],
        "unfinished": rows.unfinished if rows else [],
        "backend": dict(facts.backend),
        "args": dict(facts.options),
    }
    path = directory / RUN_RESULTS
    with _atomic(path) as stream:
        stream.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return path
