"""The emulator's faults for the edges: a render that never completes, and a video list that lags."""

from __future__ import annotations

from typing import Any

import httpx

from vidbuild.emulator import Emulator, EmulatorConfig
from vidbuild.heygen import routes

KEY = {"X-Api-Key": "test-key"}


def body(callback_id: str) -> dict[str, Any]:
    return {"video_inputs": [{"character": {"type": "avatar", "avatar_id": "Daisy-inskirt-20220818"},
                              "voice": {"type": "silence", "duration": 1.0}}],
            "dimension": {"width": 1280, "height": 720}, "title": "T", "callback_id": callback_id}


def client_for(emulator: Emulator) -> httpx.Client:
    return httpx.Client(transport=emulator.transport(), base_url="http://emulator.test", headers=KEY)


def test_a_stalled_render_reports_processing_until_the_fault_is_lifted(tmp_path: Any) -> None:
    now = [1_000_000.0]
    stalled = EmulatorConfig(speed=1.0, faults={"render_stall": 1.0}, state_dir=tmp_path)
    with Emulator(stalled, clock=lambda: now[0]) as emulator, client_for(emulator) as client:
        video_id = client.post(routes.SUBMIT_ROUTES["video"], json=body("a")).json()["data"]["video_id"]
        now[0] += 10_000.0
        status = client.get(routes.STATUS_ROUTE, params={"video_id": video_id}).json()["data"]
        listed = client.get(routes.LIST_ROUTE).json()["data"]["videos"]
        assert (status["status"], status["video_url"]) == ("processing", None)
        assert [v["status"] for v in listed] == ["processing"]
    with Emulator(EmulatorConfig(speed=1.0, state_dir=tmp_path), clock=lambda: now[0]) as emulator, \
            client_for(emulator) as client:
        status = client.get(routes.STATUS_ROUTE, params={"video_id": video_id}).json()["data"]
        assert status["status"] == "completed"
        assert client.get(status["video_url"]).status_code == 200


def test_render_stall_picks_bodies_by_content_and_seed() -> None:
    config = EmulatorConfig(speed=0.0, faults={"render_stall": 0.5}, seed=1)
    with Emulator(config) as emulator, client_for(emulator) as client:
        for n in range(40):
            client.post(routes.SUBMIT_ROUTES["video"], json=body(f"job-{n}"))
            client.post(routes.SUBMIT_ROUTES["video"], json=body(f"job-{n}"))   # the same body again
        statuses: dict[str, set[str]] = {}
        for video in emulator.videos():
            reply = client.get(routes.STATUS_ROUTE, params={"video_id": video.video_id}).json()["data"]
            statuses.setdefault(video.callback_id or "", set()).add(reply["status"])
    assert all(len(seen) == 1 for seen in statuses.values())   # twins stall together
    stalled = sum(1 for seen in statuses.values() if seen == {"processing"})
    assert 5 < stalled < 35


def test_a_lagging_list_leaves_out_young_videos() -> None:
    now = [1_000_000.0]
    with Emulator(EmulatorConfig(speed=0.0, list_lag=30.0), clock=lambda: now[0]) as emulator, \
            client_for(emulator) as client:
        client.post(routes.SUBMIT_ROUTES["video"], json=body("old"))
        now[0] += 20.0
        client.post(routes.SUBMIT_ROUTES["video"], json=body("young"))
        now[0] += 15.0

        def listed() -> int:
            return len(client.get(routes.LIST_ROUTE).json()["data"]["videos"])

        assert listed() == 1
        now[0] += 20.0
        assert listed() == 2
