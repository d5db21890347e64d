"""The plan and status tables (or their JSON lines) that ``vidbuild plan``, ``build -n`` and
``vidbuild status`` print on stdout."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol, TextIO

from vidbuild.planner.decide import ESTIMATE_ASSUMPTIONS, PAYING_ACTIONS, Step, Summary, route_fields, via
from vidbuild.planner.row_index import Spool
from vidbuild.spec.project import Project
from vidbuild.spec.rows import empty_rows_note


class PlanView(Protocol):
    """Where ``vidbuild.plan`` sends the plan: every step, then what they come to."""

    def steps(self, steps: Iterable[Step]) -> None:
        """Take every step; the iterable raises (before its end) on a mistake in any row."""

    def summary(self, summary: Summary, project: Project) -> None:
        """The counts and credit estimate, once every row has been read."""


class StatusView(Protocol):
    """Where ``vidbuild.status`` sends each row's state (a manifest entry: key, hash, status, …)."""

    def rows(self, rows: Iterable[dict[str, Any]], key_width: int) -> None: ...


class PlanTable:
    """The plan as aligned columns (action, key, reason) or as JSON lines, on ``stream``.

    Nothing is written until every row has been read and found valid: until then the lines wait
    in a spool (on disk past a megabyte), so a mistake in the last row still prints nothing but
    the mistake, and the key column is as wide as the widest key.
    """

    def __init__(self, stream: TextIO, *, json_output: bool = False,
                 planned_against: dict[str, str] | None = None) -> None:
        self.stream = stream
        self.json_output = json_output
        # What the plan was made against (BackendChoice.planned_against), in the JSON summary.
        self.planned_against = planned_against

    def steps(self, steps: Iterable[Step]) -> None:
        width = 0
        with Spool() as lines:
            for step in steps:
                width = max(width, len(step.key))
                line = self._line(step)
                if line is not None:
                    lines.add_line(line)
            for line in lines.lines():
                if self.json_output:
                    self.stream.write(line + "\n")
                else:
                    action, key, reason = line.split("\t", 2)
                    self.stream.write(f"{action:<11} {key:<{width}}  "
                                      f"{reason.encode().decode('unicode_escape')}\n")

    def _line(self, step: Step) -> str | None:
        if self.json_output:
            return json.dumps({"key": step.key, "action": step.action, "reason": step.reason,
                               "hash": step.job.hash, "output": step.job.output, **route_fields(step.job)})
        if step.action == "up-to-date":
            return None
        # Actions and keys hold no tab or newline; a reason (an API error) might.
        reason = f"{step.reason}; {via(step.job)}" if step.action in PAYING_ACTIONS else step.reason
        return f"{step.action}\t{step.key}\t{reason.encode('unicode_escape').decode()}"

    def summary(self, summary: Summary, project: Project) -> None:
        empty = project.empty_rows
        if self.json_output:
            record: dict[str, Any] = {"summary": dict(summary.counts),
                                      "estimated_credits": summary.estimated_credits}
            record.update(paying_bodies=summary.paying_bodies, estimate_assumes=ESTIMATE_ASSUMPTIONS)
            if self.planned_against is not None:
                record["planned_against"] = self.planned_against
            skipped = {"empty_rows_skipped": empty} if empty else {}
            self.stream.write(json.dumps({**record, **skipped}) + "\n")
            return
        counts = ", ".join(f"{n} {a}" for a, n in sorted(summary.counts.items())) or "no rows"
        note = empty_rows_note(project)
        if summary.paying_bodies:   # before the summary, which stays the last line
            self.stream.write(f"estimate: {summary.assumptions}\n")
        self.stream.write(f"{counts}; estimated {summary.estimated_credits} credits{note}\n")


class StatusTable:
    """Each row's state as columns (key, status, video id, output or error) or JSON lines."""

    def __init__(self, stream: TextIO, *, json_output: bool = False) -> None:
        self.stream = stream
        self.json_output = json_output

    def rows(self, rows: Iterable[dict[str, Any]], key_width: int) -> None:
        if self.json_output:
            for row in rows:
                self.stream.write(json.dumps(row) + "\n")
            return
        self.stream.write(f"{'KEY':<{key_width}}  {'STATUS':<10}  {'VIDEO_ID':<32}  OUTPUT / ERROR\n")
        for row in rows:
            detail = row["error"] if row["status"] in ("failed", "uncertain") else (row["output"] or "")
            self.stream.write(f"{row['key']:<{key_width}}  {row['status']:<10}  "
                              f"{row['video_id'] or '-':<32}  {detail}\n")
