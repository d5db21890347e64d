"""Nothing waits forever: per-request timeouts in the client, the engine's render deadline (fake clock)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from buildkit import rows, write_project

from vidbuild import errors
from vidbuild.emulator import Emulator, EmulatorConfig
from vidbuild.heygen.backend import Backend, Timing
from vidbuild.heygen.client import HeyGenClient
from vidbuild.heygen.client._http import FILE_TIMEOUT, READ_TIMEOUT, SUBMIT_TIMEOUT
from vidbuild.pipeline import compile, open_state
from vidbuild.planner.decide import plan_steps
from vidbuild.report.progress import PlainReporter
from vidbuild.run.engine import Engine, Options

BASE = "https://api.heygen.test"


def recording_client(seen: list[tuple[str, dict[str, Any]]], reply: httpx.Response | Exception,
                     **options: Any) -> HeyGenClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.extensions["timeout"]))
        if isinstance(reply, Exception):
            raise reply
        return reply

    return HeyGenClient(BASE, "key", transport=httpx.MockTransport(handler), sleep=lambda s: None, **options)


def test_each_kind_of_request_has_its_own_timeout() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    reply = httpx.Response(200, json={"data": {"video_id": "v1", "id": "v1", "status": "processing",
                                               "videos": []}})
    with recording_client(seen, reply) as client:
        client.submit("video", {"video_inputs": []})
        client.status("v1")

    assert seen[0] == ("/v2/video/generate", SUBMIT_TIMEOUT.as_dict())
    assert seen[1] == ("/v1/video_status.get", READ_TIMEOUT.as_dict())
    assert SUBMIT_TIMEOUT.read is not None and SUBMIT_TIMEOUT.read > 31.0   # HeyGen's create p99
    assert READ_TIMEOUT.read is not None and READ_TIMEOUT.read < SUBMIT_TIMEOUT.read
    assert FILE_TIMEOUT.read is not None


def test_a_file_download_uses_the_file_timeout(tmp_path: Path) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    with recording_client(seen, httpx.Response(200, content=b"mp4")) as client:
        client.download("https://files.test/v1.mp4", tmp_path / "v1.mp4")

    assert seen == [("/v1.mp4", FILE_TIMEOUT.as_dict())]


def test_one_timeout_given_applies_to_every_request() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    reply = httpx.Response(200, json={"data": {"video_id": "v1"}})
    with recording_client(seen, reply, timeout=0.5) as client:
        client.submit("video", {"video_inputs": []})

    assert seen == [("/v2/video/generate", httpx.Timeout(0.5).as_dict())]


def test_a_read_that_times_out_is_not_retried_by_the_client() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    with recording_client(seen, httpx.ReadTimeout("slow")) as client, \
            pytest.raises(errors.TransportError) as caught:
        client.status("v1")

    assert type(caught.value) is errors.TransportError
    assert len(seen) == 1


# -- the render deadline, on a fake clock -------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def stalled_backend() -> Iterator[tuple[Backend, Emulator]]:
    emulator = Emulator(EmulatorConfig(speed=0.0, faults={"render_stall": 1.0}))
    client = HeyGenClient("http://emulator.test", "key", transport=emulator.transport())
    yield Backend(client, "http://emulator.test", emulated=False, timing=Timing()), emulator
    client.close()
    emulator.close()


def test_a_stalled_render_is_given_up_at_its_deadline_and_the_rows_behind_go_on(
        tmp_path: Path, stalled_backend: tuple[Backend, Emulator]) -> None:
    backend, emulator = stalled_backend
    project = write_project(tmp_path / "campaign", rows(3))
    state = open_state(project)
    clock = FakeClock()
    err = io.StringIO()
    try:
        engine = Engine(backend, state, PlainReporter(err), project,
                        Options(jobs=1, render_timeout=600.0), clock=clock, sleep=clock.sleep)
        outcome = engine.run(plan_steps(compile(project), state, project))
    finally:
        state.close()

    assert outcome.unfinished == ["r01", "r02", "r03"] and outcome.exit_code == 3
    assert len(emulator.videos()) == 3            # each row was submitted in turn, once
    assert err.getvalue().count("still rendering after 600 s (--render-timeout)") == 3
    # Each row waited exactly its deadline: no poll went past it, and nothing waited longer.
    assert clock.now == pytest.approx(1000.0 + 3 * 600.0, abs=1.0)


def test_a_claim_another_live_build_never_finishes_is_waited_for_until_the_deadline(
        tmp_path: Path, stalled_backend: tuple[Backend, Emulator]) -> None:
    # Another process claimed r01 and hangs (say it was stopped): its claim must not hold this build.
    from vidbuild.state.disk import DiskState

    backend, emulator = stalled_backend
    project = write_project(tmp_path / "campaign", rows(1))
    state = open_state(project)
    job = compile(project)[0]
    other = DiskState(project / ".vidbuild", state.namespace)
    clock = FakeClock()
    err = io.StringIO()
    try:
        assert other.claim(job.hash, job.key, job.kind, title=None, output=job.output)[0] == "claimed"
        engine = Engine(backend, state, PlainReporter(err), project,
                        Options(render_timeout=120.0), clock=clock, sleep=clock.sleep)
        outcome = engine.run(plan_steps(compile(project), state, project))
    finally:
        other.close()
        state.close()

    assert outcome.unfinished == ["r01"] and outcome.exit_code == 3
    assert "r01: still being submitted by another vidbuild process after 120 s" in err.getvalue()
    assert emulator.videos() == []
    assert clock.now <= 1000.0 + 120.0 + Timing().poll_min + 1e-6


class ScriptedSubmits(httpx.BaseTransport):
    """The emulator's transport, except that the first submissions get the scripted fates."""

    def __init__(self, emulator: Emulator, fates: list[str]) -> None:
        self.inner = emulator.transport()
        self.fates = fates

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and self.fates:
            fate = self.fates.pop(0)
            if fate == "lost":   # the connection drops before the server saw it: nothing created
                raise httpx.RemoteProtocolError("Server disconnected", request=request)
            return httpx.Response(429, json={"error": {"code": "rate_limit_exceeded", "message": "busy"}},
                                  headers={"Retry-After": "1"}, request=request)
        return self.inner.handle_request(request)


@pytest.mark.parametrize(("api", "then"), [
    ("legacy", "the lost submission never reached HeyGen; sending it now"),
    ("auto", "resending under the same Idempotency-Key")])   # v3: the key settles it
def test_a_resend_after_a_lost_reply_that_is_rate_limited_is_looked_up_again(tmp_path: Path, api: str,
                                                                            then: str) -> None:
    emulator = Emulator(EmulatorConfig(speed=0.0))
    transport = ScriptedSubmits(emulator, ["lost"] + ["busy"] * 5)
    client = HeyGenClient("http://emulator.test", "key", transport=transport, sleep=lambda s: None)
    backend = Backend(client, "http://emulator.test", emulated=False, timing=Timing())
    project = write_project(tmp_path / "campaign", rows(1))
    state = open_state(project)
    clock = FakeClock()
    err = io.StringIO()
    try:
        engine = Engine(backend, state, PlainReporter(err), project, Options(),
                        clock=clock, sleep=clock.sleep)
        outcome = engine.run(plan_steps(compile(project, api=api), state, project))
        videos = emulator.videos()
    finally:
        state.close()
        client.close()
        emulator.close()

    assert outcome.exit_code == 0, err.getvalue()
    assert outcome.done == 1 and len(videos) == 1
    assert then in err.getvalue()
