"""Legacy bodies → v3 bodies: each legacy feature either maps to an exact v3 body or keeps the row legacy
with a precise reason; every v3 body produced passes the v3 request schema."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from vidbuild import resources
from vidbuild.heygen.v3_bodies import Route, choose_route, inexpressible_reason, v3_body

AVATAR = {"type": "avatar", "avatar_id": "Daisy-inskirt-20220818"}
PHOTO = {"type": "talking_photo", "talking_photo_id": "tp-ana"}
TEXT = {"type": "text", "voice_id": "v-1", "input_text": "Hi Ana!"}
COLOUR = {"type": "color", "value": "#0B1F3A"}
IMAGE = {"type": "image", "url": "https://example.com/bg.png"}
VIDEO = {"type": "video", "url": "https://example.com/bg.mp4"}
HD = {"resolution": "720p", "aspect_ratio": "16:9"}
V3_SPEECH = {"script": "Hi Ana!", "voice_id": "v-1"}
STANDARD = {"type": "avatar_iii"}


def scene(character: dict[str, Any] | None = AVATAR, voice: dict[str, Any] = TEXT,
          background: dict[str, Any] | None = COLOUR) -> dict[str, Any]:
    parts = {"character": character, "voice": voice, "background": background}
    return copy.deepcopy({name: part for name, part in parts.items() if part is not None})


def legacy(*scenes: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"title": "Welcome Ana", "dimension": {"width": 1280, "height": 720}, **top,
            "video_inputs": list(scenes) or [scene()]}


def avatar_video(**fields: Any) -> dict[str, Any]:
    """The v3 `type: avatar` body for the default one-scene legacy body, with ``fields`` changed."""
    return {"type": "avatar", "avatar_id": "Daisy-inskirt-20220818", "engine": STANDARD, **V3_SPEECH,
            "background": {"type": "color", "value": "#0B1F3A"}, **HD, "title": "Welcome Ana", **fields}


def studio(*scenes: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"type": "studio", "scenes": list(scenes), **HD, "title": "Welcome Ana", **fields}


def avatar_scene(**fields: Any) -> dict[str, Any]:
    return {"type": "avatar_video", "input": {"type": "avatar", "avatar_id": "Daisy-inskirt-20220818",
                                              "engine": STANDARD, **V3_SPEECH,
                                              "background": {"type": "color", "color": "#0B1F3A"},
                                              **fields}}


EXPRESSIBLE: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "one avatar over a colour": (legacy(), avatar_video()),
    "speed, pitch and locale": (
        legacy(scene(voice={**TEXT, "speed": 1.2, "pitch": -10, "locale": "en-GB"})),
        avatar_video(voice_settings={"speed": 1.2, "pitch": -10, "locale": "en-GB"})),
    "audio by url": (
        legacy(scene(voice={"type": "audio", "audio_url": "https://example.com/a.mp3"})),
        {**{k: v for k, v in avatar_video().items() if k not in V3_SPEECH},
         "audio_url": "https://example.com/a.mp3"}),
    "audio by asset": (
        legacy(scene(voice={"type": "audio", "audio_asset_id": "aud-1"})),
        {**{k: v for k, v in avatar_video().items() if k not in V3_SPEECH}, "audio_asset_id": "aud-1"}),
    "talking photo as a photo avatar look": (
        legacy(scene(character=PHOTO)), avatar_video(avatar_id="tp-ana")),
    "talking photo at its neutral settings": (
        legacy(scene(character={**PHOTO, "expression": "default", "super_resolution": False, "scale": 1})),
        avatar_video(avatar_id="tp-ana")),
    "avatar iv": (
        legacy(scene(character={**AVATAR, "use_avatar_iv_model": True})),
        avatar_video(engine={"type": "avatar_iv"})),
    "avatar at its neutral settings": (
        legacy(scene(character={**AVATAR, "avatar_style": "normal", "scale": 1.0,
                                "offset": {"x": 0.0, "y": 0}, "matting": False,
                                "use_avatar_iv_model": False})),
        avatar_video()),
    "colour left at its default": (
        legacy(scene(background={"type": "color"})),
        avatar_video(background={"type": "color", "value": "#f6f6fc"})),
    "two scenes as studio": (
        legacy(scene(), scene(voice={**TEXT, "input_text": "Bye!"})),
        studio(avatar_scene(), avatar_scene(script="Bye!"))),
    "image narrated": (
        legacy(scene(character=None, background=IMAGE, voice={**TEXT, "speed": 0.9})),
        studio({"type": "image", "source": {"type": "url", "url": "https://example.com/bg.png"},
                **V3_SPEECH, "voice_settings": {"speed": 0.9}})),
    "image by asset held in silence": (
        legacy(scene(character=None, background={"type": "image", "image_asset_id": "img-1", "fit": "cover"},
                     voice={"type": "silence", "duration": 3})),
        studio({"type": "image", "source": {"type": "asset_id", "asset_id": "img-1"}, "duration": 3})),
    "silence of the default length": (
        legacy(scene(character=None, background=IMAGE, voice={"type": "silence"})),
        studio({"type": "image", "source": {"type": "url", "url": "https://example.com/bg.png"},
                "duration": 1})),
    "image with audio": (
        legacy(scene(character=None, background=IMAGE,
                     voice={"type": "audio", "audio_asset_id": "aud-1"})),
        studio({"type": "image", "source": {"type": "url", "url": "https://example.com/bg.png"},
                "audio_asset_id": "aud-1"})),
    "1080p portrait": (
        legacy(dimension={"width": 1080, "height": 1920}),
        avatar_video(resolution="1080p", aspect_ratio="9:16")),
    "720p square": (
        legacy(dimension={"width": 720, "height": 720}), avatar_video(aspect_ratio="1:1")),
    "1080p landscape": (
        legacy(dimension={"width": 1920, "height": 1080}), avatar_video(resolution="1080p")),
    "captions as a file": (
        legacy(caption=True, caption_mode="file_only"), avatar_video(caption={"file_format": "srt"})),
    "captions burned in": (
        legacy(caption_mode="burn_in"), avatar_video(caption={"file_format": "srt", "style": "default"})),
    "no captions": (legacy(caption=False), avatar_video()),
    "webhook and flags that ask for nothing": (
        legacy(callback_url="https://hooks.example.com/v", test=False, enable_watermark=False),
        avatar_video(callback_url="https://hooks.example.com/v")),
}


@pytest.mark.parametrize("name", EXPRESSIBLE)
def test_a_legacy_feature_v3_can_render_gives_the_exact_v3_body(name: str) -> None:
    body, expected = EXPRESSIBLE[name]
    scenes = ["intro", "outro"][:len(body["video_inputs"])]

    assert v3_body("video", body, scenes) == expected
    assert inexpressible_reason("video", body, scenes) is None


INEXPRESSIBLE: dict[str, tuple[dict[str, Any], str]] = {
    "avatar over an image among scenes": (
        legacy(scene(background=IMAGE), scene()),
        "scene intro has an image background, which v3 studio scenes can't carry yet"),
    "avatar over an image alone": (
        legacy(scene(background=IMAGE)),
        "scene intro has an image background, which v3 studio scenes can't carry yet (and v3 avatar "
        "videos don't say how an image fills the frame)"),
    "avatar over a video": (
        legacy(scene(), scene(background=VIDEO)),
        "scene outro has a video background, which v3 studio scenes can't carry yet"),
    "avatar over a video alone": (
        legacy(scene(background=VIDEO)),
        "scene intro has a video background, which v3 studio scenes can't carry yet"),
    "circle": (legacy(scene(character={**AVATAR, "avatar_style": "circle"})),
               "scene intro has avatar_style: circle, which v3 can't express"),
    "close-up": (legacy(scene(character={**AVATAR, "avatar_style": "closeUp"})),
                 "scene intro has avatar_style: closeUp, which v3 can't express"),
    "scale": (legacy(scene(character={**AVATAR, "scale": 1.5})),
              "scene intro has scale: 1.5, which v3 can't express"),
    "offset": (legacy(scene(character={**AVATAR, "offset": {"x": 0.1, "y": 0}})),
               "scene intro has offset: {x: 0.1, y: 0}, which v3 can't express"),
    "matting": (legacy(scene(character={**AVATAR, "matting": True})),
                "scene intro has matting: true, which v3 can't express"),
    "circle background colour": (
        legacy(scene(character={**AVATAR, "circle_background_color": "#FFFFFF"})),
        "scene intro has circle_background_color: #FFFFFF, which v3 can't express"),
    "talking style": (legacy(scene(character={**PHOTO, "talking_style": "expressive"})),
                      "scene intro has talking_style: expressive, which v3 can't express"),
    "photo crop": (legacy(scene(character={**PHOTO, "talking_photo_style": "circle"})),
                   "scene intro has talking_photo_style: circle, which v3 can't express"),
    "expression": (legacy(scene(character={**PHOTO, "expression": "happy"})),
                   "scene intro has expression: happy, which v3 can't express"),
    "super resolution": (legacy(scene(character={**PHOTO, "super_resolution": True})),
                         "scene intro has super_resolution: true, which v3 can't express"),
    "emotion": (legacy(scene(voice={**TEXT, "emotion": "Friendly"})),
                "scene intro voice: emotion has no v3 field"),
    "avatar in silence": (
        legacy(scene(voice={"type": "silence", "duration": 2})),
        "scene intro has an avatar with a silent voice; v3 avatar scenes last as long as their speech"),
    "avatar without background": (
        legacy(scene(background=None)),
        "scene intro has no background: legacy's default backdrop is not documented to match v3's"),
    "colour with no avatar": (
        legacy(scene(character=None)), "scene intro has no avatar and no image; v3 has no colour-only scene"),
    "video with no avatar": (
        legacy(scene(character=None, background=VIDEO)),
        "scene intro shows a video background with no avatar; v3 video scenes play a clip as it is, "
        "without the scene's voice or length"),
    "image not filling the frame": (
        legacy(scene(character=None, background={**IMAGE, "fit": "contain"})),
        "scene intro's image background has fit: contain; v3 image scenes always fill the frame (cover)"),
    "inexact dimension": (
        legacy(dimension={"width": 1000, "height": 700}),
        "dimension 1000x700 has no exact v3 resolution and aspect ratio (v3 makes 1280x720 and "
        "1920x1080, upright or square)"),
    "4k is not documented in pixels": (
        legacy(dimension={"width": 3840, "height": 2160}),
        "dimension 3840x2160 has no exact v3 resolution and aspect ratio (v3 makes 1280x720 and "
        "1920x1080, upright or square)"),
    "captions of undocumented kind": (
        legacy(caption=True),
        "caption: true without caption_mode (set caption_mode: file_only or burn_in to let v3 carry it)"),
    "frame rate": (legacy(fps=30), "fps has no v3 field"),
    "folder": (legacy(folder_id="f-1"), "folder_id has no v3 field"),
    "test mode": (legacy(test=True), "test has no v3 field"),
    "watermark": (legacy(enable_watermark=True), "enable_watermark has no v3 field"),
    "subtitle styling": (legacy(subtitles={"preset": "bold"}), "subtitles has no v3 field"),
    "a field this module doesn't know": (legacy(aspect_ratio="16:9"), "aspect_ratio has no v3 field"),
}


@pytest.mark.parametrize("name", INEXPRESSIBLE)
def test_a_legacy_feature_v3_cant_render_keeps_the_row_legacy_with_the_reason(name: str) -> None:
    body, reason = INEXPRESSIBLE[name]
    scenes = ["intro", "outro"][:len(body["video_inputs"])]

    assert inexpressible_reason("video", body, scenes) == reason
    assert choose_route("video", body, scenes, "auto") == Route("legacy", reason)
    with pytest.raises(ValueError, match=f"^{re.escape(reason)}$"):
        v3_body("video", body, scenes)


def test_scenes_without_labels_are_named_by_position() -> None:
    body = legacy(scene(), scene(background=IMAGE))
    assert inexpressible_reason("video", body, []) == (
        "scene 2 has an image background, which v3 studio scenes can't carry yet")


LEGACY_AGENT = {"prompt": "A welcome for Ana.", "config": {"avatar_id": "Daisy", "orientation": "portrait"},
                "files": [{"asset_id": "a-1"}, {"asset_id": "a-2"}]}


def test_an_agent_body_moves_its_settings_to_the_top_and_types_its_files() -> None:
    assert v3_body("agent", LEGACY_AGENT, []) == {
        "prompt": "A welcome for Ana.", "avatar_id": "Daisy", "orientation": "portrait",
        "files": [{"type": "asset_id", "asset_id": "a-1"}, {"type": "asset_id", "asset_id": "a-2"}]}


def test_an_agent_body_with_its_settings_at_the_top_keeps_them_and_its_webhook() -> None:
    body = {"prompt": "p", "avatar_id": "Daisy", "voice_id": "v-1", "incognito_mode": True,
            "callback_url": "https://hooks.example.com/a", "callback_id": "x"}
    assert v3_body("agent", body, []) == {"prompt": "p", "avatar_id": "Daisy", "voice_id": "v-1",
                                          "incognito_mode": True,
                                          "callback_url": "https://hooks.example.com/a"}


def test_an_agent_body_with_a_duration_stays_legacy() -> None:
    body = {"prompt": "p", "config": {"duration_sec": 30}}
    assert choose_route("agent", body, [], "auto") == Route(
        "legacy", "duration_sec has no v3 field (the v3 agent picks the length itself)")


def test_the_choice_legacy_never_looks_at_the_body() -> None:
    assert choose_route("video", legacy(fps=30), ["intro"], "legacy", "--api legacy") == Route(
        "legacy", "--api legacy chosen")
    assert choose_route("video", legacy(), ["intro"], "legacy").generation == "legacy"


def test_auto_and_v3_route_a_renderable_body_to_v3_with_what_it_becomes() -> None:
    two = legacy(scene(), scene())
    assert choose_route("video", legacy(), ["intro"], "auto") == Route(
        "v3", "one avatar scene: v3 avatar video")
    assert choose_route("video", two, ["a", "b"], "v3") == Route("v3", "2 scenes: v3 studio video")
    assert choose_route("agent", {"prompt": "p"}, [], "auto") == Route("v3", "v3 video agent")


def test_translating_leaves_the_legacy_body_untouched() -> None:
    body = legacy(scene(voice={**TEXT, "speed": 1.1}), scene(character=None, background=IMAGE))
    before = copy.deepcopy(body)
    v3_body("video", body, ["a", "b"])
    assert body == before


# -- the v3 request schemas ----------------------------------------------------------------------

VIDEOS = Draft202012Validator(resources.load_schema("heygen/v3_videos.request.schema.json"))
AGENTS = Draft202012Validator(resources.load_schema("heygen/v3_video_agents.request.schema.json"))


def schema_errors(validator: Draft202012Validator, body: Any) -> list[str]:
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body))


@pytest.mark.parametrize("name", EXPRESSIBLE)
def test_every_translated_body_passes_the_v3_schema_with_its_bookkeeping(name: str) -> None:
    body = {**EXPRESSIBLE[name][1], "callback_id": "0" * 64, "title": "Welcome Ana [vb:000000000000]"}
    assert schema_errors(VIDEOS, body) == []


def test_translated_agent_bodies_pass_the_v3_agent_schema() -> None:
    assert schema_errors(AGENTS, v3_body("agent", LEGACY_AGENT, [])) == []
    webhook = {"prompt": "p", "callback_url": "https://h.example/x", "callback_id": "c"}
    assert schema_errors(AGENTS, webhook) == []


def test_the_v3_schema_refuses_what_v3_refuses() -> None:
    over_image = avatar_scene()
    over_image["input"]["background"] = {"type": "image", "url": "https://example.com/bg.png"}
    both_modes = {"type": "image", "source": {"type": "url", "url": "https://example.com/x.png"},
                  "duration": 2, **V3_SPEECH}
    assert schema_errors(VIDEOS, studio(over_image)) == [
        "scenes/0/input/background/type: 'color' was expected",
        "scenes/0/input/background: 'color' is a required property",
        "scenes/0/input/background: Additional properties are not allowed ('url' was unexpected)"]
    assert [e.split(":")[0] for e in schema_errors(VIDEOS, studio(both_modes))] == ["scenes/0"]
    assert schema_errors(VIDEOS, avatar_video(resolution="1000p")) == [
        "resolution: '1000p' is not one of ['720p', '1080p', '4k']"]
    assert schema_errors(VIDEOS, studio()) == ["scenes: [] should be non-empty"]
    assert schema_errors(AGENTS, {"prompt": "p", "duration_sec": 30}) == [
        ": Additional properties are not allowed ('duration_sec' was unexpected)"]


# -- the emulator's v3 validation (HeyGen's rules, written independently) agrees ---------------------

CATALOGUE_IDS = {"Daisy-inskirt-20220818": "Daisy-inskirt-20220818", "tp-ana": "tp-3a9b0c41",
                 "v-1": "2d5b0e6cf36f460aa7fc47e3eee4ba54"}


def with_catalogue_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {name: with_catalogue_ids(item) for name, item in value.items()}
    if isinstance(value, list):
        return [with_catalogue_ids(item) for item in value]
    return CATALOGUE_IDS.get(value, value) if isinstance(value, str) else value


def test_every_translated_body_is_accepted_by_the_emulators_v3_endpoint() -> None:
    from vidbuild.emulator import Emulator, EmulatorConfig, serve
    from vidbuild.heygen.client import HeyGenClient

    with (Emulator(EmulatorConfig(speed=0.001)) as emulator, serve(emulator) as server,
          HeyGenClient(server.url, "test-key", sleep=lambda seconds: None) as client):
        for number, (_, expected) in enumerate(EXPRESSIBLE.values()):
            body = with_catalogue_ids({**expected, "callback_id": f"{number:064x}"})
            assert client.v3.create_video(body, idempotency_key=f"{number:064x}").video_id
        agent = {**v3_body("agent", LEGACY_AGENT, []), "avatar_id": "Daisy-inskirt-20220818"}
        assert client.v3.create_agent_video(agent).session_id
