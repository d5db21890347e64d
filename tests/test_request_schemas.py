"""The request-body schemas: well formed, documented, accepting the contract, locating every mistake."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from vidbuild import resources
from vidbuild.heygen import routes

VIDEO = "video"
AGENT = "agent"


def validator(kind: str) -> Draft202012Validator:
    return Draft202012Validator(resources.load_schema(routes.REQUEST_SCHEMAS[kind]))


def located_errors(kind: str, body: Any) -> list[tuple[str, str]]:
    return [("/".join(str(step) for step in error.absolute_path), error.message)
            for error in validator(kind).iter_errors(body)]


def contract_video_body() -> dict[str, Any]:
    """The example body of POST /v2/video/generate in the contract."""
    return {
        "video_inputs": [
            {
                "character": {"type": "avatar", "avatar_id": "Daisy-inskirt-20220818",
                              "avatar_style": "normal", "scale": 1.0,
                              "offset": {"x": 0.0, "y": 0.0}},
                "voice": {"type": "text", "voice_id": "2d5b0e6cf36f460aa7fc47e3eee4ba54",
                          "input_text": "Hi Ana, welcome!", "speed": 1.0},
                "background": {"type": "color", "value": "#0B1F3A"},
            }
        ],
        "dimension": {"width": 1280, "height": 720},
        "title": "Welcome Ana",
        "caption": False,
        "callback_id": "any string of the caller's, echoed back in status and webhooks",
    }


def contract_agent_body() -> dict[str, Any]:
    return {
        "prompt": "A 30-second welcome for Ana, a new Pro customer of Acme, friendly tone.",
        "avatar_id": "Daisy-inskirt-20220818", "duration_sec": 30, "orientation": "landscape",
        "callback_url": "https://hooks.example.test/heygen", "callback_id": "job-1",
    }


def _walk(schema: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(schema, dict):
        yield where, schema
        for key, value in schema.items():
            yield from _walk(value, f"{where}/{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            yield from _walk(value, f"{where}/{index}")


@pytest.mark.parametrize("kind", [VIDEO, AGENT])
def test_schema_is_a_valid_draft_2020_12_schema(kind: str) -> None:
    schema = resources.load_schema(routes.REQUEST_SCHEMAS[kind])
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("kind", [VIDEO, AGENT])
def test_every_property_has_a_description(kind: str) -> None:
    schema = resources.load_schema(routes.REQUEST_SCHEMAS[kind])
    definitions = schema.get("$defs", {})
    missing = []
    for where, node in _walk(schema):
        if "/if" in where:
            continue  # a branch condition, not a property an editor shows
        for name, prop in node.get("properties", {}).items():
            if not isinstance(prop, dict):
                continue  # a `false` schema forbids the property; nothing to describe
            target = prop
            if "$ref" in prop and "description" not in prop:
                target = definitions[prop["$ref"].removeprefix("#/$defs/")]
            if "description" not in target:
                missing.append(f"{where}/properties/{name}")
    assert missing == []


# The contract names `subtitles` without its fields, so it alone stays open.
@pytest.mark.parametrize(("kind", "left_open"), [(VIDEO, ["#/properties/subtitles"]), (AGENT, [])])
def test_every_object_rejects_unknown_keys(kind: str, left_open: list[str]) -> None:
    schema = resources.load_schema(routes.REQUEST_SCHEMAS[kind])
    open_objects = []
    for where, node in _walk(schema):
        if node.get("type") != "object" or "/if" in where:
            continue
        # A dispatcher picks a branch by `type`; the branch closes the object.
        dispatches = any("then" in part for part in node.get("allOf", []))
        if node.get("additionalProperties") is not False and not dispatches:
            open_objects.append(where)
    assert open_objects == left_open


def _scene(**parts: Any) -> dict[str, Any]:
    body = contract_video_body()
    body["video_inputs"][0].update(parts)
    return body


VALID_VIDEO_BODIES: dict[str, Callable[[], dict[str, Any]]] = {
    "contract example": contract_video_body,
    "voice only": lambda: {"video_inputs": [{"voice": {
        "type": "text", "voice_id": "v", "input_text": "x"}}]},
    "talking photo": lambda: _scene(character={
        "type": "talking_photo", "talking_photo_id": "tp-7f2c1d9e", "talking_photo_style": "circle",
        "talking_style": "expressive", "expression": "happy", "super_resolution": True,
        "scale": 2, "offset": {"x": -0.5, "y": 0.25}}),
    "every avatar option": lambda: _scene(character={
        "type": "avatar", "avatar_id": "a", "avatar_style": "circle", "scale": 0,
        "matting": True, "circle_background_color": "#ffaa00", "use_avatar_iv_model": False}),
    "every text voice option": lambda: _scene(voice={
        "type": "text", "voice_id": "v", "input_text": "x" * 5000, "speed": 0.5, "pitch": -50,
        "emotion": "Friendly", "locale": "en-US"}),
    "silence": lambda: _scene(voice={"type": "silence", "duration": 100}),
    "audio url": lambda: _scene(voice={"type": "audio", "audio_url": "https://cdn.example.com/a.MP3"}),
    "audio asset": lambda: _scene(voice={"type": "audio", "audio_asset_id": "asset-1"}),
    "image url": lambda: _scene(background={
        "type": "image", "url": "https://cdn.example.com/bg.jpeg?sig=1", "fit": "contain"}),
    "image asset": lambda: _scene(background={
        "type": "image", "image_asset_id": "img-1", "fit": "none"}),
    "video background": lambda: _scene(background={
        "type": "video", "url": "https://cdn.example.com/loop.mp4", "play_style": "loop",
        "fit": "crop"}),
    "video asset": lambda: _scene(background={
        "type": "video", "video_asset_id": "vid-1", "play_style": "once", "fit": "cover"}),
    "every top-level option": lambda: {
        **contract_video_body(), "caption_mode": "burn_in", "fps": 30, "enable_watermark": False,
        "subtitles": {"preset_name": "Charged Up"}, "callback_url": "https://example.com/hook",
        "folder_id": "f-1", "test": True, "dimension": {"width": 4096, "height": 128}},
    "fifty scenes": lambda: {"video_inputs": contract_video_body()["video_inputs"] * 50},
}


@pytest.mark.parametrize("name", sorted(VALID_VIDEO_BODIES))
def test_valid_video_bodies_pass(name: str) -> None:
    assert located_errors(VIDEO, VALID_VIDEO_BODIES[name]()) == []


@pytest.mark.parametrize("body", [
    contract_agent_body(),
    {"prompt": "x"},
    {"prompt": "x" * 10000, "files": [{"asset_id": "a1"}], "callback_url": "https://e.com/h",
     "config": {"orientation": "portrait", "duration_sec": 5}},
])
def test_valid_agent_bodies_pass(body: dict[str, Any]) -> None:
    assert located_errors(AGENT, body) == []


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting ``a/0/b`` (missing keys are created) to ``value``."""

    def mutate(body: dict[str, Any]) -> None:
        *parents, last = [int(step) if step.isdigit() else step for step in path.split("/")]
        node: Any = body
        for step in parents:
            node = node[step]
        node[last] = value

    return mutate


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(body: dict[str, Any]) -> None:
        *parents, last = [int(step) if step.isdigit() else step for step in path.split("/")]
        node: Any = body
        for step in parents:
            node = node[step]
        del node[last]

    return mutate


SCENE = "video_inputs/0"
INVALID_VIDEO_BODIES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("speed too high", _set(f"{SCENE}/voice/speed", 3), f"{SCENE}/voice/speed",
     "3 is greater than the maximum of 1.5"),
    ("speed too low", _set(f"{SCENE}/voice/speed", 0.4), f"{SCENE}/voice/speed",
     "0.4 is less than the minimum of 0.5"),
    ("pitch too high", _set(f"{SCENE}/voice/pitch", 51), f"{SCENE}/voice/pitch",
     "51 is greater than the maximum of 50"),
    ("empty text", _set(f"{SCENE}/voice/input_text", ""), f"{SCENE}/voice/input_text",
     "'' should be non-empty"),
    ("text too long", _set(f"{SCENE}/voice/input_text", "x" * 5001), f"{SCENE}/voice/input_text",
     f"'{'x' * 5001}' is too long"),
    ("unknown emotion", _set(f"{SCENE}/voice/emotion", "Happy"), f"{SCENE}/voice/emotion",
     "'Happy' is not one of ['Excited', 'Friendly', 'Serious', 'Soothing', 'Broadcaster']"),
    ("elevenlabs settings (unconfirmed)", _set(f"{SCENE}/voice/elevenlabs_settings", {}),
     f"{SCENE}/voice",
     "Additional properties are not allowed ('elevenlabs_settings' was unexpected)"),
    ("typo in voice", _set(f"{SCENE}/voice/voiceid", "x"), f"{SCENE}/voice",
     "Additional properties are not allowed ('voiceid' was unexpected)"),
    ("missing voice_id", _delete(f"{SCENE}/voice/voice_id"), f"{SCENE}/voice",
     "'voice_id' is a required property"),
    ("unknown voice type", _set(f"{SCENE}/voice/type", "speech"), f"{SCENE}/voice/type",
     "'speech' is not one of ['text', 'audio', 'silence']"),
    ("silence too long", _set(f"{SCENE}/voice", {"type": "silence", "duration": 101}),
     f"{SCENE}/voice/duration", "101 is greater than the maximum of 100"),
    ("silence too short", _set(f"{SCENE}/voice", {"type": "silence", "duration": 0.5}),
     f"{SCENE}/voice/duration", "0.5 is less than the minimum of 1"),
    ("audio without source", _set(f"{SCENE}/voice", {"type": "audio"}), f"{SCENE}/voice",
     "'audio_url' is a required property"),
    ("audio with both sources", _set(f"{SCENE}/voice", {
        "type": "audio", "audio_url": "https://e.com/a.wav", "audio_asset_id": "x"}),
     f"{SCENE}/voice", "'audio_url' is not one of ['type', 'audio_asset_id']"),
    ("audio url of a video", _set(f"{SCENE}/voice", {
        "type": "audio", "audio_url": "https://e.com/a.mp4"}), f"{SCENE}/voice/audio_url",
     "'https://e.com/a.mp4' does not match '^https?://[^?#]+\\\\.([Ww][Aa][Vv]|[Mm][Pp]3)([?#].*)?$'"),
    ("missing voice", _delete(f"{SCENE}/voice"), SCENE, "'voice' is a required property"),
    ("text overlay (unconfirmed)", _set(f"{SCENE}/text", {"text": "hi"}), SCENE,
     "Additional properties are not allowed ('text' was unexpected)"),
    ("unknown character type", _set(f"{SCENE}/character/type", "robot"),
     f"{SCENE}/character/type", "'robot' is not one of ['avatar', 'talking_photo']"),
    ("unknown avatar style", _set(f"{SCENE}/character/avatar_style", "wide"),
     f"{SCENE}/character/avatar_style", "'wide' is not one of ['normal', 'circle', 'closeUp']"),
    ("scale above the strict 2", _set(f"{SCENE}/character/scale", 2.5),
     f"{SCENE}/character/scale", "2.5 is greater than the maximum of 2"),
    ("circle colour not hex", _set(f"{SCENE}/character/circle_background_color", "#FFF"),
     f"{SCENE}/character/circle_background_color", "'#FFF' does not match '^#[0-9A-Fa-f]{6}$'"),
    ("avatar field on a talking photo", _set(f"{SCENE}/character", {
        "type": "talking_photo", "talking_photo_id": "tp", "avatar_style": "normal"}),
     f"{SCENE}/character", "Additional properties are not allowed ('avatar_style' was unexpected)"),
    ("offset typo", _set(f"{SCENE}/character/offset/z", 1), f"{SCENE}/character/offset",
     "Additional properties are not allowed ('z' was unexpected)"),
    ("background colour name", _set(f"{SCENE}/background/value", "navy"),
     f"{SCENE}/background/value", "'navy' does not match '^#[0-9A-Fa-f]{6}$'"),
    ("image without source", _set(f"{SCENE}/background", {"type": "image"}),
     f"{SCENE}/background", "'url' is a required property"),
    ("image with both sources", _set(f"{SCENE}/background", {
        "type": "image", "url": "https://e.com/b.png", "image_asset_id": "i"}),
     f"{SCENE}/background", "'url' is not one of ['type', 'image_asset_id', 'fit']"),
    ("video without source", _set(f"{SCENE}/background", {"type": "video", "fit": "cover"}),
     f"{SCENE}/background", "'url' is a required property"),
    ("unknown fit", _set(f"{SCENE}/background", {
        "type": "image", "image_asset_id": "i", "fit": "stretch"}),
     f"{SCENE}/background/fit", "'stretch' is not one of ['cover', 'crop', 'contain', 'none']"),
    ("unknown play style", _set(f"{SCENE}/background", {
        "type": "video", "video_asset_id": "v", "play_style": "bounce"}),
     f"{SCENE}/background/play_style",
     "'bounce' is not one of ['fit_to_scene', 'freeze', 'loop', 'once']"),
    ("no scenes", _set("video_inputs", []), "video_inputs", "[] should be non-empty"),
    ("odd width", _set("dimension/width", 1279), "dimension/width", "1279 is not a multiple of 2"),
    ("width too small", _set("dimension/width", 100), "dimension/width",
     "100 is less than the minimum of 128"),
    ("height too big", _set("dimension/height", 4098), "dimension/height",
     "4098 is greater than the maximum of 4096"),
    ("width as text", _set("dimension/width", "1280"), "dimension/width",
     "'1280' is not of type 'integer'"),
    ("unknown caption mode", _set("caption_mode", "burned"), "caption_mode",
     "'burned' is not one of ['file_only', 'burn_in']"),
    ("caption as text", _set("caption", "yes"), "caption", "'yes' is not of type 'boolean'"),
    ("fps zero", _set("fps", 0), "fps", "0 is less than the minimum of 1"),
    ("typo at top level", _set("titel", "x"), "",
     "Additional properties are not allowed ('titel' was unexpected)"),
    ("missing scenes", _delete("video_inputs"), "", "'video_inputs' is a required property"),
]


@pytest.mark.parametrize(("mutate", "path", "message"),
                         [case[1:] for case in INVALID_VIDEO_BODIES],
                         ids=[case[0] for case in INVALID_VIDEO_BODIES])
def test_invalid_video_body_fails_at_its_spot(mutate: Callable[[dict[str, Any]], None], path: str,
                                              message: str) -> None:
    body = contract_video_body()
    mutate(body)
    assert located_errors(VIDEO, body) == [(path, message)]


def test_too_many_scenes() -> None:
    body = {"video_inputs": contract_video_body()["video_inputs"] * 51}
    [(path, message)] = located_errors(VIDEO, body)
    assert path == "video_inputs"
    assert message.endswith("is too long")


def test_errors_in_every_branch_are_located_not_summarised() -> None:
    # One bad value in each dispatched part of two scenes: six located errors, no
    # "is not valid under any of the given schemas".
    body = contract_video_body()
    second = copy.deepcopy(body["video_inputs"][0])
    second["character"] = {"type": "talking_photo", "talking_photo_id": "tp", "scale": -1}
    second["voice"] = {"type": "silence", "duration": 200}
    second["background"] = {"type": "video", "url": "https://e.com/v.mov"}
    body["video_inputs"].append(second)
    body["video_inputs"][0]["voice"]["speed"] = 3
    body["video_inputs"][0]["character"]["avatar_style"] = "tiny"
    body["video_inputs"][0]["background"]["value"] = "blue"
    paths = sorted(path for path, _ in located_errors(VIDEO, body))
    assert paths == [
        "video_inputs/0/background/value",
        "video_inputs/0/character/avatar_style",
        "video_inputs/0/voice/speed",
        "video_inputs/1/background/url",
        "video_inputs/1/character/scale",
        "video_inputs/1/voice/duration",
    ]
    assert not any("any of the given schemas" in m for _, m in located_errors(VIDEO, body))


INVALID_AGENT_BODIES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("empty prompt", _set("prompt", ""), "prompt", "'' should be non-empty"),
    ("prompt too long", _set("prompt", "p" * 10001), "prompt", f"'{'p' * 10001}' is too long"),
    ("missing prompt", _delete("prompt"), "", "'prompt' is a required property"),
    ("short duration", _set("duration_sec", 4), "duration_sec",
     "4 is less than the minimum of 5"),
    ("long duration", _set("duration_sec", 301), "duration_sec",
     "301 is greater than the maximum of 300"),
    ("square", _set("orientation", "square"), "orientation",
     "'square' is not one of ['landscape', 'portrait']"),
    ("config typo", _set("config", {"avatar": "a"}), "config",
     "Additional properties are not allowed ('avatar' was unexpected)"),
    ("file without asset id", _set("files", [{}]), "files/0", "'asset_id' is a required property"),
    ("21 files", _set("files", [{"asset_id": f"a{n}"} for n in range(21)]), "files",
     f"{[{'asset_id': f'a{n}'} for n in range(21)]} is too long"),
    ("callback_id without callback_url", _delete("callback_url"), "",
     "'callback_url' is a dependency of 'callback_id'"),
    ("title (unconfirmed)", _set("title", "t"), "",
     "Additional properties are not allowed ('title' was unexpected)"),
    ("script instead of prompt", _set("script", [{"actor": "a", "text": "t"}]), "",
     "Additional properties are not allowed ('script' was unexpected)"),
]


@pytest.mark.parametrize(("mutate", "path", "message"),
                         [case[1:] for case in INVALID_AGENT_BODIES],
                         ids=[case[0] for case in INVALID_AGENT_BODIES])
def test_invalid_agent_body_fails_at_its_spot(mutate: Callable[[dict[str, Any]], None], path: str,
                                              message: str) -> None:
    body = contract_agent_body()
    mutate(body)
    assert located_errors(AGENT, body) == [(path, message)]
