"""Reporters: a live line on a terminal, plain lines in a pipe, NDJSON with --json."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from vidbuild import commands
from vidbuild.report.progress import (
    JsonReporter,
    LogReporter,
    SilentReporter,
    TerminalReporter,
    choose_reporter,
)

PROJECT = {
    "vidbuild.yaml": """
        version: 1
        name: live
        data: {source: people.csv, key: "{{ row.id }}"}
        defaults:
          avatar: {avatar_id: Daisy-inskirt-20220818}
          voice: {voice_id: 2d5b0e6cf36f460aa7fc47e3eee4ba54}
        scenes:
          - voice: {text: "Hi {{ row.name }}!"}
        """,
    "people.csv": "id,name\na,Ana\nb,Ben\nc,Cy\n",
}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_reporter_follows_the_stream() -> None:
    assert isinstance(choose_reporter(False, Terminal()), TerminalReporter)
    assert type(choose_reporter(False, io.StringIO())) is LogReporter
    assert type(choose_reporter(False, io.StringIO(), silent=True)) is SilentReporter
    assert isinstance(choose_reporter(True, io.StringIO()), JsonReporter)


def test_a_terminal_gets_a_live_line_with_counts(write_tree: Callable[[dict[str, str]], Path],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDBUILD_EMULATOR_SPEED", "0")
    root = write_tree(PROJECT)
    screen = Terminal()

    assert commands.build(str(root), stderr=screen) == 0

    text = screen.getvalue()
    assert "\r\x1b[2K" in text                       # the status line is redrawn in place
    assert "[0/3] queued 3  rendering 0  done 0  failed 0  cached 0" in text
    assert "done 3  failed 0  cached 0" in text
    assert text.endswith("\x1b[2K3 built, 0 up to date, 0 failed\n")   # the live line is cleared first


def test_a_pipe_gets_plain_lines_only(write_tree: Callable[[dict[str, str]], Path],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDBUILD_EMULATOR_SPEED", "0")
    root = write_tree(PROJECT)
    pipe = io.StringIO()

    assert commands.build(str(root), stderr=pipe) == 0

    assert "\r" not in pipe.getvalue() and "\x1b" not in pipe.getvalue()
    assert sum(" done " in line for line in pipe.getvalue().splitlines()) == 3


def test_json_events_are_one_object_per_line(write_tree: Callable[[dict[str, str]], Path],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDBUILD_EMULATOR_SPEED", "0")
    root = write_tree(PROJECT)
    out = io.StringIO()

    assert commands.build(str(root), json_output=True, stdout=out, stderr=io.StringIO()) == 0

    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["event"] for e in events][:2] == ["banner", "planned"]
    assert sum(e["event"] == "done" for e in events) == 3
    assert events[-1]["event"] == "finished" and events[-1]["exit_code"] == 0


def test_rows_up_to_date_redraw_the_live_line_at_most_every_tenth_of_a_second() -> None:
    from vidbuild.planner.decide import Step, Summary
    from vidbuild.spec.expand import Job
    from vidbuild.spec.rows import Row

    now = [100.0]
    screen = Terminal()
    reporter = TerminalReporter(screen, clock=lambda: now[0])
    summary = Summary()
    steps = [Step(Job(key=f"r{n}", kind="video", body={}, hash=f"h{n}", output=f"out/r{n}.mp4", scenes=(),
                      row=Row(n, {}, "", 0), unchanged=True), "up-to-date", "downloaded, file unchanged")
             for n in range(1000)]
    for step in steps:
        summary.add(step)
    reporter.planned(summary)

    for step in steps[:999]:
        reporter.cached(step)
    assert screen.getvalue().count("[") <= 2   # 999 rows at one instant: one redraw, not 999
    now[0] += 1.0
    reporter.cached(steps[999])
    assert screen.getvalue().endswith("cached 1000  elapsed 1s")
