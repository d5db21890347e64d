"""Report stage: show a build's events as a live terminal line, stamped log lines, or NDJSON.

Status goes to stderr; data (``--json``) to stdout. Reporters never raise into the engine. Each
reporter here also watches (run/outcome.Watcher): the engine's ticks redraw the terminal line
every half second and give a pipe a heartbeat line while videos render; Ctrl-C and SIGTERM get a
last word saying how many paid videos are still rendering, which a rerun collects.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from vidbuild.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_UNFINISHED, SettingError
from vidbuild.report.eta import duration_text, eta_text

if TYPE_CHECKING:
    from vidbuild.planner.decide import Step, Summary
    from vidbuild.run.outcome import Outcome, Progress, Reporter
    from vidbuild.state.protocol import Record

TICK_SECONDS = 0.5          # the engine ticks this often: the live line changes at least each second
HEARTBEAT_SECONDS = 30.0    # a pipe gets a line this often while videos render
HEARTBEAT_SETTING = "VIDBUILD_HEARTBEAT_SECONDS"   # a shorter heartbeat, for tests


def heartbeat_from_env() -> float:
    """Seconds between heartbeat lines: ``$VIDBUILD_HEARTBEAT_SECONDS`` (meant for tests), else 30.

    Raises SettingError (exit 2) for a value that isn't a positive number."""
    text = os.environ.get(HEARTBEAT_SETTING)
    if text is None:
        return HEARTBEAT_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise SettingError(f"{HEARTBEAT_SETTING}={text!r}: expected a positive number of seconds")
    return seconds


def interrupted_line(rendering: int, exit_code: int) -> str:
    """What Ctrl-C (exit 130) or SIGTERM (exit 143) leaves behind, and what a rerun does."""
    what = "terminated (SIGTERM)" if exit_code == EXIT_TERMINATED else "interrupted"
    if not rendering:
        return (f"{what}: no video of this build was rendering; state is kept, run vidbuild build "
                f"again to resume")
    videos = "video is" if rendering == 1 else "videos are"
    return (f"{what}: {rendering} paid {videos} still rendering at HeyGen; run vidbuild build "
            f"again to collect {'it' if rendering == 1 else 'them'} (nothing is paid twice)")


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
    """One line per event, for pipes, logs and CI; keeps the tally the subclasses show.

    ``clock`` (monotonic seconds) times the build from this reporter's creation.
    """

    def __init__(self, stream: TextIO | None = None, *, quiet_cached: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream or sys.stderr
        self.quiet_cached = quiet_cached
        self.cached_count = 0
        self.clock = clock
        self.started = clock()
        self.counts: Counter[str] = Counter()
        self.total = 0
        self.progress: Progress | None = None   # the engine's last tick
        self.ended = False                      # the final word (summary or interruption) is said

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    @property
    def rows_finished(self) -> int:
        return self.counts["done"] + self.counts["failed"] + self.counts["cached"]

    def elapsed(self) -> str:
        return duration_text(self.clock() - self.started)

    def eta(self) -> str:
        """The estimate from the last tick: rows still to send are those neither finished,
        rendering, nor planned up to date."""
        progress = self.progress
        if progress is None:
            return ""
        to_send = self.total - self.counts["planned-cached"] - self.counts["done"] \
            - self.counts["failed"] - progress.rendering
        return eta_text(max(0, to_send), progress)

    def banner(self, text: str) -> None:
        self._line(text)

    def planned(self, summary: Summary) -> None:
        self.total = summary.total
        self.counts["planned-cached"] = summary.counts["up-to-date"]
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
        self.counts["rendering"] += 1
        self._line(f"submitted {step.key} as {video_id} ({step.reason})")

    def rendering(self, step: Step, status: str) -> None:
        pass

    def done(self, step: Step, record: Record) -> None:
        self._count("done")
        copy = f" (a copy of {record.output}: same body)" if record.output != step.job.output else ""
        self._line(f"done {step.key} -> {step.job.output}{copy}")

    def cached(self, step: Step) -> None:
        self.counts["cached"] += 1
        self.cached_count += 1
        if not self.quiet_cached:
            self._line(f"up to date {step.key}")

    def cached_rows(self, count: int) -> bool:
        """See run/outcome.py's ``CountsCached``: counted at once unless each row gets a line."""
        if not self.quiet_cached:
            return False
        self.counts["cached"] += count
        self.cached_count += count
        return True

    def failed(self, step: Step, message: str) -> None:
        self._count("failed")
        self._line(f"FAILED {step.key}: {message}")

    def _count(self, end: str) -> None:
        self.counts["rendering"] = max(0, self.counts["rendering"] - 1)
        self.counts[end] += 1

    def note(self, step: Step | None, message: str) -> None:
        self._line(f"{step.key}: {message}" if step else message)

    def tick(self, progress: Progress) -> None:
        self.progress = progress

    def finished(self, outcome: Outcome) -> None:
        self.ended = True
        print(summary_line(outcome), file=self.stream, flush=True)

    def interrupted(self, rendering: int, exit_code: int) -> None:
        if not self.ended:
            self.ended = True
            print(interrupted_line(rendering, exit_code), file=self.stream, flush=True)


class LogReporter(PlainReporter):
    """Plain lines for a pipe or CI log, each stamped with the time and ``[finished/total]``,
    and a heartbeat line every ``heartbeat`` seconds while videos render.

    The banner (said before the plan's total is known) and the summary stay unstamped, so the
    summary is the log's plain last line. ``wall`` gives the stamp's time (Unix seconds).
    """

    def __init__(self, stream: TextIO | None = None, *, heartbeat: float = HEARTBEAT_SECONDS,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        super().__init__(stream, clock=clock)
        self.heartbeat = heartbeat
        self.wall = wall
        self._last_beat = self.started

    def _line(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(self.wall()))
        count = f" [{self.rows_finished}/{self.total}]" if self.total else ""
        super()._line(f"{stamp}{count} {text}")

    def banner(self, text: str) -> None:
        PlainReporter._line(self, text)

    def tick(self, progress: Progress) -> None:
        super().tick(progress)
        now = self.clock()
        if progress.rendering and now - self._last_beat >= self.heartbeat:
            self._last_beat = now
            eta = self.eta()
            self._line(f"{progress.rendering} rendering, {self.counts['done']} done, "
                       f"{self.elapsed()} elapsed{', ' + eta if eta else ''}")


class SilentReporter(PlainReporter):
    """``-s``: nothing but the summary (or, when stopped by a signal, the interruption's word)."""

    def _line(self, text: str) -> None:
        pass


_SHORT_WORDS = re.compile(r"\b(queued|rendering|done|failed|cached) (?=\d)|elapsed ")


class TerminalReporter(PlainReporter):
    """A live status line (queued, rendering, done, failed, cached, elapsed, ETA) redrawn in
    place, on every event and every engine tick; rows found up to date redraw it at most every
    ``CACHED_REDRAW`` seconds (10,000 of them were 10,000 redraws)."""

    CACHED_REDRAW = 0.1

    def __init__(self, stream: TextIO | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(stream, clock=clock)
        self._shown = False
        self._drawn_at = -self.CACHED_REDRAW

    def _line(self, text: str) -> None:
        self._clear()
        print(text, file=self.stream, flush=True)
        self._draw()

    def _clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[2K")
            self._shown = False

    def _draw(self) -> None:
        if not self.total or self.ended:
            return
        # Wider than the terminal, the line would wrap, and "\r" + clear-line would only clear its
        # last part: each redraw would leave a line behind.
        self.stream.write(self._fitted(self.status_line()))
        self.stream.flush()
        self._shown = True
        self._drawn_at = self.clock()

    def _fitted(self, line: str) -> str:
        """``line`` as it fits the terminal's width, read at each draw (the window may be
        resized): the short form (``q2 r4 d3 f0 c1``) when the long one is too wide, then cut."""
        try:
            room = os.get_terminal_size(self.stream.fileno()).columns - 1
        except (OSError, ValueError, AttributeError):   # no fileno, or not a terminal: not cut
            return line
        if room < 0:   # a terminal that doesn't know its size (0 columns): not cut
            return line
        if len(line) > room:
            line = _SHORT_WORDS.sub(lambda m: m[1][0] if m[1] else "", line)
        return line[:max(room, 0)]

    def status_line(self) -> str:
        """``[3/10] queued 2  rendering 4  done 3  failed 0  cached 1  elapsed 1m02s  ETA ~1m20s``."""
        finished = self.rows_finished
        queued = self.total - finished - self.counts["rendering"]
        eta = self.eta()
        return (f"[{finished}/{self.total}] queued {queued}  rendering {self.counts['rendering']}  "
                f"done {self.counts['done']}  failed {self.counts['failed']}  cached "
                f"{self.counts['cached']}  elapsed {self.elapsed()}{'  ' + eta if eta else ''}")

    def cached(self, step: Step) -> None:
        super().cached(step)
        self._redraw_cached()

    def cached_rows(self, count: int) -> bool:
        counted = super().cached_rows(count)
        if counted:
            self._redraw_cached()
        return counted

    def _redraw_cached(self) -> None:
        if self.clock() - self._drawn_at >= self.CACHED_REDRAW:
            self._clear()
            self._draw()

    def tick(self, progress: Progress) -> None:
        super().tick(progress)
        self._clear()
        self._draw()

    def finished(self, outcome: Outcome) -> None:
        self._clear()
        super().finished(outcome)

    def interrupted(self, rendering: int, exit_code: int) -> None:
        self._clear()
        super().interrupted(rendering, exit_code)


class JsonReporter:
    """NDJSON events on stdout, one object per line, for machines."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.ended = False   # one final event: finished, interrupted or error

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
        copy = {"copy_of": record.output} if record.output != step.job.output else {}
        self._emit("done", key=step.key, hash=step.job.hash, video_id=record.video_id,
                   output=step.job.output, checksum=record.checksum, **copy)

    def cached(self, step: Step) -> None:
        self._emit("cached", key=step.key, hash=step.job.hash)

    def failed(self, step: Step, message: str) -> None:
        self._emit("failed", key=step.key, hash=step.job.hash, error=message)

    def note(self, step: Step | None, message: str) -> None:
        self._emit("note", key=step.key if step else None, message=message)

    def tick(self, progress: Progress) -> None:
        pass

    def finished(self, outcome: Outcome) -> None:
        self.ended = True
        self._emit("finished", built=outcome.done, cached=outcome.cached,
                   failed=len(outcome.failed), unfinished=len(outcome.unfinished),
                   stopped=outcome.stopped, exit_code=outcome.exit_code)


    def interrupted(self, rendering: int, exit_code: int) -> None:
        if not self.ended:
            self.ended = True
            self._emit("interrupted", rendering=rendering, exit_code=exit_code,
                       message=interrupted_line(rendering, exit_code))

    def error(self, message: str, exit_code: int) -> None:
        """The build ended on an error (exit 2 or 3) before it could finish."""
        if not self.ended:
            self.ended = True
            self._emit("error", message=message, exit_code=exit_code)


def choose_reporter(json_output: bool, stream: TextIO | None = None, *, silent: bool = False,
                    heartbeat: float = HEARTBEAT_SECONDS) -> Reporter:
    """NDJSON events to ``stream`` (default stdout), else status to ``stream`` (default stderr):
    only the summary when ``silent``, a live line on a terminal, stamped lines in a pipe."""
    if json_output:
        return JsonReporter(stream)
    stream = stream or sys.stderr
    if silent:
        return SilentReporter(stream)
    return TerminalReporter(stream) if stream.isatty() else LogReporter(stream, heartbeat=heartbeat)


def final_word(reporter: Reporter, exc: BaseException) -> None:
    """The build ends on ``exc`` (an error, Ctrl-C or SIGTERM): give the reporter its final word,
    unless it had one (the engine reports an interruption with the videos it left rendering)."""
    if isinstance(exc, KeyboardInterrupt):
        interrupted = getattr(reporter, "interrupted", None)
        if interrupted is not None:
            interrupted(0, getattr(exc, "exit_code", EXIT_INTERRUPTED))
    elif isinstance(reporter, JsonReporter):
        reporter.error(str(exc), getattr(exc, "exit_code", EXIT_UNFINISHED))
