"""Show a build's events as a live terminal display, plain lines, or NDJSON.

Status goes to stderr; data (``--json``) to stdout. Reporters never raise into the engine.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from vidbuild.planner.decide import Step, Summary
    from vidbuild.run.outcome import Outcome, Reporter
    from vidbuild.state.protocol import Record


def summary_line(outcome: Outcome) -> str:
    parts = [f"{outcome.done} built", f"{outcome.cached} up to date",
             f"{len(outcome.failed)} failed"]
    if outcome.unfinished:
        parts.append(f"{len(outcome.unfinished)} unfinished")
    line = ", ".join(parts)
    if outcome.stopped:
        line += f"; stopped: {outcome.stopped}"
    return line


class PlainReporter:
    """One line per event, for pipes, logs and CI."""

    def __init__(self, stream: TextIO | None = None, *, quiet_cached: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.quiet_cached = quiet_cached
        self.cached_count = 0

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def banner(self, text: str) -> None:
        self._line(text)

    def planned(self, summary: Summary) -> None:
        counts = summary.counts
        if summary.up_to_date:
            self._line(f"everything is up to date ({summary.total} videos); nothing to send")
            return
        shown = ", ".join(f"{counts[a]} {a}" for a in
                          ("submit", "retry", "reconcile", "wait", "poll", "download", "failed",
                           "up-to-date")
                          if counts[a])
        self._line(f"plan: {shown}; estimated {summary.estimated_credits} credits")

    def submitted(self, step: Step, video_id: str) -> None:
        self._line(f"submitted {step.key} as {video_id} ({step.reason})")

    def rendering(self, step: Step, status: str) -> None:
        pass

    def done(self, step: Step, record: Record) -> None:
        self._line(f"done {step.key} -> {step.job.output}")

    def cached(self, step: Step) -> None:
        self.cached_count += 1
        if not self.quiet_cached:
            self._line(f"up to date {step.key}")

    def failed(self, step: Step, message: str) -> None:
        self._line(f"FAILED {step.key}: {message}")

    def note(self, step: Step | None, message: str) -> None:
        self._line(f"{step.key}: {message}" if step else message)

    def finished(self, outcome: Outcome) -> None:
        self._line(summary_line(outcome))


class TerminalReporter(PlainReporter):
    """A live status line (queued, rendering, done, failed, cached, ETA) redrawn in place."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self.counts: Counter[str] = Counter()
        self.total = 0
        self.started = time.monotonic()
        self._shown = False

    def _line(self, text: str) -> None:
        self._clear()
        print(text, file=self.stream, flush=True)
        self._draw()

    def _clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[2K")
            self._shown = False

    def _draw(self) -> None:
        if not self.total:
            return
        finished = self.counts["done"] + self.counts["failed"] + self.counts["cached"]
        eta = ""
        built = self.counts["done"] + self.counts["failed"]
        if 0 < built and finished < self.total:
            per_video = (time.monotonic() - self.started) / built
            eta = f"  ETA {per_video * (self.total - finished):.0f}s"
        queued = self.total - finished - self.counts["rendering"]
        self.stream.write(f"[{finished}/{self.total}] queued {queued}  rendering "
                          f"{self.counts['rendering']}  done {self.counts['done']}  failed "
                          f"{self.counts['failed']}  cached {self.counts['cached']}{eta}")
        self.stream.flush()
        self._shown = True

    def planned(self, summary: Summary) -> None:
        self.total = summary.total
        super().planned(summary)

    def submitted(self, step: Step, video_id: str) -> None:
        self.counts["rendering"] += 1
        super().submitted(step, video_id)

    def done(self, step: Step, record: Record) -> None:
        self.counts["rendering"] = max(0, self.counts["rendering"] - 1)
        self.counts["done"] += 1
        super().done(step, record)

    def cached(self, step: Step) -> None:
        self.counts["cached"] += 1
        self._clear()
        self._draw()

    def failed(self, step: Step, message: str) -> None:
        self.counts["rendering"] = max(0, self.counts["rendering"] - 1)
        self.counts["failed"] += 1
        super().failed(step, message)

    def finished(self, outcome: Outcome) -> None:
        self._clear()
        self.total = 0
        super().finished(outcome)


class JsonReporter:
    """NDJSON events on stdout, one object per line, for machines."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def _emit(self, event: str, **fields: Any) -> None:
        self.stream.write(json.dumps({"event": event, "time": round(time.time(), 3), **fields}) + "\n")
        self.stream.flush()

    def banner(self, text: str) -> None:
        self._emit("banner", message=text)

    def planned(self, summary: Summary) -> None:
        self._emit("planned", counts=dict(summary.counts), estimated_credits=summary.estimated_credits)

    def submitted(self, step: Step, video_id: str) -> None:
        self._emit("submitted", key=step.key, hash=step.job.hash, video_id=video_id, reason=step.reason)

    def rendering(self, step: Step, status: str) -> None:
        self._emit("polled", key=step.key, status=status)

    def done(self, step: Step, record: Record) -> None:
        self._emit("done", key=step.key, hash=step.job.hash, video_id=record.video_id,
                   output=step.job.output, checksum=record.checksum)

    def cached(self, step: Step) -> None:
        self._emit("cached", key=step.key, hash=step.job.hash)

    def failed(self, step: Step, message: str) -> None:
        self._emit("failed", key=step.key, hash=step.job.hash, error=message)

    def note(self, step: Step | None, message: str) -> None:
        self._emit("note", key=step.key if step else None, message=message)

    def finished(self, outcome: Outcome) -> None:
        self._emit("finished", built=outcome.done, cached=outcome.cached,
                   failed=len(outcome.failed), unfinished=len(outcome.unfinished),
                   stopped=outcome.stopped, exit_code=outcome.exit_code)


def choose_reporter(json_output: bool, stream: TextIO | None = None) -> Reporter:
    """NDJSON events to ``stream`` (default stdout), else status to ``stream`` (default stderr)."""
    if json_output:
        return JsonReporter(stream)
    stream = stream or sys.stderr
    return TerminalReporter(stream) if stream.isatty() else PlainReporter(stream)
