"""The run stage's reads (run/poll.py) and account lookups (run/recover.py) on the in-process emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vidbuild.emulator import Emulator, EmulatorConfig
from vidbuild.errors import RouteGoneError
from vidbuild.heygen.client import HeyGenClient
from vidbuild.run.poll import ROUTES_GONE, UNKNOWN, Reader
from vidbuild.run.recover import AccountSearch, Wanted
from vidbuild.spec.hashing import marked_title
from vidbuild.state.disk import DiskState

HASH = "ab" * 32
TITLE = marked_title("Hi", HASH)
BODY = {"video_inputs": [{"character": {"type": "avatar", "avatar_id": "Daisy-inskirt-20220818"},
                          "voice": {"type": "text", "voice_id": "2d5b0e6cf36f460aa7fc47e3eee4ba54",
                                    "input_text": "Hello there"}}],
        "dimension": {"width": 1280, "height": 720}, "title": TITLE,
        "callback_id": HASH}


@pytest.fixture
def state(tmp_path: Path) -> Iterator[DiskState]:
    store = DiskState(tmp_path / "state", "emulator")
    yield store
    store.close()


def emulated(tmp_path: Path, legacy: str) -> tuple[Emulator, HeyGenClient]:
    emulator = Emulator(EmulatorConfig(speed=0.0, legacy=legacy, state_dir=tmp_path / "videos"))
    return emulator, HeyGenClient("http://emulator.test", "key", transport=emulator.transport(),
                                  sleep=lambda seconds: None)


def legacy_reads(emulator: Emulator) -> list[str]:
    return [r.path for r in emulator.requests() if r.path.startswith("/v1/")]


def test_a_retired_legacy_read_is_remembered_and_not_asked_first_again(tmp_path: Path,
                                                                       state: DiskState) -> None:
    emulator, client = emulated(tmp_path, "gone")
    with client:
        video_id = client.submit("video", BODY)   # the one legacy route HeyGen keeps

        detail = Reader(client, state).detail(video_id, "legacy")

        assert detail.status == "completed" and detail.video_url
        assert legacy_reads(emulator) == ["/v1/video_status.get", "/v1/video.list"]   # the probe
        assert state.get_meta(ROUTES_GONE) == ["legacy"]
        asked = len(emulator.requests())

        again = Reader(client, state)   # the next build
        assert again.detail(video_id, "legacy").video_url
        assert again.statuses({video_id: "legacy", "other": "v3"})[video_id].status == "completed"
        assert [r.path for r in emulator.requests()[asked:]] == [
            f"/v3/videos/{video_id}", "/v3/videos/statuses"]


def test_a_video_no_generation_knows_is_unknown_never_failed(tmp_path: Path, state: DiskState) -> None:
    emulator, client = emulated(tmp_path, "served")
    with client:
        one = Reader(client, state).statuses({"nope": "v3"})
        asked = len(emulator.requests())
        several = Reader(client, state).statuses({"nope": "v3", "nix": "legacy"})

    assert one["nope"].status == several["nope"].status == several["nix"].status == UNKNOWN
    # Each 404 is checked against its generation's list: the routes answer, only the video is unknown.
    assert [r.path for r in emulator.requests()][:asked] == ["/v3/videos/nope", "/v3/videos",
                                                             "/v1/video_status.get", "/v1/video.list"]
    assert [r.path for r in emulator.requests()][asked:asked + 2] == ["/v3/videos/statuses",
                                                                      "/v1/video_status.get"]


def test_with_both_generations_reads_gone_a_read_raises_route_gone(tmp_path: Path, state: DiskState) -> None:
    _, client = emulated(tmp_path, "gone")
    state.set_meta(ROUTES_GONE, ["v3"])   # as if v3 had answered 404 for its routes
    with client, pytest.raises(RouteGoneError):
        Reader(client, state).statuses({"some-video": "legacy", "other": "v3"})


def test_the_marker_finds_a_body_in_one_request_and_skips_known_videos(tmp_path: Path,
                                                                      state: DiskState) -> None:
    emulator, client = emulated(tmp_path, "gone")
    with client:
        earlier = client.submit("video", BODY)
        later = client.submit("video", BODY)
        search = AccountSearch(Reader(client, state))
        asked = len(emulator.requests())

        newest = search.find(Wanted(HASH, "video", TITLE))
        older = search.find(Wanted(HASH, "video", TITLE, exclude=frozenset({later})))
        none = search.find(Wanted(HASH, "video", TITLE, exclude=frozenset({earlier, later})))

    assert (newest.outcome, newest.video_id) == ("found", later)
    assert (older.outcome, older.video_id) == ("found", earlier)
    assert none.outcome == "absent"
    assert [r.path for r in emulator.requests()[asked:]] == ["/v3/videos"] * 3
