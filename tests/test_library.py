"""vidbuild as a library: ``vidbuild.build``/``plan``/``status``/``compile`` with the state and the
backend injected, on the in-process emulator, a reporter that collects every event; the README's
example run as written; and ``import vidbuild`` staying light."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

import vidbuild
from vidbuild.errors import UsageError
from vidbuild.planner.decide import Step, Summary
from vidbuild.run.outcome import Outcome
from vidbuild.spec.project import Project
from vidbuild.state.protocol import Record, State

REPOSITORY = Path(__file__).resolve().parent.parent
PROJECT = {
    "vidbuild.yaml": """
        version: 1
        name: library
        data: {source: people.csv, key: "{{ row.id }}"}
        defaults:
          avatar: {avatar_id: Daisy-inskirt-20220818}
          voice: {voice_id: 2d5b0e6cf36f460aa7fc47e3eee4ba54}
        scenes:
          - id: hi
            voice: {text: "Hi {{ row.name }}!"}
        """,
    "people.csv": "id,name\na,Ana\nb,Ben\nc,Cy\n",
}
EMULATOR = vidbuild.BackendChoice.emulator(speed="0")


class Collector:
    """A Reporter that keeps every event as (name, key or detail)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def banner(self, text: str) -> None:
        self.events.append(("banner", text))

    def planned(self, summary: Summary) -> None:
        self.events.append(("planned", dict(summary.counts)))

    def submitted(self, step: Step, video_id: str) -> None:
        self.events.append(("submitted", step.key))

    def rendering(self, step: Step, status: str) -> None:
        pass   # how often a render is polled is the engine's business

    def done(self, step: Step, record: Record) -> None:
        self.events.append(("done", step.key))

    def cached(self, step: Step) -> None:
        self.events.append(("cached", step.key))

    def failed(self, step: Step, message: str) -> None:
        self.events.append(("failed", step.key))

    def note(self, step: Step | None, message: str) -> None:
        self.events.append(("note", message))

    def finished(self, outcome: Outcome) -> None:
        self.events.append(("finished", outcome.exit_code))

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def keys(self, name: str) -> list[str]:
        return sorted(str(detail) for event, detail in self.events if event == name)


class StepList:
    """A PlanView that keeps every step and the summary."""

    def __init__(self) -> None:
        self.taken: list[Step] = []
        self.summaries: list[Summary] = []

    def steps(self, steps: Iterable[Step]) -> None:
        self.taken.extend(steps)

    def summary(self, summary: Summary, project: Project) -> None:
        self.summaries.append(summary)


@pytest.fixture
def project(write_tree: Any) -> Path:
    root: Path = write_tree(PROJECT)
    return root


@pytest.fixture
def state(project: Path) -> Iterator[State]:
    opened = vidbuild.open_state(project, backend=EMULATOR)
    yield opened
    opened.close()


def build(project: Path, state: State, **options: Any) -> tuple[vidbuild.BuildOutcome, Collector]:
    reporter = Collector()
    outcome = vidbuild.build(project, state=state, backend=EMULATOR, reporter=reporter,
                             options=vidbuild.BuildOptions(**options))
    return outcome, reporter


def test_a_build_on_the_in_process_emulator(project: Path, state: State) -> None:
    outcome, reporter = build(project, state)

    assert (outcome.done, outcome.cached, outcome.failed, outcome.exit_code) == (3, 0, [], 0)
    assert not outcome.from_snapshot
    assert reporter.events[0] == ("banner", EMULATOR.banner)
    assert reporter.events[1] == ("planned", {"submit": 3})
    assert reporter.keys("submitted") == reporter.keys("done") == ["a", "b", "c"]
    assert reporter.events[-1] == ("finished", 0)
    assert sorted(p.name for p in (project / "out").glob("*.mp4")) == ["a.mp4", "b.mp4", "c.mp4"]
    videos = json.loads((project / "out" / "manifest.json").read_text())["videos"]
    assert [video["status"] for video in videos] == ["done"] * 3


def test_a_rebuild_with_nothing_changed_is_answered_from_the_snapshot(project: Path, state: State) -> None:
    build(project, state)

    outcome, reporter = build(project, state)

    assert outcome.from_snapshot and (outcome.done, outcome.cached, outcome.exit_code) == (0, 3, 0)
    assert reporter.events == [("banner", EMULATOR.banner), ("planned", {"up-to-date": 3}), ("finished", 0)]


def test_without_the_snapshot_every_row_is_reported_up_to_date(project: Path, state: State) -> None:
    build(project, state)

    outcome, reporter = build(project, state, snapshot=False)

    assert not outcome.from_snapshot and (outcome.done, outcome.cached) == (0, 3)
    assert reporter.keys("cached") == ["a", "b", "c"] and "submitted" not in reporter.names()


def test_a_backend_choice_is_opened_only_when_a_row_needs_the_api(project: Path, state: State) -> None:
    build(project, state)
    # Opening this choice would fail (a base URL without a key): the no-op never opens it.
    unusable = vidbuild.BackendChoice(api_base="http://127.0.0.1:9")

    outcome = vidbuild.build(project, state=state, backend=unusable, reporter=Collector())
    assert outcome.from_snapshot and outcome.exit_code == 0

    with pytest.raises(UsageError, match="HEYGEN_API_BASE is set but HEYGEN_API_KEY is not"):
        vidbuild.build(project, state=state, backend=unusable, reporter=Collector(),
                       options=vidbuild.BuildOptions(force=["a"]))


def test_an_open_backend_is_used_and_left_open_for_its_owner(project: Path, state: State) -> None:
    backend = vidbuild.open_backend(project, choice=EMULATOR)
    try:
        outcome = vidbuild.build(project, state=state, backend=backend, reporter=Collector())
        assert outcome.done == 3
        assert backend.client.status(state.get(vidbuild.compile(project)[0].hash).video_id).status \
            == "completed"   # still open: the build did not close what it was handed
    finally:
        backend.close()


def test_plan_outcome_values(project: Path, state: State) -> None:
    view = StepList()
    planned = vidbuild.plan(project, state=state, view=view)
    assert dict(planned.summary.counts) == {"submit": 3} and not planned.up_to_date
    assert planned.exit_code == 1 and planned.summary.estimated_credits > 0
    assert {step.key: step.action for step in view.taken} == {"a": "submit", "b": "submit", "c": "submit"}
    assert view.summaries == [planned.summary]

    build(project, state)
    (project / "people.csv").write_text("id,name\na,Ana\nb,Bea\nc,Cy\n")

    after = vidbuild.plan(project, state=state, options=vidbuild.PlanOptions(force=["c"]))
    assert dict(after.summary.counts) == {"up-to-date": 1, "submit": 2}
    assert after.exit_code == 1 and not after.from_snapshot

    with pytest.raises(UsageError, match="--force: no row with key zz"):
        vidbuild.plan(project, state=state, options=vidbuild.PlanOptions(force=["zz"]))


def test_status_and_compile(project: Path, state: State) -> None:
    assert vidbuild.status(project, state=state).counts == {"not-built": 3}
    build(project, state)
    assert vidbuild.status(project, state=state).counts == {"done": 3}

    jobs = vidbuild.compile(project, rows=["b"])
    assert [(job.key, job.output) for job in jobs] == [("b", "out/b.mp4")]
    with pytest.raises(UsageError, match="no row with key zz"):
        vidbuild.compile(project, rows=["zz"])


def test_bad_options_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="-j must be at least 1"):
        vidbuild.BuildOptions(jobs=0)
    with pytest.raises(UsageError, match="--render-timeout must be a positive number of seconds, got nan"):
        vidbuild.BuildOptions(render_timeout=float("nan"))


def test_every_public_name_resolves() -> None:
    for name in vidbuild.__all__:
        assert getattr(vidbuild, name) is not None, name
    with pytest.raises(AttributeError):
        vidbuild.no_such_name  # noqa: B018


LIGHT = """
import sys
import vidbuild
import vidbuild.cli
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("httpx", "jinja2", "jsonschema", "ruamel",
                                                             "diskcache", "psycopg"))
print(" ".join(heavy) or "light")
"""


def test_importing_vidbuild_loads_no_heavy_library() -> None:
    result = subprocess.run([sys.executable, "-c", LIGHT], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "light"


def test_the_library_functions_survive_importing_every_stage() -> None:
    code = ("import vidbuild, vidbuild.planner.decide, vidbuild.pipeline.builder, vidbuild.pipeline.queries;"
            "print(vidbuild.plan.__module__, vidbuild.build.__module__, vidbuild.compile.__module__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["vidbuild.pipeline.queries", "vidbuild.pipeline.builder",
                                     "vidbuild.pipeline.queries"]


def readme_example() -> str:
    """The Python example in the README's Development section, as written there."""
    text = (REPOSITORY / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Development\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 1, "the Development section must hold exactly one Python example"
    return blocks[0]


def test_the_readme_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(REPOSITORY / "projects" / "hello", tmp_path / "projects" / "hello")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}

    exec(compile(readme_example(), "README.md", "exec"), namespace)

    assert namespace["outcome"].exit_code == 0 and namespace["outcome"].done == 1
    assert (tmp_path / "projects" / "hello" / "out" / "hello.mp4").is_file()
    assert not (tmp_path / "projects" / "hello" / ".vidbuild").exists()   # the state went to a temp dir


def test_the_environment_chooses_the_backend_in_one_place() -> None:
    reads = re.compile(r"""environ(?:\.get\(|\[)\s*["']HEYGEN_API_(?:KEY|BASE)""")
    readers = sorted(str(path.relative_to(REPOSITORY)) for path in (REPOSITORY / "vidbuild").rglob("*.py")
                     if reads.search(path.read_text(encoding="utf-8")))
    assert readers == ["vidbuild/heygen/choice.py"]
