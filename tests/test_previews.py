"""The emulator's previews: MP4s of the requested size and estimated length showing each scene, over loopback.

Each preview is probed with PyAV (the ``preview`` extra, installed with ``test``): its frame size
against the body's ``dimension`` (legacy) or ``resolution`` + ``aspect_ratio`` (v3), its length
against the emulator's estimate of the script's duration, and its pixels against each scene's
background. Downloads go over a real socket; a fake clock finishes the renders at once.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from PIL import Image

from vidbuild.emulator import Emulator, EmulatorConfig, media, preview_render, render, serve, v3
from vidbuild.emulator.store import VideoStore
from vidbuild.errors import SettingError
from vidbuild.heygen.client._media import jpeg_problem, mp4_problem

KEY = "preview-test-key"
START = 1_800_000_000.0
DAISY, MARK = "Daisy-inskirt-20220818", "Mark-costume-1234"
RACHEL, PAUL = "2d5b0e6cf36f460aa7fc47e3eee4ba54", "1bd001e7e50f421d891986aad5158bc8"
NAVY, SUN = (11, 31, 58), (244, 211, 94)
# H.264 at the encoder's quantiser, converted back to RGB, keeps flat colours within this.
COLOUR_TOLERANCE = 8
ROOT = Path(__file__).resolve().parent.parent


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@dataclass
class Made:
    """A finished video as the status route shows it."""

    video_id: str
    video_url: str
    thumbnail_url: str
    duration: float


class Rig:
    """An emulator behind a loopback socket with a fake clock, and a client carrying the key."""

    def __init__(self, client: httpx.Client, clock: Clock, emulator: Emulator) -> None:
        self.client, self.clock, self.emulator = client, clock, emulator

    def legacy(self, body: dict[str, Any]) -> Made:
        reply = self.client.post("/v2/video/generate", json=body)
        assert reply.status_code == 200, reply.text
        video_id = reply.json()["data"]["video_id"]
        self.clock.now += 3600
        data = self.client.get("/v1/video_status.get", params={"video_id": video_id}).json()["data"]
        assert data["status"] == "completed"
        return Made(video_id, data["video_url"], data["thumbnail_url"], data["duration"])

    def v3(self, body: dict[str, Any], route: str = "/v3/videos") -> Made:
        reply = self.client.post(route, json=body)
        assert reply.status_code == 200, reply.text
        return self.v3_read(reply.json()["data"]["video_id"])

    def v3_read(self, video_id: str) -> Made:
        self.clock.now += 3600
        data = self.client.get(f"/v3/videos/{video_id}").json()["data"]
        assert data["status"] == "completed"
        return Made(video_id, data["video_url"], data["thumbnail_url"], data["duration"])

    def download(self, url: str) -> bytes:
        reply = self.client.get(url)
        assert reply.status_code == 200, reply.text
        return reply.content


def start_rig(settings: str = "", state_dir: Path | None = None) -> Iterator[Rig]:
    clock = Clock()
    config = EmulatorConfig.parse(settings, EmulatorConfig(state_dir=state_dir))
    with Emulator(config, clock=clock) as emulator, serve(emulator) as server, \
            httpx.Client(base_url=server.url, headers={"X-Api-Key": KEY}, timeout=30) as client:
        yield Rig(client, clock, emulator)


@pytest.fixture
def rig() -> Iterator[Rig]:
    yield from start_rig()


@dataclass
class Probe:
    width: int
    height: int
    seconds: float
    frames: list[tuple[float, Image.Image]]   # (start time in seconds, picture)

    def at(self, seconds: float) -> Image.Image:
        """The picture on screen at ``seconds``."""
        return [image for start, image in self.frames if start <= seconds][-1]


def probe(data: bytes) -> Probe:
    """Width, height, length and every frame of an MP4, read back with PyAV."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert stream.duration is not None and container.duration is not None
        seconds = float(stream.duration * stream.time_base)
        # The container's own length (what a player shows) must agree with the track's.
        assert abs(container.duration / av.time_base - seconds) < 0.001
        frames = [(float(frame.time or 0.0), frame.to_image()) for frame in container.decode(stream)]
        return Probe(stream.codec_context.width, stream.codec_context.height, seconds, frames)


def scene(text: str, colour: str = "#0B1F3A", avatar: str = DAISY, voice: str = RACHEL) -> dict[str, Any]:
    return {"character": {"type": "avatar", "avatar_id": avatar, "avatar_style": "normal"},
            "voice": {"type": "text", "voice_id": voice, "input_text": text},
            "background": {"type": "color", "value": colour}}


def legacy_body(*scenes: dict[str, Any], width: int = 1280, height: int = 720) -> dict[str, Any]:
    return {"video_inputs": list(scenes), "dimension": {"width": width, "height": height},
            "title": "Preview"}


def estimated(kind: str, body: dict[str, Any]) -> float:
    """The emulator's estimate of the script's duration, as the status reply gives it."""
    seconds = render.video_seconds(kind, body) if "video_inputs" in body or kind == "agent" \
        else v3.video_seconds(body)
    return round(seconds, 3)


def assert_colour(image: Image.Image, point: tuple[int, int], expected: tuple[int, int, int]) -> None:
    pixel = image.convert("RGB").getpixel(point)
    assert isinstance(pixel, tuple)
    assert max(abs(a - b) for a, b in zip(pixel, expected, strict=True)) <= COLOUR_TOLERANCE, \
        f"pixel {point} is {pixel}, expected {expected}"


def corners(image: Image.Image) -> list[tuple[int, int]]:
    return [(0, 0), (image.width - 1, 0), (0, image.height - 1), (image.width - 1, image.height - 1)]


# --- size and length -------------------------------------------------------------------------------

@pytest.mark.parametrize(("width", "height"), [(1280, 720), (720, 1280), (1080, 1080), (642, 360)])
def test_legacy_preview_has_the_requested_dimension_and_the_estimated_duration(
        rig: Rig, width: int, height: int) -> None:
    body = legacy_body(scene("Hi Ana, welcome to Acme! <break time=\"1s\"/> We're glad you're here."),
                       scene("Your plan comes with twelve seats.", "#F4D35E", MARK, PAUL),
                       width=width, height=height)
    made = rig.legacy(body)
    data = rig.download(made.video_url)
    result = probe(data)
    assert (result.width, result.height) == (width, height)
    assert made.duration == estimated("video", body)
    assert result.seconds == pytest.approx(made.duration, abs=0.001)


@pytest.mark.parametrize(("resolution", "aspect", "size"), [
    ("720p", "16:9", (1280, 720)), ("720p", "9:16", (720, 1280)), ("1080p", "1:1", (1080, 1080)),
    ("720p", "4:5", (720, 900)), ("720p", "5:4", (900, 720)), (None, None, (1920, 1080)),
])
def test_v3_avatar_preview_has_the_resolution_and_aspect_ratio_asked_for(
        rig: Rig, resolution: str | None, aspect: str | None, size: tuple[int, int]) -> None:
    body: dict[str, Any] = {"type": "avatar", "avatar_id": DAISY, "voice_id": RACHEL,
                            "script": "Hi Ana, welcome! This is your preview.",
                            "background": {"type": "color", "value": "#0B1F3A"}}
    body.update({name: value for name, value in (("resolution", resolution),
                                                 ("aspect_ratio", aspect)) if value})
    made = rig.v3(body)
    result = probe(rig.download(made.video_url))
    assert (result.width, result.height) == size
    assert made.duration == estimated("video", body)
    assert result.seconds == pytest.approx(made.duration, abs=0.001)


def test_v3_studio_preview_lasts_its_scenes_and_shows_a_placeholder_for_an_image_scene(rig: Rig) -> None:
    body = {"type": "studio", "resolution": "720p", "aspect_ratio": "16:9", "scenes": [
        {"type": "avatar_video", "input": {"type": "avatar", "avatar_id": DAISY, "voice_id": RACHEL,
                                           "script": "Hi Ana!",
                                           "background": {"type": "color", "color": "#F4D35E"}}},
        {"type": "image", "source": {"type": "url", "url": "https://cdn.example.test/a.png"},
         "duration": 3}]}
    made = rig.v3(body)
    result = probe(rig.download(made.video_url))
    assert (result.width, result.height) == (1280, 720)
    assert result.seconds == pytest.approx(estimated("video", body), abs=0.001)
    first_scene = v3.scene_seconds(body["scenes"][0]) * made.duration / estimated("video", body)
    assert_colour(result.at(first_scene / 2), (0, 0), SUN)
    placeholder = result.at(made.duration - 0.01)
    assert_colour(placeholder, (0, 0), preview_render._PLACEHOLDER)


@pytest.mark.parametrize(("route", "body", "size"), [
    ("/v3/video-agents", {"prompt": "A short welcome for new customers of Acme.",
                          "orientation": "portrait"}, (1080, 1920)),
    ("/v1/video_agent/generate", {"prompt": "A short welcome for new customers of Acme."}, (1920, 1080)),
])
def test_agent_preview_follows_orientation_and_prompt_length(
        rig: Rig, route: str, body: dict[str, Any], size: tuple[int, int]) -> None:
    if route.startswith("/v3/"):
        made = rig.v3(body, route)
    else:
        reply = rig.client.post(route, json=body)
        assert reply.status_code == 200, reply.text
        made = rig.v3_read(reply.json()["data"]["video_id"])
    result = probe(rig.download(made.video_url))
    assert (result.width, result.height) == size
    assert result.seconds == pytest.approx(estimated("agent", body), abs=0.001)


# --- what it shows ---------------------------------------------------------------------------------

def test_each_scene_shows_its_background_colour_at_every_corner(rig: Rig) -> None:
    first, second = scene("Hi Ana, welcome to Acme!"), scene("See you soon, Ana.", "#F4D35E")
    body = legacy_body(first, second)
    made = rig.legacy(body)
    result = probe(rig.download(made.video_url))
    split = render.scene_seconds(first["voice"]) * made.duration / estimated("video", body)
    for at, colour in ((split / 2, NAVY), ((split + made.duration) / 2, SUN)):
        picture = result.at(at)
        for point in corners(picture):
            assert_colour(picture, point, colour)
    assert result.at(split / 2).tobytes() != result.at((split + made.duration) / 2).tobytes()


def caption_band(image: Image.Image) -> Image.Image:
    """The bottom fifth of the picture, where captions are burned in."""
    return image.crop((0, image.height * 4 // 5, image.width, image.height)).convert("L")


def test_captions_are_burned_in_from_the_script(rig: Rig) -> None:
    spoken = rig.legacy(legacy_body(scene("Hi Ana, welcome to Acme!")))
    other = rig.legacy(legacy_body(scene("Hi Ben, welcome to Acme!")))
    silent = rig.legacy(legacy_body({**scene(""), "voice": {"type": "silence", "duration": 2}}))
    pictures = [probe(rig.download(made.video_url)).at(0.5) for made in (spoken, other, silent)]
    bands = [caption_band(picture) for picture in pictures]
    extremes = [band.getextrema() for band in bands]
    # White text on the band in the spoken scenes; the silent one has background only.
    assert extremes[0][1] > 230 and extremes[1][1] > 230
    assert extremes[2][1] < 60
    assert bands[0].tobytes() != bands[1].tobytes()
    # Only the caption differs: above the band the two spoken pictures are alike.
    top = (0, 0, pictures[0].width, pictures[0].height * 3 // 5)
    assert pictures[0].crop(top).tobytes() == pictures[1].crop(top).tobytes()


def test_a_long_script_is_captioned_in_turns(rig: Rig) -> None:
    words = " ".join(f"word{n}" for n in range(80))
    made = rig.legacy(legacy_body(scene(words)))
    result = probe(rig.download(made.video_url))
    bands = {caption_band(image).tobytes() for _, image in result.frames}
    assert len(bands) >= 3
    # One still picture per caption, held while it is up: each frame shows the next caption.
    assert len(result.frames) == len(bands)


def test_avatar_and_voice_names_change_the_picture(rig: Rig) -> None:
    daisy = rig.legacy(legacy_body(scene("Hello there.")))
    mark = rig.legacy(legacy_body(scene("Hello there.", avatar=MARK, voice=PAUL)))
    tops = [probe(rig.download(made.video_url)).at(0.1).crop((0, 0, 1280, 120)).tobytes()
            for made in (daisy, mark)]
    assert tops[0] != tops[1]


def test_thumbnail_is_a_jpeg_of_the_preview_first_frame(rig: Rig, tmp_path: Path) -> None:
    made = rig.legacy(legacy_body(scene("Hi Ana, welcome to Acme!"), width=720, height=1280))
    path = tmp_path / "thumb.jpg"
    path.write_bytes(rig.download(made.thumbnail_url))
    assert jpeg_problem(path) is None
    thumbnail = Image.open(path)
    assert thumbnail.format == "JPEG" and thumbnail.size == (720, 1280)
    first = probe(rig.download(made.video_url)).frames[0][1].convert("RGB")
    for point in corners(thumbnail):
        assert_colour(thumbnail, point, NAVY)
    difference = sum(abs(a - b) for a, b in zip(thumbnail.convert("L").tobytes(),
                                                first.convert("L").tobytes(), strict=True))
    assert difference / (720 * 1280) < 4   # the same picture, give or take compression


# --- serving: same bytes, verified, kept ------------------------------------------------------------

def test_every_route_serves_the_same_bytes_and_the_client_accepts_them(rig: Rig, tmp_path: Path) -> None:
    body = legacy_body(scene("Hi Ana, welcome to Acme!"))
    made, twin = rig.legacy(body), rig.legacy(body)
    through_v3 = rig.v3_read(made.video_id)
    takes = [rig.download(url) for url in (made.video_url, made.video_url, through_v3.video_url)]
    assert takes[0] == takes[1] == takes[2]
    # An identical body makes another video: same picture, its own bytes (the id stamp).
    assert rig.download(twin.video_url) != takes[0]
    path = tmp_path / "ana.mp4"
    path.write_bytes(takes[0])
    assert mp4_problem(path) is None
    assert takes[0] != media.stamped(made.video_id, "mp4")   # not the shipped clip
    head = rig.client.head(made.video_url)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(takes[0])


def test_a_preview_is_encoded_once_and_kept_across_processes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = preview_render.render_mp4
    monkeypatch.setattr(preview_render, "render_mp4",
                        lambda plan: calls.append("mp4") or real(plan))
    state = tmp_path / "emulator"
    for rig in start_rig(state_dir=state):
        made = rig.legacy(legacy_body(scene("Hi Ana, welcome to Acme!")))
        first = [rig.download(made.video_url) for _ in range(3)]
    assert calls == ["mp4"] and first[0] == first[1] == first[2]
    for rig in start_rig(state_dir=state):   # a new emulator on the same state directory
        rig.clock.now += 3600
        again = made.video_url.split("/files/", 1)[1]   # the same signed URL, on this server
        assert rig.download(f"/files/{again}") == first[0]
    assert calls == ["mp4"]
    store = VideoStore(state)
    try:
        kept = store.preview(made.video_id, "mp4")
        assert kept is not None and media.stamped(made.video_id, "mp4", kept) == first[0]
        assert store.preview(made.video_id, "jpg") is None   # nobody asked for the thumbnail
    finally:
        store.close()


def test_the_same_plan_encodes_to_the_same_bytes(rig: Rig) -> None:
    from vidbuild.emulator.preview_plan import plan_preview

    made = rig.legacy(legacy_body(scene("Hi Ana."), scene("Bye Ana.", "#F4D35E")))
    video = next(v for v in rig.emulator.videos() if v.video_id == made.video_id)
    assert preview_render.render_mp4(plan_preview(video)) == preview_render.render_mp4(plan_preview(video))


# --- without previews ------------------------------------------------------------------------------

def test_previews_off_serves_the_shipped_clip_and_thumbnail() -> None:
    for rig in start_rig("previews=off"):
        made = rig.legacy(legacy_body(scene("Hi Ana, welcome to Acme!")))
        assert rig.download(made.video_url) == media.stamped(made.video_id, "mp4")
        assert rig.download(made.thumbnail_url) == media.stamped(made.video_id, "jpg")


def test_a_bad_previews_setting_is_refused() -> None:
    with pytest.raises(SettingError, match="previews must be one of auto, on, off, got 'sometimes'"):
        EmulatorConfig.parse("previews=sometimes")
    assert EmulatorConfig.from_env({"VIDBUILD_EMULATOR_PREVIEWS": "OFF"}).previews == "off"


_WITHOUT_EXTRA = textwrap.dedent("""
    import json, sys
    sys.modules["av"] = None       # as if the preview extra were not installed
    sys.modules["PIL"] = None
    import httpx
    from vidbuild.emulator import Emulator, EmulatorConfig, media
    from vidbuild.errors import SettingError

    now = [1_800_000_000.0]
    body = json.loads(sys.argv[1])
    with Emulator(EmulatorConfig(), clock=lambda: now[0]) as emulator:
        client = httpx.Client(base_url="http://emulator.test", transport=emulator.transport(),
                              headers={"X-Api-Key": "k"})
        video_id = client.post("/v2/video/generate", json=body).json()["data"]["video_id"]
        now[0] += 3600
        data = client.get("/v1/video_status.get", params={"video_id": video_id}).json()["data"]
        clip = client.get(data["video_url"]).content
        shipped = clip == media.stamped(video_id, "mp4")
    try:
        Emulator(EmulatorConfig(previews="on"))
        refused = None
    except SettingError as exc:
        refused = str(exc)
    print(json.dumps({"shipped": shipped, "refused": refused}))
""")


def test_without_the_extra_the_emulator_serves_todays_clip_and_refuses_previews_on() -> None:
    body = legacy_body(scene("Hi Ana, welcome to Acme!"))
    done = subprocess.run([sys.executable, "-c", _WITHOUT_EXTRA, json.dumps(body)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["shipped"] is True
    assert result["refused"].startswith("emulator setting previews=on: PyAV and Pillow are needed")
    assert result["refused"].endswith("install them with pip install 'vidbuild[preview]'")


# --- a real build ----------------------------------------------------------------------------------

def test_build_of_the_example_project_downloads_previews_of_the_project_dimension(tmp_path: Path) -> None:
    project = tmp_path / "spring-welcome"
    shutil.copytree(ROOT / "projects" / "spring-welcome", project)
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("HEYGEN_", "VIDBUILD_"))}
    env["VIDBUILD_BACKEND"] = "emulator"   # under CI=true a build must ask for the emulator by name
    env["VIDBUILD_EMULATOR_SPEED"] = "0.001"
    done = subprocess.run([sys.executable, "-m", "vidbuild", "build", str(project)], env=env,
                          capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((project / "out" / "manifest.json").read_text(encoding="utf-8"))
    rows = manifest["videos"] if isinstance(manifest, dict) else manifest
    (database,) = project.glob("**/heygen-emulator.sqlite3")
    store = VideoStore(database.parent)
    try:
        durations = {video.video_id: video.duration for video in store.videos()}
    finally:
        store.close()
    assert len(rows) == 24
    for row in rows:
        result = probe((project / row["output"]).read_bytes())
        assert (result.width, result.height) == (1280, 720)   # the project's video.dimension
        assert result.seconds == pytest.approx(durations[row["video_id"]], abs=0.001)


def test_first_downloads_racing_on_threads_all_get_the_same_bytes(rig: Rig) -> None:
    from concurrent.futures import ThreadPoolExecutor

    made = rig.legacy(legacy_body(scene("Hi Ana, welcome to Acme!"), scene("Bye.", "#F4D35E")))
    with ThreadPoolExecutor(max_workers=4) as pool:
        takes = list(pool.map(lambda _: rig.download(made.video_url), range(4)))
    assert len(set(takes)) == 1
    assert probe(takes[0]).seconds == pytest.approx(made.duration, abs=0.001)


def test_a_bad_previews_setting_stops_a_build_before_anything_is_sent(tmp_path: Path) -> None:
    project = tmp_path / "hello"
    shutil.copytree(ROOT / "projects" / "hello", project)
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("HEYGEN_", "VIDBUILD_"))}
    env["VIDBUILD_BACKEND"] = "emulator"   # under CI=true a build must ask for the emulator by name
    done = subprocess.run([sys.executable, "-m", "vidbuild", "build", str(project)],
                          env={**env, "VIDBUILD_EMULATOR_PREVIEWS": "sometimes"},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert "previews must be one of auto, on, off, got 'sometimes'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (project / "out").exists()
