"""The planner: for each row, the action a build takes and the reason a person reads."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from buildkit import rows, write_project

from vidbuild.planner.account_search import mark_account_searched
from vidbuild.planner.decide import (
    Step,
    Summary,
    decide,
    estimate_seconds,
    file_checksum,
    plan_steps,
)
from vidbuild.planner.fields import field_digests
from vidbuild.spec.expand import Job, expand_project
from vidbuild.spec.project import load_project
from vidbuild.state.disk import DiskState
from vidbuild.state.protocol import KeyEntry, Record


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "campaign", rows(3))


@pytest.fixture
def state(project: Path) -> Iterator[DiskState]:
    store = DiskState(project / ".vidbuild", "ns")
    yield store
    store.close()


def planned(rows: list[Job], state: DiskState, project: Path,
            force: tuple[str, ...] | list[str] = ()) -> tuple[list[Step], Summary]:
    """Every step of a plan, and its summary, as ``vidbuild plan`` adds them up."""
    steps = list(plan_steps(rows, state, project, force))
    summary = Summary()
    for each in steps:
        summary.add(each)
    return steps, summary


def jobs(project: Path) -> list[Job]:
    return list(expand_project(load_project(project)))


def put(state: DiskState, job: Job, status: str, **fields: object) -> Record:
    record = Record(hash=job.hash, key=job.key, kind=job.kind, status=status,  # type: ignore[arg-type]
                    owner=state.owner, output=job.output, claimed_at=time.time())
    for name, value in fields.items():
        setattr(record, name, value)
    state.record(record)
    return record


def downloaded(state: DiskState, project: Path, job: Job, content: bytes = b"video") -> Record:
    path = project / job.output
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    stat = path.stat()
    return put(state, job, "downloaded", video_id="v1", checksum=file_checksum(path), size=stat.st_size,
               mtime_ns=stat.st_mtime_ns)


def step(state: DiskState, project: Path, job: Job, *, forced: bool = False) -> tuple[str, str]:
    decided = decide(job, state, project, forced=forced)
    return decided.action, decided.reason


def test_a_row_never_built_is_new(project: Path, state: DiskState) -> None:
    # A new state has never had the account searched: the build looks there before paying.
    assert step(state, project, jobs(project)[0]) == ("submit", "new (will look in the account first)")
    mark_account_searched(state)
    assert step(state, project, jobs(project)[0]) == ("submit", "new")


def test_a_changed_row_names_its_changed_fields(project: Path, state: DiskState) -> None:
    job = jobs(project)[0]
    before = {**job.body, "title": "Hi Someone", "caption": True}
    state.remember_key(job.key, KeyEntry("0" * 64, field_digests(before)))

    assert step(state, project, job) == ("submit", "changed: caption, title")


def test_many_changed_fields_are_counted_past_four(project: Path, state: DiskState) -> None:
    job = jobs(project)[0]
    before = {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, **job.body}
    state.remember_key(job.key, KeyEntry("0" * 64, field_digests(before)))

    assert step(state, project, job) == ("submit", "changed: a, b, c, d and 1 more")


def test_field_digests_name_every_leaf_by_its_path() -> None:
    body = {"video_inputs": [{"voice": {"input_text": "Hi", "speed": 1.0}}], "dimension": {}, "title": "T"}

    assert sorted(field_digests(body)) == ["dimension", "title", "video_inputs[0].voice.input_text",
                                          "video_inputs[0].voice.speed"]


def test_forced_rows_are_submitted_whatever_their_state(project: Path, state: DiskState) -> None:
    job = jobs(project)[0]
    downloaded(state, project, job)

    assert step(state, project, job, forced=True) == ("submit", "forced rebuild (--force)")


def test_a_failed_row_is_retried_with_its_error(project: Path, state: DiskState) -> None:
    job = jobs(project)[0]
    put(state, job, "failed", error="HeyGen failed the render: 40039 Invalid text input")

    assert step(state, project, job) == ("retry", "failed before: HeyGen failed the render: 40039 Invalid "
                                                  "text input")


def test_a_claim_of_a_live_process_is_waited_for(project: Path, state: DiskState) -> None:
    job = jobs(project)[0]
    other = DiskState(project / ".vidbuild", "ns")
    try:
        other.claim(job.hash, job.key, job.kind, title=None, output=job.output)

        assert step(state, project, job) == ("wait", "being submitted by another vidbuild process")
    finally:
        other.close()


@pytest.mark.parametrize("status", ["claimed", "uncertain"])
def test_a_claim_of_a_dead_process_is_reconciled(project: Path, state: DiskState, status: str) -> None:
    job = jobs(project)[0]
    put(state, job, status, owner="elsewhere:1:dead")

    assert step(state, project, job) == ("reconcile", "a submission may have been sent but its reply was "
                                                      "lost; looking it up by callback_id before any resend")


@pytest.mark.parametrize("status", ["submitted", "rendering"])
def test_a_submitted_row_is_polled(project: Path, state: DiskState, status: str) -> None:
    job = jobs(project)[0]
    put(state, job, status, video_id="v1")

    assert step(state, project, job) == ("poll", "submitted as v1, not finished")


def test_a_rendered_row_is_downloaded(project: Path, state: DiskState) -> None:
    job = jobs(project)[0]
    put(state, job, "completed", video_id="v1", video_url="http://127.0.0.1/files/v1.mp4")

    assert step(state, project, job) == ("download", "rendered, not downloaded yet")


def test_a_downloaded_row_with_its_file_is_up_to_date(project: Path, state: DiskState) -> None:
    job = jobs(project)[0]
    downloaded(state, project, job)

    assert step(state, project, job) == ("up-to-date", "downloaded, file unchanged")


def test_a_touched_file_with_the_same_bytes_is_up_to_date(project: Path, state: DiskState) -> None:
    job = jobs(project)[0]
    downloaded(state, project, job)
    os.utime(project / job.output, ns=(1, 1))

    assert step(state, project, job) == ("up-to-date", "downloaded, file unchanged (touched)")


def test_a_missing_file_is_downloaded(project: Path, state: DiskState) -> None:
    job = jobs(project)[0]
    downloaded(state, project, job)
    (project / job.output).unlink()

    assert step(state, project, job) == ("download", "output file is missing")


@pytest.mark.parametrize("content", [b"videx", b"video and more"])
def test_an_altered_file_is_downloaded(project: Path, state: DiskState, content: bytes) -> None:
    job = jobs(project)[0]
    downloaded(state, project, job)
    (project / job.output).write_bytes(content)

    assert step(state, project, job) == ("download", "output file was altered")


def test_a_moved_output_is_downloaded_to_its_new_path(project: Path, state: DiskState) -> None:
    job = jobs(project)[0]
    downloaded(state, project, job)
    yaml = project / "vidbuild.yaml"
    yaml.write_text(yaml.read_text().replace('output: "out/{{ key }}.mp4"', 'output: "videos/{{ key }}.mp4"'))
    moved = jobs(project)[0]

    assert moved.hash == job.hash   # where it goes is not what it is
    assert step(state, project, moved) == ("download",
                                           "its video was downloaded to out/r01.mp4, not to this path")


def test_plan_counts_and_estimates_only_what_pays(project: Path, state: DiskState) -> None:
    first, second, third = jobs(project)
    downloaded(state, project, first)
    put(state, second, "failed", error="x")

    steps, summary = planned([first, second, third], state, project, force=())

    assert [(s.key, s.action) for s in steps] == [("r01", "up-to-date"), ("r02", "retry"),
                                                  ("r03", "submit")]
    assert dict(summary.counts) == {"up-to-date": 1, "retry": 1, "submit": 1}
    assert not summary.up_to_date
    assert summary.estimated_credits == round(2 * estimate_seconds(third) / 60, 2)
    assert planned([first], state, project)[1].up_to_date
    assert planned([first], state, project, force=["r01"])[0][0].action == "submit"


def test_an_empty_plan_is_up_to_date() -> None:
    assert Summary().up_to_date and Summary().estimated_credits == 0.0


def test_estimates_follow_words_pauses_silence_and_agent_length(project: Path) -> None:
    job = jobs(project)[0]

    def with_voices(*voices: dict[str, object]) -> Job:
        return Job(job.key, "video", {"video_inputs": [{"voice": v} for v in voices]}, job.hash, job.output,
                   job.scenes, job.row)

    five_words = {"type": "text", "input_text": "one two three four five"}
    assert estimate_seconds(with_voices(five_words)) == 2.0
    assert estimate_seconds(with_voices({**five_words, "speed": 0.5})) == 4.0
    assert estimate_seconds(with_voices({"type": "text", "input_text": 'Hi <break time="3s"/> there'})) == 3.8
    assert estimate_seconds(with_voices({"type": "silence", "duration": 7}, five_words)) == 9.0
    assert estimate_seconds(with_voices({"type": "text", "input_text": ""})) == 1.0
    agent = Job(job.key, "agent", {"prompt": "p", "duration_sec": 45}, job.hash, job.output,
                job.scenes, job.row)
    assert estimate_seconds(agent) == 45.0


def test_a_step_is_keyed_by_its_row(project: Path) -> None:
    job = jobs(project)[1]

    assert Step(job, "submit", "new").key == "r02"


def test_a_file_moved_along_with_its_output_path_is_up_to_date(project: Path, state: DiskState) -> None:
    job = jobs(project)[0]
    downloaded(state, project, job)
    yaml = project / "vidbuild.yaml"
    yaml.write_text(yaml.read_text().replace('output: "out/{{ key }}.mp4"', 'output: "videos/{{ key }}.mp4"'))
    (project / "videos").mkdir()
    (project / job.output).rename(project / "videos" / "r01.mp4")

    assert step(state, project, jobs(project)[0]) == ("up-to-date", "downloaded, file unchanged (same video "
                                                                    "as out/r01.mp4)")
