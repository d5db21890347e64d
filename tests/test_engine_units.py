"""The engine on its own: a fake clock, a fake HeyGen client with scripted answers, real state on disk.

Each test builds a small project's rows through the real planner and a real DiskState, so only
HeyGen and time are faked: renders take fake seconds, every wait is a fake sleep, and a test of
hours runs in milliseconds. The fake client answers like HeyGen's: an Idempotency-Key replays
its first reply, a video's status moves from processing to its end once its render time passes.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from vidbuild.errors import (
    NotFoundError,
    RateLimitError,
    TransportError,
    UncertainSubmitError,
)
from vidbuild.heygen.backend import Backend, Timing
from vidbuild.heygen.client import (
    CreatedVideo,
    DetailPage,
    DownloadResult,
    HeyGenClient,
    VideoDetail,
    VideoFailure,
    VideoStatus,
    VideoSummary,
)
from vidbuild.planner.decide import Step, Summary, plan_steps
from vidbuild.run.engine import Engine, Options
from vidbuild.run.outcome import Outcome
from vidbuild.run.retries import Retries, Retry
from vidbuild.run.window import Window
from vidbuild.spec.expand import expand_project
from vidbuild.spec.project import load_project
from vidbuild.state.disk import DiskState
from vidbuild.state.protocol import Record

START = 1000.0
RENDER_SECONDS = 100.0   # fake seconds each video renders, unless a test says otherwise
PROJECT = """\
version: 1
name: units
data: {source: rows.csv, key: "{{ row.id }}"}
video: {title: "Hi {{ row.name }}", dimension: {width: 1280, height: 720}}
defaults:
  avatar: {avatar_id: Daisy-inskirt-20220818}
  voice: {voice_id: 2d5b0e6cf36f460aa7fc47e3eee4ba54}
  background: {type: color, value: "#0B1F3A"}
scenes:
  - id: hello
    voice: {text: "Hi {{ row.name }}, welcome!"}
output: "out/{{ key }}.mp4"
"""


class FakeClock:
    """Monotonic seconds that move only when the engine sleeps."""

    def __init__(self) -> None:
        self.now = START
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class FakeVideo:
    video_id: str
    title: str | None
    callback_id: str | None
    created_at: float        # wall clock, as HeyGen reports it
    done_at: float           # on the fake clock
    ends: str                # "completed" or "failed"


class FakeV3:
    """The v3 half of the fake client."""

    def __init__(self, heygen: FakeHeyGen) -> None:
        self.heygen = heygen

    def create_video(self, body: dict[str, Any], *, idempotency_key: str) -> CreatedVideo:
        heygen = self.heygen
        heygen.calls.append("create")
        heygen.keys.append(idempotency_key)
        heygen.fail_if_scripted("create")
        if idempotency_key not in heygen.by_key:   # HeyGen replays a key's first reply
            heygen.by_key[idempotency_key] = heygen.make(body).video_id
        heygen.reply_if_not_lost("create")
        return CreatedVideo(heygen.by_key[idempotency_key], "waiting", "mp4")

    def statuses(self, video_ids: list[str]) -> dict[str, VideoStatus]:
        self.heygen.calls.append("statuses")
        self.heygen.read_at.append(self.heygen.clock())
        return {video_id: self.heygen.status_of(video_id, urls=False) for video_id in video_ids}

    def video(self, video_id: str) -> VideoDetail:
        self.heygen.calls.append("detail")
        self.heygen.read_at.append(self.heygen.clock())
        self.heygen.fail_if_scripted("read")
        return self.heygen.status_of(video_id, urls=True)

    def list_videos(self, *, limit: int = 100, token: str | None = None,
                    title: str | None = None) -> DetailPage:
        self.heygen.calls.append("list")
        videos = reversed(self.heygen.videos.values())
        found = [self.heygen.status_of(video.video_id, urls=True) for video in videos
                 if title is None or title in (video.title or "")]
        return DetailPage(found[:limit], None, False)

    def iter_videos(self, *, title: str | None = None,
                    created_after: float | None = None) -> Iterator[VideoDetail]:
        for video in self.list_videos(title=title).videos:
            if created_after is not None and (video.created_at or 0.0) < created_after:
                return
            yield video


class FakeHeyGen:
    """The part of ``HeyGenClient`` the engine uses, answering from memory on the fake clock.

    ``script[operation]`` lists what the next calls of ``operation`` ("create", "read",
    "download") meet: an exception to raise before anything happens, "lost": the call does its
    work and then its reply is lost (raised as UncertainSubmitError), or None: it goes through.
    """

    def __init__(self, clock: FakeClock, *, render_seconds: float = RENDER_SECONDS, ends: str = "completed",
                 renders: dict[str, tuple[str, float]] | None = None) -> None:
        self.clock = clock
        self.render_seconds = render_seconds
        self.ends = ends
        self.renders = renders or {}   # by video id: (how it ends, fake seconds it takes)
        self.v3 = FakeV3(self)
        self.videos: dict[str, FakeVideo] = {}
        self.by_key: dict[str, str] = {}
        self.keys: list[str] = []
        self.calls: list[str] = []
        self.script: dict[str, list[Exception | str | None]] = {}
        self.created_at_clock: list[float] = []
        self.read_at: list[float] = []   # fake-clock times of v3 status and detail reads
        self.downloaded: list[str] = []
        self.most_in_flight = 0   # videos created and not yet downloaded or failed, at most

    # -- scripting --------------------------------------------------------------------------

    def fail_if_scripted(self, operation: str) -> None:
        fates = self.script.get(operation)
        if fates and fates[0] != "lost":
            fate = fates.pop(0)
            if fate is not None:
                assert isinstance(fate, Exception)
                raise fate

    def reply_if_not_lost(self, operation: str) -> None:
        fates = self.script.get(operation)
        if fates and fates[0] == "lost":
            fates.pop(0)
            raise UncertainSubmitError("Server disconnected", method="POST", path="/v3/videos")

    def make(self, body: dict[str, Any]) -> FakeVideo:
        video_id = f"vid{len(self.videos) + 1}"
        ends, seconds = self.renders.get(video_id, (self.ends, self.render_seconds))
        video = FakeVideo(video_id, body.get("title"), body.get("callback_id"), time.time(),
                          self.clock() + seconds, ends)
        self.videos[video.video_id] = video
        self.created_at_clock.append(self.clock())
        self.most_in_flight = max(self.most_in_flight, self.in_flight())
        return video

    def in_flight(self) -> int:
        return sum(1 for video in self.videos.values() if video.video_id not in self.downloaded
                   and not (video.ends == "failed" and self.clock() >= video.done_at))

    # -- the client's surface ----------------------------------------------------------------

    def submit(self, kind: str, body: dict[str, Any]) -> str:
        self.calls.append("create")
        self.fail_if_scripted("create")
        video = self.make(body)
        self.reply_if_not_lost("create")
        return video.video_id

    def status(self, video_id: str) -> VideoStatus:
        self.calls.append("legacy status")
        self.fail_if_scripted("read")
        return self.status_of(video_id, urls=True)

    def iter_videos(self, created_after: float | None = None) -> Iterator[VideoSummary]:
        self.calls.append("legacy list")
        for video in reversed(self.videos.values()):
            if created_after is None or video.created_at >= created_after:
                yield VideoSummary(video.video_id, video.title, None, video.created_at)

    def status_of(self, video_id: str, *, urls: bool) -> VideoDetail:
        video = self.videos.get(video_id)
        if video is None:
            return VideoDetail(video_id, "not_found")
        status = video.ends if self.clock() >= video.done_at else "processing"
        url = f"https://files.test/{video_id}.mp4" if urls and status == "completed" else None
        error = VideoFailure("400140", "avatar not allowed", None) if status == "failed" else None
        return VideoDetail(video_id, status, callback_id=video.callback_id, video_url=url, duration=5.0,
                           created_at=video.created_at, error=error, title=video.title)

    def download(self, url: str, dest: Path, media: str | None = None) -> DownloadResult:
        self.calls.append("download")
        self.fail_if_scripted("download")
        data = b"mp4 of " + url.encode()
        dest.write_bytes(data)
        self.downloaded.append(url.rsplit("/", 1)[-1].removesuffix(".mp4"))
        return DownloadResult(dest, len(data), hashlib.sha256(data).hexdigest())


class Events:
    """A reporter that keeps what the engine told it, as (event, key) pairs and notes."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.notes: list[str] = []

    def banner(self, text: str) -> None: ...
    def planned(self, summary: Summary) -> None: ...
    def rendering(self, step: Step, status: str) -> None: ...
    def finished(self, outcome: Outcome) -> None: ...

    def submitted(self, step: Step, video_id: str) -> None:
        self.events.append(("submitted", step.key))

    def done(self, step: Step, record: Record) -> None:
        self.events.append(("done", step.key))

    def cached(self, step: Step) -> None:
        self.events.append(("cached", step.key))

    def failed(self, step: Step, message: str) -> None:
        self.events.append(("failed", step.key))
        self.notes.append(f"{step.key}: FAILED {message}")

    def note(self, step: Step | None, message: str) -> None:
        self.notes.append(f"{step.key}: {message}" if step else message)


@dataclass
class Run:
    outcome: Outcome
    heygen: FakeHeyGen
    clock: FakeClock
    events: Events
    project: Path
    records: dict[str, Record]


def build(tmp_path: Path, heygen: FakeHeyGen, count: int = 1, *, api: str = "auto",
          options: Options | None = None) -> Run:
    """Plan ``count`` rows against a fresh state and run them through an engine on the fake pair."""
    project = tmp_path / "campaign"
    project.mkdir()
    (project / "vidbuild.yaml").write_text(PROJECT, encoding="utf-8")
    lines = [f"r{n:02d},Name{n}" for n in range(1, count + 1)]
    (project / "rows.csv").write_text("\n".join(["id,name", *lines]) + "\n", encoding="utf-8")
    state = DiskState(project / ".vidbuild", "fake")
    events = Events()
    backend = Backend(cast(HeyGenClient, heygen), "https://api.heygen.test", emulated=False, timing=Timing())
    try:
        engine = Engine(backend, state, events, project, options or Options(),
                        clock=heygen.clock, sleep=heygen.clock.sleep)
        jobs = expand_project(load_project(project), project / ".vidbuild", api=api)
        outcome = engine.run(plan_steps(jobs, state, project))
        records = {record.key: record for record in state.records()}
    finally:
        state.close()
    return Run(outcome, heygen, heygen.clock, events, project, records)


def test_a_row_is_submitted_polled_when_its_render_should_be_done_and_downloaded(tmp_path: Path) -> None:
    run = build(tmp_path, FakeHeyGen(FakeClock()))

    assert run.outcome == Outcome(done=1)
    assert run.events.events == [("submitted", "r01"), ("done", "r01")]
    # A fresh state looks in the account once before paying, then one create, reads, one download.
    assert run.heygen.calls[:2] == ["list", "create"] and run.heygen.calls[-1] == "download"
    assert run.heygen.calls.count("create") == 1 and run.heygen.calls.count("download") == 1
    assert len(run.heygen.videos) == 1
    output = run.project / "out" / "r01.mp4"
    assert output.read_bytes() == b"mp4 of https://files.test/vid1.mp4"
    record = run.records["r01"]
    assert (record.status, record.video_id) == ("downloaded", "vid1")
    assert record.checksum == hashlib.sha256(output.read_bytes()).hexdigest()
    # It waited for the render by sleeping (fake seconds), never asking sooner than poll_min.
    assert run.clock.now >= START + RENDER_SECONDS
    gaps = [later - earlier for earlier, later in itertools.pairwise(run.heygen.read_at)]
    assert gaps and min(gaps) >= Timing().poll_min


def test_a_lost_v3_reply_is_resent_under_the_same_idempotency_key_and_pays_once(tmp_path: Path) -> None:
    heygen = FakeHeyGen(FakeClock())
    heygen.script["create"] = ["lost"]   # HeyGen made the video; its reply never arrived
    run = build(tmp_path, heygen)

    assert run.outcome == Outcome(done=1)
    assert len(heygen.videos) == 1 and heygen.calls.count("create") == 2
    assert heygen.keys[0] == heygen.keys[1]
    assert any("reply lost" in note and "resending under the same Idempotency-Key" in note
               for note in run.events.notes)


def test_a_lost_legacy_reply_is_looked_up_after_the_grace_and_the_video_adopted(tmp_path: Path) -> None:
    heygen = FakeHeyGen(FakeClock())
    heygen.script["create"] = ["lost"]
    run = build(tmp_path, heygen, api="legacy")

    assert run.outcome == Outcome(done=1)
    assert len(heygen.videos) == 1 and heygen.calls.count("create") == 1   # never sent again
    assert "r01: found the lost submission: vid1; not paying again" in run.events.notes
    # Looked up only once the account's list had time to catch up (reconcile_grace).
    assert run.clock.sleeps[0] == pytest.approx(Timing().reconcile_grace, abs=1.0)


def test_a_429_puts_the_row_back_and_sends_it_after_retry_after(tmp_path: Path) -> None:
    heygen = FakeHeyGen(FakeClock())
    heygen.script["create"] = [RateLimitError("too many videos rendering", retry_after=7.0, status=429)]
    run = build(tmp_path, heygen)

    assert run.outcome == Outcome(done=1)
    assert heygen.calls.count("create") == 2 and len(heygen.videos) == 1
    assert heygen.created_at_clock == [START + 7.0]   # the second try, Retry-After later
    assert run.clock.sleeps[0] == 7.0
    assert "r01: rate limited; 1 in flight, resuming in 7 s" in run.events.notes


def test_a_429_narrows_the_window_to_what_renders_until_a_video_finishes(tmp_path: Path) -> None:
    heygen = FakeHeyGen(FakeClock())
    heygen.script["create"] = [None, None, RateLimitError("concurrency limit", retry_after=5.0, status=429)]
    run = build(tmp_path, heygen, 4, options=Options(jobs=3))

    assert run.outcome == Outcome(done=4)
    first, second, third, _ = heygen.created_at_clock
    assert first == second == START
    # Two were rendering when HeyGen refused a third: no third until one of them had finished.
    assert third >= START + RENDER_SECONDS
    assert "r03: rate limited; 2 in flight, resuming in 5 s" in run.events.notes


def test_a_render_past_the_render_timeout_is_left_unfinished_with_its_state_kept(tmp_path: Path) -> None:
    heygen = FakeHeyGen(FakeClock(), render_seconds=10 * 3600.0)
    run = build(tmp_path, heygen, options=Options(render_timeout=600.0))

    assert run.outcome == Outcome(unfinished=["r01"]) and run.outcome.exit_code == 3
    assert "r01: still rendering after 600 s (--render-timeout); left unfinished: a rerun resumes it" \
        in run.events.notes
    assert run.clock.now == pytest.approx(START + 600.0, abs=1.0)   # not a poll past the deadline
    assert run.records["r01"].status == "rendering" and run.records["r01"].video_id == "vid1"
    assert heygen.calls.count("download") == 0


def test_a_render_heygen_fails_is_recorded_failed_and_not_downloaded(tmp_path: Path) -> None:
    heygen = FakeHeyGen(FakeClock(), ends="failed")
    run = build(tmp_path, heygen)

    assert run.outcome == Outcome(failed=["r01"]) and run.outcome.exit_code == 1
    assert run.events.events == [("submitted", "r01"), ("failed", "r01")]
    record = run.records["r01"]
    assert record.status == "failed" and not record.error_permanent
    assert record.error == "HeyGen failed the render: 400140 avatar not allowed"
    assert heygen.calls.count("download") == 0


def test_fail_fast_sends_nothing_more_but_collects_what_is_rendering(tmp_path: Path) -> None:
    heygen = FakeHeyGen(FakeClock(), renders={"vid1": ("failed", 10.0)})   # fails while vid2 renders
    run = build(tmp_path, heygen, 5, options=Options(jobs=2, fail_fast=True))

    assert heygen.calls.count("create") == 2              # r03..r05 never sent
    assert run.outcome.failed == ["r01"] and run.outcome.done == 1 and run.outcome.exit_code == 1
    assert ("done", "r02") in run.events.events          # the one already rendering was collected
    assert sorted(run.records) == ["r01", "r02"]


def test_without_fail_fast_a_failure_does_not_stop_the_others(tmp_path: Path) -> None:
    heygen = FakeHeyGen(FakeClock(), ends="failed")
    run = build(tmp_path, heygen, 3, options=Options(jobs=2))

    assert heygen.calls.count("create") == 3 and sorted(run.outcome.failed) == ["r01", "r02", "r03"]


@pytest.mark.parametrize("jobs", [1, 3])
def test_never_more_videos_in_flight_than_jobs(tmp_path: Path, jobs: int) -> None:
    heygen = FakeHeyGen(FakeClock())
    run = build(tmp_path, heygen, 8, options=Options(jobs=jobs))

    assert run.outcome == Outcome(done=8)
    assert heygen.most_in_flight == jobs   # reached, never passed
    assert len(heygen.videos) == 8 and heygen.calls.count("create") == 8


def test_transient_read_failures_are_retried_then_stop_the_build_past_their_limit(tmp_path: Path) -> None:
    heygen = FakeHeyGen(FakeClock())
    heygen.script["read"] = [TransportError("connection reset")] * (Retry.TRANSIENT.limit + 1)
    run = build(tmp_path, heygen)

    assert run.outcome.stopped is not None and "r01" in run.outcome.stopped
    assert "connection reset" in run.outcome.stopped
    assert run.outcome.unfinished == ["r01"] and run.outcome.exit_code == 3
    retries = [note for note in run.events.notes if note.startswith("r01: poll failed")]
    assert len(retries) == Retry.TRANSIENT.limit
    assert run.records["r01"].video_id == "vid1"   # state kept: the next build polls it


def test_a_few_read_failures_only_delay_the_row(tmp_path: Path) -> None:
    heygen = FakeHeyGen(FakeClock())
    heygen.script["read"] = [TransportError("connection reset")] * 3
    run = build(tmp_path, heygen)

    assert run.outcome == Outcome(done=1)


def test_expired_urls_are_refreshed_a_few_times_then_the_build_stops(tmp_path: Path) -> None:
    heygen = FakeHeyGen(FakeClock())
    # Each refresh's poll answers, which resets the transient count but not the URL refreshes.
    heygen.script["download"] = [NotFoundError("expired", status=404)] * (Retry.URL_REFRESH.limit + 1)
    run = build(tmp_path, heygen)

    assert run.outcome.stopped == "r01: the video's URL keeps expiring before it can be downloaded"
    assert heygen.calls.count("download") == Retry.URL_REFRESH.limit + 1
    assert len(heygen.videos) == 1


def test_an_expired_url_is_fetched_again_from_a_fresh_one(tmp_path: Path) -> None:
    heygen = FakeHeyGen(FakeClock())
    heygen.script["download"] = [NotFoundError("expired", status=404)]
    run = build(tmp_path, heygen)

    assert run.outcome == Outcome(done=1) and heygen.calls.count("download") == 2


def test_retry_kinds_are_counted_apart_and_forgotten_with_the_job() -> None:
    retries = Retries()
    assert [retries.add("h1", Retry.TRANSIENT) for _ in range(3)] == [1, 2, 3]
    assert retries.add("h1", Retry.URL_REFRESH) == 1 and retries.add("h2", Retry.TRANSIENT) == 1

    retries.reset("h1", Retry.TRANSIENT)
    assert retries.count("h1", Retry.TRANSIENT) == 0 and retries.count("h1", Retry.URL_REFRESH) == 1
    retries.forget("h1")
    assert retries.count("h1", Retry.URL_REFRESH) == 0 and retries.count("h2", Retry.TRANSIENT) == 1


def test_every_kind_of_retry_has_a_limit() -> None:
    assert all(kind.limit > 0 for kind in Retry)


# -- the window on its own ----------------------------------------------------------------------------

def steps(tmp_path: Path, count: int) -> list[Step]:
    project = tmp_path / "campaign"
    project.mkdir()
    (project / "vidbuild.yaml").write_text(PROJECT, encoding="utf-8")
    lines = [f"r{n:02d},Name{n}" for n in range(1, count + 1)]
    (project / "rows.csv").write_text("\n".join(["id,name", *lines]) + "\n", encoding="utf-8")
    state = DiskState(project / ".vidbuild", "fake")
    try:
        return list(plan_steps(expand_project(load_project(project), project / ".vidbuild"), state, project))
    finally:
        state.close()


def test_the_window_takes_rows_while_it_has_room_and_rows_another_process_sends_do_not_count(
        tmp_path: Path) -> None:
    clock = FakeClock()
    window = Window(2, clock)
    window.open(steps(tmp_path, 4))

    taken = []   # room is checked before each row is taken, once the caller held the last one
    for step in window.take():
        window.hold(step)
        window.schedule(10.0, "watch" if not taken else "poll", step)
        taken.append(step.key)
    assert taken == ["r01", "r02", "r03"]   # r01 is watched (another process sends it): not counted
    assert not window.has_room() and window.busy


def test_a_rate_limit_narrows_the_window_and_finished_renders_widen_it_back(tmp_path: Path) -> None:
    clock = FakeClock()
    window = Window(3, clock)
    for content_hash in ("a", "b", "c"):
        window.take_slot(content_hash)
    window.rate_limited("c", 5.0)
    assert window.size == 2

    window.render_finished("a")   # before Retry-After has passed: no wider yet
    assert window.size == 2
    clock.sleep(5.0)
    window.render_finished("b")
    assert window.size == 3
    window.render_finished("b")
    assert window.size == 3       # never past the limit


def test_the_window_says_when_to_wake_and_that_nothing_will_once_submits_stop(tmp_path: Path) -> None:
    clock = FakeClock()
    window = Window(2, clock)
    window.open(())
    assert list(window.take()) == []   # the stream is empty: no row left to take
    first, second = steps(tmp_path, 2)
    window.hold(first)
    window.queue(first)
    window.hold(second)
    window.schedule(30.0, "poll", second)
    assert (window.wake_at() or 0.0) <= START   # a queued row may be sent now

    assert window.next_to_submit() is first
    window.queue_first(first)
    assert window.stop_sending() == [first] and window.next_to_submit() is None
    assert window.wake_at() == START + 30.0   # only the poll is left
    assert window.pop_due() is None
    clock.sleep(30.0)
    assert window.pop_due() == ("poll", second) and window.wake_at() is None
    assert window.outcome() == Outcome()   # nothing held any more: nothing unfinished
