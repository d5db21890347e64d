"""Rows looked up on a second core (planner/lookahead.py): the helper process gives the planner the
answers it would find itself, a helper that can't open state or dies leaves the lookups to the
planner, and a plan or build whose rows changed, looked up by a helper, decides and pays as before.

The state is a real DiskState on a temporary directory, seeded as a complete build leaves it; the
helper is the real process the planner starts.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from buildkit import PROJECT_YAML, LoopbackHeyGen, rows, run_vidbuild, write_project, write_rows

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from incremental import seed_built

from vidbuild.heygen.backend import backend_namespace
from vidbuild.planner import decide, lookahead
from vidbuild.planner.decide import ROWS_AT_ONCE, plan_steps
from vidbuild.planner.lookahead import Batch, LookAhead, Lookup, look_up, lookup_row
from vidbuild.spec.expand import expand_project
from vidbuild.spec.project import load_project
from vidbuild.state.disk import DiskReader, DiskState
from vidbuild.state.location import open_state
from vidbuild.state.protocol import State

COUNT = 300   # rows: five batches


def seed(project: Path, namespace: str, state: State | None = None) -> None:
    """Record every row of ``project`` as downloaded, its output written, as a complete build does,
    in ``state`` (else the project's disk state of API ``namespace``): the benchmarks' seeding."""
    seed_built(project, state or DiskState(project / ".vidbuild", namespace))


def edited(project: Path) -> None:
    """Every row restates a HeyGen default (the same video), and rows 10 to 19 also say something
    else (a new video)."""
    data = rows(COUNT)
    for row in data[9:19]:
        row["line"] = "see you soon!"
    write_rows(project, data)
    text = textwrap.dedent(PROJECT_YAML)
    plain = "{avatar_id: Daisy-inskirt-20220818}"
    (project / "vidbuild.yaml").write_text(text.replace(plain, plain[:-1] + ", avatar_style: normal}"),
                                           encoding="utf-8")


@pytest.fixture
def campaign(tmp_path: Path) -> Path:
    project = write_project(tmp_path / "campaign", rows(COUNT))
    seed(project, backend_namespace({}))
    edited(project)
    return project


class Patient(LookAhead):
    """A LookAhead that waits for its helper to start (or fail) before it answers whether it is
    ready, so that every batch after the first ``start_after`` rows goes to the helper."""

    instances: ClassVar[list[Patient]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pids: set[int] = set()
        Patient.instances.append(self)

    def ready(self) -> bool:
        deadline = time.monotonic() + 60
        while not super().ready() and not self.failed and self.pid is not None:
            assert time.monotonic() < deadline, "the helper did not start in a minute"
            time.sleep(0.02)
        if self.pid is not None:
            self.pids.add(self.pid)
        return super().ready()


def shown(steps: Iterator[decide.Step]) -> list[tuple[Any, ...]]:
    return [(step.key, step.action, step.reason, step.same_as, step.record.hash if step.record else None,
             step.look_first) for step in steps]


def steps_of(project: Path, *, lookahead: bool, force: tuple[str, ...] = (), url: str | None = None
             ) -> list[tuple[Any, ...]]:
    state = open_state(project / ".vidbuild", backend_namespace({}), url=url, project="campaign")
    try:
        jobs = expand_project(load_project(project))
        return shown(plan_steps(jobs, state, project, force, lookahead=lookahead))
    finally:
        state.close()


def test_the_helper_gives_the_answers_the_planner_finds_itself(campaign: Path, monkeypatch: Any) -> None:
    alone = steps_of(campaign, lookahead=False, force=("r05",))
    monkeypatch.setattr(decide, "LookAhead", functools.partial(Patient, start_after=0))
    Patient.instances.clear()

    helped = steps_of(campaign, lookahead=True, force=("r05",))

    assert helped == alone
    [ahead] = Patient.instances
    assert ahead.answered == -(-COUNT // ROWS_AT_ONCE) and not ahead.failed
    actions = {key: (action, same_as) for key, action, _, same_as, _, _ in helped}
    assert actions["r05"] == ("submit", None)                           # forced
    assert actions["r12"] == ("submit", None)                           # says something else
    assert actions["r30"][0] == "up-to-date" and actions["r30"][1]      # the same video, kept
    assert "changed: video_inputs[0].character.avatar_style, video_inputs[0].voice.input_text" in \
        dict((key, reason) for key, _, reason, _, _, _ in helped)["r12"]


def test_the_helper_looks_up_in_postgresql_too(tmp_path: Path, url: str, monkeypatch: Any) -> None:
    project = write_project(tmp_path / "campaign", rows(COUNT))
    seed(project, "", open_state(tmp_path, backend_namespace({}), url=url, project="campaign"))
    edited(project)
    alone = steps_of(project, lookahead=False, url=url)
    monkeypatch.setattr(decide, "LookAhead", functools.partial(Patient, start_after=0))
    Patient.instances.clear()

    helped = steps_of(project, lookahead=True, url=url)

    assert helped == alone
    [ahead] = Patient.instances
    assert ahead.answered == -(-COUNT // ROWS_AT_ONCE) and not ahead.failed
    assert {action for _, action, _, _, _, _ in helped} == {"submit", "up-to-date"}


def test_large_bodies_kept_through_the_helper_do_not_stall_the_plan(tmp_path: Path, monkeypatch: Any) -> None:
    """Answers that carry earlier bodies of ~5 KB, 64 to a batch, outgrow a socket's buffer both
    ways: the planner must never be sending while the helper is (each would wait for ever)."""
    project = write_project(tmp_path / "campaign", rows(COUNT, line="so glad you are here " * 200))
    seed(project, backend_namespace({}))
    edited(project)
    write_rows(project, rows(COUNT, line="so glad you are here " * 200))   # the restated default only
    monkeypatch.setattr(decide, "LookAhead", functools.partial(Patient, start_after=0))
    Patient.instances.clear()
    found: list[list[tuple[Any, ...]]] = []

    planning = threading.Thread(target=lambda: found.append(steps_of(project, lookahead=True)), daemon=True)
    planning.start()
    planning.join(120)

    assert found, "the plan stalled"
    assert {action for _, action, _, _, _, _ in found[0]} == {"up-to-date"}
    assert Patient.instances[0].answered == -(-COUNT // ROWS_AT_ONCE)


def test_the_helper_imports_nothing_from_the_project(campaign: Path, monkeypatch: Any) -> None:
    """A project file named like a standard module (``token.py``) is not what the helper imports,
    run from the project directory: it imports from vidbuild's own path, as vidbuild does."""
    marker = campaign / "imported"
    (campaign / "token.py").write_text(f"open({str(marker)!r}, 'w').close()\n", encoding="utf-8")
    monkeypatch.chdir(campaign)
    monkeypatch.setattr(decide, "LookAhead", functools.partial(Patient, start_after=0))
    Patient.instances.clear()

    steps_of(campaign, lookahead=True)

    assert Patient.instances[0].answered == -(-COUNT // ROWS_AT_ONCE)
    assert not marker.exists()


def batches(project: Path) -> list[Batch]:
    jobs = list(expand_project(load_project(project)))
    return [Batch(jobs[start:start + ROWS_AT_ONCE], set(), jobs[start:start + ROWS_AT_ONCE])
            for start in range(0, len(jobs), ROWS_AT_ONCE)]


def essence(looked: list[Lookup]) -> list[tuple[Any, ...]]:
    """What the planner reads of lookups whose earlier bodies can't render the same video."""
    return [(lookup.record, lookup.earlier.hash if lookup.earlier else None, lookup.changed)
            for lookup in looked]


def answers(project: Path, ahead: LookAhead, *, kill_after: int | None = None) -> list[list[Lookup] | None]:
    """What ``ahead`` hands back for the campaign's batches; its helper is killed once
    ``kill_after`` answers came (the batches in flight then may or may not have been answered)."""
    got: list[list[Lookup] | None] = []
    try:
        for _, looked in ahead.looked_up(batches(project)):
            got.append(looked)
            if len(got) == kill_after and ahead.pid is not None:
                os.kill(ahead.pid, signal.SIGKILL)
        return got
    finally:
        ahead.close()


def local(project: Path, state: DiskState) -> list[list[Lookup]]:
    return [look_up(state, [lookup_row(job) for job in batch.pending], ()) for batch in batches(project)]


def test_a_killed_helper_leaves_the_rest_to_the_planner(campaign: Path) -> None:
    # Only text changes: no earlier body needs the trip back.
    (campaign / "vidbuild.yaml").write_text(textwrap.dedent(PROJECT_YAML).replace("Hi {{", "Hello {{"),
                                            encoding="utf-8")
    state = DiskState(campaign / ".vidbuild", backend_namespace({}))
    try:
        ahead = Patient(state, start_after=0)
        got = answers(campaign, ahead, kill_after=1)
        expected = local(campaign, state)
    finally:
        state.close()
    helped = [looked for looked in got if looked is not None]
    assert 1 <= ahead.answered == len(helped) < 5 and ahead.failed and ahead.pid is None
    assert got == [*helped, *[None] * (5 - len(helped))]     # the rest: looked up by the planner
    assert [essence(looked) for looked in helped] == [essence(looked) for looked in expected[:len(helped)]]
    assert {tuple(lookup.changed) for looked in expected for lookup in looked} == \
        {("title", "video_inputs[0].voice.input_text")}


class Unreadable(DiskState):
    """A state whose reader can't be opened in the helper (its directory is under a file)."""

    def reader(self) -> Any:
        return functools.partial(DiskReader, self.directory / "owners" / "nowhere" / "store")


def test_a_helper_that_cannot_open_state_leaves_the_lookups_to_the_planner(campaign: Path) -> None:
    owners = campaign / ".vidbuild" / backend_namespace({}) / "owners"
    (owners / "nowhere").write_text("a file", encoding="utf-8")
    state = Unreadable(campaign / ".vidbuild", backend_namespace({}))
    try:
        ahead = Patient(state, start_after=0)
        got = answers(campaign, ahead)
    finally:
        state.close()
    assert got == [None] * 5
    assert ahead.failed and ahead.answered == 0 and ahead.pids   # it was started, and told it failed


def test_no_helper_for_a_few_rows_or_one_core(campaign: Path, monkeypatch: Any) -> None:
    state = DiskState(campaign / ".vidbuild", backend_namespace({}))
    try:
        few = LookAhead(state, start_after=COUNT + 1)
        assert answers(campaign, few) == [None] * 5 and few.pid is None and not few.failed
        monkeypatch.setattr(lookahead, "_cores", lambda: 1)
        one_core = LookAhead(state, start_after=0)
        assert answers(campaign, one_core) == [None] * 5 and one_core.pid is None and one_core.failed
    finally:
        state.close()


def test_the_helper_ends_with_a_plan_left_early(campaign: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(decide, "LookAhead", functools.partial(Patient, start_after=0))
    Patient.instances.clear()
    state = DiskState(campaign / ".vidbuild", backend_namespace({}))
    try:
        steps = plan_steps(expand_project(load_project(campaign)), state, campaign, lookahead=True)
        first = next(steps)
        steps.close()
    finally:
        state.close()
    [ahead] = Patient.instances
    [pid] = ahead.pids
    assert first.key == "r01" and ahead.pid is None
    with pytest.raises(ProcessLookupError):   # exited and reaped
        os.kill(pid, 0)


def test_a_build_whose_rows_restate_defaults_pays_nothing_through_the_helper(tmp_path: Path) -> None:
    """The CLI starts the helper (300 rows to look up); whether it answers before the last batch
    depends on the machine's pace: the answers, the plan and what is paid are the same either way."""
    heygen = LoopbackHeyGen(tmp_path / "heygen")
    try:
        project = write_project(tmp_path / "campaign", rows(COUNT))
        seed(project, backend_namespace(heygen.env()))
        edited(project)
        write_rows(project, rows(COUNT))   # only the restated default: every row keeps its video

        planned = run_vidbuild("plan", "--json", str(project), env=heygen.env())
        built = run_vidbuild("build", str(project), env=heygen.env(), timeout=300)
        paid = heygen.submits()
    finally:
        heygen.close()
    assert planned.code == 0 and built.code == 0, planned.stderr + built.stderr
    steps = [json.loads(line) for line in planned.stdout.splitlines()][:-1]
    assert len(steps) == COUNT
    assert all(step["action"] == "up-to-date" and "same video as its last body" in step["reason"]
               for step in steps), steps[0]
    assert paid == []
    assert f"0 built, {COUNT} up to date" in built.stderr
