"""Rows are streamed: the engine takes a row only when it has room, a build reads its rows once and
sends nothing if they changed after it read them, and nothing is printed or written from half-read rows."""

from __future__ import annotations

import io
import json
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from buildkit import rows, write_project, write_rows

import vidbuild
from vidbuild import commands
from vidbuild.errors import InputsChangedError, ProjectError
from vidbuild.heygen.backend import BackendChoice, open_backend
from vidbuild.pipeline import PlanOutcome
from vidbuild.planner.decide import Step, Summary, plan_steps
from vidbuild.planner.last_build import last_row
from vidbuild.planner.last_rows import LastRows
from vidbuild.planner.row_index import IndexEntry, JobSpool, RowIndex, settled_jobs
from vidbuild.planner.up_to_date import is_up_to_date, save
from vidbuild.report.manifest import FIELDS, write_manifest
from vidbuild.report.progress import PlainReporter
from vidbuild.run.engine import Engine, Options
from vidbuild.spec.expand import Expander, Job, expand_project
from vidbuild.spec.project import load_project
from vidbuild.state.disk import DiskState
from vidbuild.state.protocol import Record

WINDOW = 3


class Tally(PlainReporter):
    """Counts the rows the engine is finished with."""

    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.finished_rows = 0

    def done(self, step: Step, record: Record) -> None:
        self.finished_rows += 1

    def cached(self, step: Step) -> None:
        self.finished_rows += 1

    def failed(self, step: Step, message: str) -> None:
        self.finished_rows += 1


def run_engine(project: Path, state: DiskState) -> tuple[list[int], Tally, int]:
    """Build every row with a window of WINDOW; returns how many rows the engine held each time it
    asked for another, the reporter, and how many rows were expanded when the first was done."""
    reporter = Tally()
    held_when_asked: list[int] = []
    expanded_at_first_done: list[int] = []

    def counted(steps: Iterator[Step]) -> Iterator[Step]:
        for taken, step in enumerate(steps):
            held_when_asked.append(taken - reporter.finished_rows)
            yield step

    def expanded(jobs: Iterator[Job]) -> Iterator[Job]:
        for count, job in enumerate(jobs):
            if reporter.finished_rows and not expanded_at_first_done:
                expanded_at_first_done.append(count)
            yield job

    backend = open_backend(project / ".vidbuild", BackendChoice.emulator(speed="0.002"))
    try:
        engine = Engine(backend, state, reporter, project, Options(jobs=WINDOW))
        steps = plan_steps(expanded(expand_project(load_project(project))), state, project)
        outcome = engine.run(counted(steps))
    finally:
        backend.close()
    assert outcome.exit_code == 0 and outcome.failed == [] and outcome.unfinished == []
    return held_when_asked, reporter, (expanded_at_first_done or [-1])[0]


def test_the_engine_takes_a_row_only_when_it_has_room(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vidbuild.planner.decide.ROWS_AT_ONCE", 2)
    project = write_project(tmp_path / "campaign", rows(12))
    state = DiskState(project / ".vidbuild", "emulator")
    try:
        held, reporter, expanded_at_first_done = run_engine(project, state)
        assert len(held) == 12 and max(held) == WINDOW - 1   # never more than a window's worth
        assert 0 < expanded_at_first_done <= WINDOW + 2        # nor rows expanded far ahead
        assert reporter.finished_rows == 12

        held, reporter, _ = run_engine(project, state)          # everything is up to date now
        assert max(held) == 0 and reporter.finished_rows == 12
    finally:
        state.close()


class EditsOnceRead(PlainReporter):
    """Runs ``edit`` when the build reports its plan: every row has been read (once), validated
    and planned, and the build is about to act."""

    def __init__(self, edit: Callable[[], object]) -> None:
        super().__init__(io.StringIO())
        self.edit = edit

    def planned(self, summary: Summary) -> None:
        self.edit()
        super().planned(summary)


def test_a_build_sends_nothing_when_a_row_changed_after_it_was_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The rows are read once; an input file edited since it was stat'ed (before reading) is
    # found before anything is sent: the rows read may mix old and new, so nothing is.
    monkeypatch.setenv("VIDBUILD_EMULATOR_SPEED", "0")
    project = write_project(tmp_path / "campaign", rows(4))
    edited = rows(4)
    edited[2]["line"] = "edited mid-build"
    expansions: list[int] = []
    expand = Expander.expand

    def counted(self: Expander, row: Any, sink: Any, fingerprint: str | None = None) -> Job | None:
        expansions.append(row.index)
        return expand(self, row, sink, fingerprint)

    monkeypatch.setattr(Expander, "expand", counted)
    reporter = EditsOnceRead(lambda: write_rows(project, edited))
    state = vidbuild.open_state(project)
    try:
        with pytest.raises(InputsChangedError) as raised:
            vidbuild.build(project, state=state, reporter=reporter)
    finally:
        state.close()

    assert sorted(expansions) == [0, 1, 2, 3]               # one pass over the rows, not two
    message = str(raised.value)
    assert message.startswith("the project's inputs changed during the build (")
    assert message.endswith("rows.csv) after its rows were read: nothing was sent; run vidbuild build again")
    monkeypatch.undo()
    monkeypatch.setenv("VIDBUILD_EMULATOR_SPEED", "0")
    status = io.StringIO()
    commands.status(str(project), json_output=True, stdout=status)
    statuses = {row["key"]: row["status"] for row in map(json.loads, status.getvalue().splitlines())}
    assert set(statuses.values()) == {"not-built"}        # nothing was sent
    assert commands.build(str(project), stderr=io.StringIO()) == 0


def test_the_index_and_spool_give_back_the_spooled_jobs_and_the_settled_rows(tmp_path: Path) -> None:
    project = write_project(tmp_path / "campaign", rows(3))
    jobs = list(expand_project(load_project(project)))
    with RowIndex() as index, JobSpool() as spool:
        for number, job in enumerate(jobs):
            index.add_job(job, settled=number == 1)
            if number != 1:
                spool.add_job(job)
        entries = list(index.entries())
        spooled = list(spool.jobs())
    assert [entry.settled for entry in entries] == [False, True, False]
    replayed = [spooled[0], settled_jobs("video")(entries[1], 1), spooled[1]]
    assert [replayed[0], replayed[2]] == [jobs[0], jobs[2]]      # bodies, rows and routes kept
    assert replayed[1].unchanged and replayed[1].body == {}
    assert (replayed[1].key, replayed[1].hash) == (jobs[1].key, jobs[1].hash)
    assert replayed[1].output == jobs[1].output


def test_a_mistake_in_the_last_row_prints_no_plan(tmp_path: Path) -> None:
    project = write_project(tmp_path / "campaign", [*rows(3), {"id": "bad id", "name": "X", "line": "x"}])
    out = io.StringIO()

    with pytest.raises(ProjectError):
        commands.plan(str(project), stdout=out)

    assert out.getvalue() == ""


def pending(project: Path) -> PlanOutcome:
    """``build -q`` through the library."""
    state = vidbuild.open_state(project)
    try:
        return vidbuild.plan(project, state=state, options=vidbuild.PlanOptions(question=True))
    finally:
        state.close()


def test_build_q_decides_until_the_first_row_to_build_but_reads_every_row(tmp_path: Path) -> None:
    project = write_project(tmp_path / "campaign", rows(5))

    outcome = pending(project)
    assert outcome.exit_code == 1
    assert outcome.summary.counts == {"submit": 1}   # r01 decided, r02 to r05 only read
    assert commands.build(str(project), question=True) == 1

    write_rows(project, [*rows(5), {"id": "bad id", "name": "X", "line": "x"}])
    with pytest.raises(ProjectError):
        pending(project)
    with pytest.raises(ProjectError):
        commands.build(str(project), question=True)


@pytest.mark.parametrize("count", [0, 1, 3])
def test_the_streamed_manifest_is_what_json_dumps_writes(tmp_path: Path, count: int) -> None:
    state = DiskState(tmp_path / ".vidbuild", "ns")
    entries = [IndexEntry(f"clé-{n}", f"{n:064x}", f"out/clé-{n}.mp4") for n in range(count)]
    try:
        if entries:
            state.record(Record(hash=entries[0].hash, key=entries[0].key, kind="video", status="downloaded",
                                video_id="v0", video_url="https://x/v0.mp4", output=entries[0].output,
                                checksum="c0", size=7))
        path = write_manifest(tmp_path, "ünïcode", lambda: iter(entries), state)
        expected = {"project": "ünïcode", "api": "ns", "videos": [
            dict.fromkeys(FIELDS) | {
                "key": e.key, "hash": e.hash, "video_id": "v0" if n == 0 else None,
                "status": "done" if n == 0 else "not-built", "output": e.output if n == 0 else None,
                "video_url": "https://x/v0.mp4" if n == 0 else None,
                "checksum": "c0" if n == 0 else None, "size": 7 if n == 0 else None}
            for n, e in enumerate(entries)]}
    finally:
        state.close()
    assert path == tmp_path / "out" / "manifest.json"
    assert path.read_text(encoding="utf-8") == json.dumps(expected, indent=2, ensure_ascii=False) + "\n"
    assert len((tmp_path / "out" / "manifest.csv").read_text(encoding="utf-8").splitlines()) == count + 1


def test_the_snapshot_lists_its_outputs_on_the_last_rows_file(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    rows = LastRows()
    for n in range(5):
        path = tmp_path / "out" / f"{n}.mp4"
        path.write_bytes(b"v" * n)
        thumbnail = "out/t.jpg" if n == 2 else None
        entry = IndexEntry(f"k{n}", "h" * 64, f"out/{n}.mp4", f"f{n}", thumbnail=thumbnail)
        rows.add(*last_row(entry, (path.stat().st_size, path.stat().st_mtime_ns), (0, 0)))
        rows.spans.extend((0, 1, 0, 1))
    (tmp_path / "out" / "t.jpg").write_bytes(b"")
    manifest = tmp_path / "out" / "manifest.json"
    manifest.write_text("{}")
    state = DiskState(tmp_path / ".vidbuild", "ns")
    try:
        file = tmp_path / ".vidbuild" / "rows"
        save(state, tmp_path, [str(manifest)], [], (str(file), rows.write(file)), manifest, {})
        assert is_up_to_date(state, tmp_path) is None   # the thumbnail's size and mtime were (0, 0)
        rows.numbers[2 * 4 + 2:2 * 4 + 4] = array("q", [0, (tmp_path / "out" / "t.jpg").stat().st_mtime_ns])
        save(state, tmp_path, [str(manifest)], [], (str(file), rows.write(file)), manifest, {})
        assert is_up_to_date(state, tmp_path) == 5
        again = LastRows.read(file, state.get_meta("last_complete_build")["last_rows"]["token"])
        assert again is not None and again.texts == rows.texts and again.numbers == rows.numbers
        assert again.spans == rows.spans
        assert LastRows.read(file, "another token") is None
        (tmp_path / "out" / "4.mp4").write_bytes(b"changed")
        assert is_up_to_date(state, tmp_path) is None
        file.write_bytes(file.read_bytes()[:-3])              # a cut file is no snapshot
        assert LastRows.read(file, state.get_meta("last_complete_build")["last_rows"]["token"]) is None
    finally:
        state.close()


def test_the_known_spool_gives_back_every_text_as_written_also_past_a_megabyte() -> None:
    from vidbuild.planner.row_index import KnownSpool

    texts = [(123, 1_700_000_000_000_000_001, '{\n      "key": "ü\\u00e9 \\"q\\""\n    }',
              "a,\"b\nc\",\udc80\n"), (0, 0, "", "")]
    many = [(n, n * 7, "x" * 700 + str(n), "y" * 300 + "\n") for n in range(2000)]   # ~2 MB: on disk
    spool = KnownSpool()
    for known in texts + many:
        spool.add_known(known)
    assert [tuple(known) for known in spool] == texts + many
    spool.add_known((9, 9, "later", "row\n"))   # appending goes on after a read
    assert [tuple(known) for known in spool][-1] == (9, 9, "later", "row\n")
    spool.close()


def test_a_settled_row_comes_back_from_the_index_as_it_went_in() -> None:
    from vidbuild.planner.fingerprint import KnownJob
    from vidbuild.spec.rows import Row

    def known_job(index: int, thumbnail: str | None) -> KnownJob:
        return KnownJob(key=f"k{index}", kind="video", body={}, hash="h" * 64, output=f"out/ü {index}.mp4",
                        scenes=(), row=Row(index, {}, "rows.csv", index + 2), generation="v3",
                        route_reason="a reason, with spaces", fingerprint="f" * 64, unchanged=True,
                        thumbnail=thumbnail, known=(index, index * 9, "{\n  \"k\": 1\n}", "k,\"a\nb\"\n"))

    with RowIndex() as index:
        for position in range(1500):   # past a megabyte of texts: on disk
            assert index.settle(known_job(position, None if position % 2 else f"out/{position}.jpg"))
        entries = list(index.entries())
        assert index.settled_count == len(entries) == 1500
        assert entries[3] == IndexEntry("k3", "h" * 64, "out/ü 3.mp4", "f" * 64, True, True, "v3",
                                        "a reason, with spaces", None, None,
                                        [3, 27, "{\n  \"k\": 1\n}", "k,\"a\nb\"\n"])
        assert entries[4].thumbnail == "out/4.jpg"
        assert next(index.entries(known=False)).known is None
        assert index.directories == {"out"}
