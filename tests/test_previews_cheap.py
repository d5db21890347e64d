"""Cheap previews: still pictures encoded once and kept, each held as long as its caption is
up, shared and drawn on workers, with a failure falling back to the shipped clip.

Over a real loopback socket (the rig of test_previews.py); every MP4 is decoded back with PyAV.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from test_previews import NAVY, Rig, assert_colour, corners, legacy_body, probe, scene, start_rig

from vidbuild.emulator import media, preview_render
from vidbuild.emulator.preview_plan import plan_preview
from vidbuild.emulator.store import Video, VideoStore


@pytest.fixture
def rig() -> Iterator[Rig]:
    yield from start_rig()


def count_renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = preview_render.render_mp4
    monkeypatch.setattr(preview_render, "render_mp4", lambda plan: calls.append("mp4") or real(plan))
    return calls


def stored(rig: Rig, video_id: str) -> Video:
    return next(video for video in rig.emulator.videos() if video.video_id == video_id)


def test_identical_requests_share_a_preview_yet_each_download_has_the_same_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_renders(monkeypatch)
    body = legacy_body(scene("Hi Ana, welcome to Acme!"), scene("Bye, Ana.", "#F4D35E"))
    for rig in start_rig(state_dir=tmp_path / "emulator"):
        made = [rig.legacy(body) for _ in range(3)]
        takes = [[rig.download(one.video_url) for _ in range(2)] for one in made]
    assert calls == ["mp4"]
    for first, second in takes:
        assert first == second
    assert len({take[0] for take in takes}) == 3   # each stamped with its own video id
    store = VideoStore(tmp_path / "emulator")
    try:
        kept = {store.preview(one.video_id, "mp4") for one in made}
    finally:
        store.close()
    assert len(kept) == 1 and None not in kept


def test_a_render_failure_in_a_worker_falls_back_to_the_clip_and_is_logged(
        rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []

    def broken(plan: object) -> bytes:
        calls.append(threading.current_thread().name)
        raise RuntimeError("encoder exploded")

    monkeypatch.setattr(preview_render, "render_mp4", broken)
    made = rig.legacy(legacy_body(scene("Hi Ana, welcome to Acme!")))
    with caplog.at_level(logging.WARNING, logger="vidbuild.emulator"):
        takes = [rig.download(made.video_url) for _ in range(2)]
    assert takes[0] == takes[1] == media.stamped(made.video_id, "mp4")
    assert len(calls) == 1 and calls[0].startswith("vidbuild-preview")   # drawn on a worker, once
    (record,) = [r for r in caplog.records if r.name == "vidbuild.emulator"]
    assert record.getMessage() == (
        f"emulator: could not make the preview {made.video_id}.mp4 (RuntimeError: encoder "
        "exploded); serving the shipped file instead")
    # The thumbnail is still a preview: only the file that failed fell back.
    assert rig.download(made.thumbnail_url) != media.stamped(made.video_id, "jpg")


def test_a_caption_held_long_is_one_keyframe_lasting_as_long_as_it_is_up(rig: Rig) -> None:
    words = " ".join(f"word{n}" for n in range(12))   # one caption, ~5 s
    made = rig.legacy(legacy_body(scene(words)))
    data = rig.download(made.video_url)
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        packets = [packet for packet in container.demux(stream) if packet.size]
        assert len(packets) == 1 and packets[0].is_keyframe
        assert packets[0].duration is not None and packets[0].time_base is not None
        assert packets[0].duration * packets[0].time_base == pytest.approx(made.duration, abs=0.001)
    result = probe(data)
    assert result.seconds == pytest.approx(made.duration, abs=0.001)
    for point in corners(result.frames[-1][1]):
        assert_colour(result.frames[-1][1], point, NAVY)


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (642, 362), (720, 1280)])
def test_frames_not_in_whole_macroblocks_are_cropped_to_the_requested_size(
        rig: Rig, width: int, height: int) -> None:
    made = rig.legacy(legacy_body(scene("Hi Ana, welcome to Acme! " * 4),
                                  scene("Bye, Ana.", "#F4D35E"), width=width, height=height))
    result = probe(rig.download(made.video_url))
    assert (result.width, result.height) == (width, height)
    for _, image in result.frames:
        assert image.size == (width, height)
        assert max(image.convert("L").crop((0, height * 4 // 5, width, height)).getextrema()) > 230


def test_a_plan_encodes_to_the_same_bytes_on_any_thread_while_its_pictures_are_kept(
        rig: Rig) -> None:
    first = stored(rig, rig.legacy(legacy_body(scene("Hi Ana."), scene("Bye.", "#F4D35E"))).video_id)
    other = stored(rig, rig.legacy(legacy_body(scene("Something else entirely, Ben."))).video_id)
    alone = preview_render.render_mp4(plan_preview(first))
    preview_render.render_mp4(plan_preview(other))
    results: list[bytes] = []
    worker = threading.Thread(target=lambda: results.append(
        preview_render.render_mp4(plan_preview(first))))
    worker.start()
    worker.join()
    assert results == [alone] == [preview_render.render_mp4(plan_preview(first))]
    assert json.loads(first.body)["dimension"] == {"width": 1280, "height": 720}


def test_the_mp4_is_made_on_a_worker_when_the_video_is_created_before_any_download(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_renders(monkeypatch)
    for rig in start_rig(state_dir=tmp_path / "emulator"):
        made = rig.v3({"type": "avatar", "avatar_id": "Daisy-inskirt-20220818", "script": "Hi Ana!",
                       "voice_id": "2d5b0e6cf36f460aa7fc47e3eee4ba54", "resolution": "720p"})
        store = VideoStore(tmp_path / "emulator")
        try:
            for _ in range(600):   # the worker keeps it in the store; no request asked for it
                if store.preview(made.video_id, "mp4") is not None:
                    break
                threading.Event().wait(0.05)
            kept = store.preview(made.video_id, "mp4")
            assert kept is not None and store.preview(made.video_id, "jpg") is None
        finally:
            store.close()
        assert rig.download(made.video_url) == media.stamped(made.video_id, "mp4", kept)
    assert calls == ["mp4"]
