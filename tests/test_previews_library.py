"""Previews encoded and muxed by libraries alone (x264 and FFmpeg through PyAV): what a kept
picture reused in another preview must still satisfy, checked with FFmpeg's own bitstream
tracer (the ``trace_headers`` filter), and how much is encoded again.

Plans are made from request bodies directly: an emulator would start rendering them on its
workers as the videos are created, and keep pictures the tests want made under their eyes.
"""

from __future__ import annotations

import collections
import io
import json
import threading

import av
import av.logging
import pytest
from test_previews import NAVY, SUN, assert_colour, corners, legacy_body, probe, scene

from vidbuild.emulator import preview_render, render
from vidbuild.emulator.preview_plan import PreviewPlan, plan_preview
from vidbuild.emulator.store import Video


def traced(data: bytes) -> list[list[str]]:
    """The MP4's H.264 syntax as FFmpeg's ``trace_headers`` filter logs it: a list of lines
    for the stream description (``avcC``), then one per packet."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        av.logging.set_level(av.logging.DEBUG)
        try:
            with av.logging.Capture() as logs:
                tracer = av.BitStreamFilterContext("trace_headers", stream)
                for packet in container.demux(stream):
                    if packet.size:
                        tracer.filter(packet)
        finally:
            av.logging.set_level(None)
    sections: list[list[str]] = []
    for _, name, message in logs:
        if name != "trace_headers":
            continue
        if message.startswith(("Extradata", "Packet:")):
            sections.append([])
        elif sections:
            sections[-1].append(" ".join(message.split()))
    return sections


def field(lines: list[str], name: str) -> list[int]:
    """The values of syntax element ``name`` in traced lines ("bit name bits = value")."""
    return [int(line.rsplit("= ", 1)[1]) for line in lines if line.split(" ")[1:2] == [name]]


def parameter_sets(lines: list[str]) -> list[str]:
    """The traced lines of the sequence and picture parameter sets, without bit positions."""
    kept, inside = [], False
    for line in lines:
        if line in ("Sequence Parameter Set", "Picture Parameter Set"):
            inside = True
        elif line.startswith(("Slice Header", "nal_unit_type")) or "Slice" in line.split(" ")[0]:
            inside = False
        if inside:
            kept.append(line.split(" ", 1)[-1])
    return kept


@pytest.fixture(autouse=True)
def nothing_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """No pictures kept from earlier tests (nor from the workers of an emulator)."""
    monkeypatch.setattr(preview_render, "_PICTURES", collections.OrderedDict())


def plan_of(body: dict[str, object]) -> tuple[PreviewPlan, float]:
    """The preview plan of a video of ``body``, stored by no emulator (no worker renders it)."""
    seconds = round(render.video_seconds("video", body), 3)
    video = Video("v", "video", None, None, True, 0.0, 0.0, seconds, None, "", json.dumps(body))
    return plan_preview(video), seconds


def on_new_thread(work: object) -> None:
    """Run ``work`` on a thread of its own: fresh encoders, which number pictures from the start."""
    assert callable(work)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:   # reraised below, on the test's thread
            failures.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if failures:
        raise failures[0]


def test_consecutive_pictures_kept_from_different_encoders_are_numbered_apart() -> None:
    # H.264 7.4.3: consecutive IDR pictures differ in idr_pic_id. x264 alternates it per
    # encoder, so two scenes' pictures first encoded on two fresh threads get the same number.
    plan, _ = plan_of(legacy_body(scene("Hi Ana, welcome."), scene("Your plan.", "#F4D35E"),
                                       scene("Bye, Ana.")))
    artist = preview_render._Artist(plan)
    numbers: list[int] = []
    for card in range(2):
        cue = artist.caption_cues(card)[0]
        on_new_thread(lambda card=card, cue=cue: numbers.append(artist.picture(card, cue, 1).idr_pic_id))
    assert numbers == [1, 1]
    sections = traced(preview_render.render_mp4(plan))
    ids = [field(section, "idr_pic_id") for section in sections[1:]]
    assert len(ids) == 3 and all(len(one) == 1 for one in ids), ids
    assert ids[0] != ids[1] and ids[1] != ids[2], ids


def test_every_picture_carries_the_parameter_sets_of_the_stream_description() -> None:
    plan, _ = plan_of(legacy_body(scene("Hi Ana, welcome to Acme! " * 6),
                                       scene("Bye, Ana.", "#F4D35E")))
    on_new_thread(lambda: preview_render.render_mp4(plan))   # its pictures kept from another thread
    sections = traced(preview_render.render_mp4(plan))
    described = parameter_sets(sections[0])
    assert described and field(sections[0], "profile_idc") == [66]   # baseline
    assert len(sections) > 3
    for section in sections[1:]:
        assert parameter_sets(section) == described
        assert field(section, "first_mb_in_slice") == [0]   # one slice, the whole picture


def test_a_kept_picture_is_not_encoded_again(monkeypatch: pytest.MonkeyPatch) -> None:
    encoded: list[int] = []
    real = preview_render.encode
    monkeypatch.setattr(preview_render, "encode",
                        lambda planes, number: encoded.append(number) or real(planes, number))
    shared = scene("Thanks for joining us. See you soon!", "#F4D35E")
    first, _ = plan_of(legacy_body(scene("Hi Ana, welcome."), shared))
    preview_render.render_mp4(first)
    assert 2 <= len(encoded) <= 3   # a picture each, one maybe twice to number it
    encoded.clear()
    preview_render.render_mp4(first)
    assert encoded == []
    # Another row: only its first scene's picture is new.
    second, duration = plan_of(legacy_body(scene("Hi Ben, welcome."), shared))
    data = preview_render.render_mp4(second)
    assert len(encoded) in (1, 2)
    result = probe(data)
    assert result.seconds == pytest.approx(duration, abs=0.001)
    assert_colour(result.frames[0][1], corners(result.frames[0][1])[0], NAVY)
    assert_colour(result.frames[-1][1], corners(result.frames[-1][1])[0], SUN)


def test_the_kept_pictures_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preview_render, "KEPT_PICTURES", 4)
    for name in ("Ana", "Ben", "Cy", "Dee"):
        plan, _ = plan_of(legacy_body(scene(f"Hi {name}."), scene(f"Bye {name}.", "#F4D35E")))
        preview_render.render_mp4(plan)
    assert len(preview_render._PICTURES) <= 4
