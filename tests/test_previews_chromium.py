"""A preview as Chromium plays it (Debian's chromium, through browser.py): each scene's
background where it should be, inside a picture held for seconds too, and the full length."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from browser import launched
from test_previews import NAVY, SUN, Rig, legacy_body, scene, start_rig

from vidbuild.emulator import render

PAGE = """<!doctype html><meta charset="utf-8"><video muted preload="auto"></video><canvas></canvas>"""
# Loads the MP4 from a blob (a file:// video would taint the canvas), then seeks to each time,
# waits for the frame to be presented, draws it on a canvas and reads the pixel one in from the corner.
PIXELS = """async ([data, times]) => {
  const video = document.querySelector('video'), canvas = document.querySelector('canvas');
  const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
  video.src = URL.createObjectURL(new Blob([bytes], {type: 'video/mp4'}));
  await new Promise(done => video.addEventListener('loadeddata', done, {once: true}));
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const draw = canvas.getContext('2d', {willReadFrequently: true}), seen = [];
  for (const time of times) {
    const seeked = new Promise(done => video.addEventListener('seeked', done, {once: true}));
    video.currentTime = time;
    await seeked;
    // 'seeked' can come before the new frame is composited (seen once in CI: the last scene's
    // frame read as the one before): wait for it to be presented, or 1 s at most.
    await new Promise(done => {
      if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(() => done());
      setTimeout(done, 1000);
    });
    draw.drawImage(video, 0, 0);
    seen.push(Array.from(draw.getImageData(1, 1, 1, 1).data.slice(0, 3)));
  }
  return {duration: video.duration, width: video.videoWidth, height: video.videoHeight, seen,
          error: video.error && video.error.code};
}"""


@pytest.fixture
def rig() -> Iterator[Rig]:
    yield from start_rig()


def test_chromium_plays_and_seeks_each_scene_of_a_preview(rig: Rig) -> None:
    long = " ".join(f"word{n}" for n in range(12))   # one caption, one picture held ~5 s
    first, second = scene(long), scene("See you soon, Ana.", "#F4D35E")
    body = legacy_body(first, second)
    made = rig.legacy(body)
    data = base64.b64encode(rig.download(made.video_url)).decode()
    split = render.scene_seconds(first["voice"]) * made.duration / render.video_seconds("video", body)
    times = [0.1, split * 0.6, split * 0.95, (split + made.duration) / 2, made.duration - 0.05]
    with launched() as context:
        page = context.new_page()
        page.set_content(PAGE)
        result = page.evaluate(PIXELS, [data, times])
    assert result["error"] is None
    assert (result["width"], result["height"]) == (1280, 720)
    assert result["duration"] == pytest.approx(made.duration, abs=0.002)
    for pixel, expected in zip(result["seen"], [NAVY, NAVY, NAVY, SUN, SUN], strict=True):
        assert max(abs(a - b) for a, b in zip(pixel, expected, strict=True)) <= 8, result["seen"]
