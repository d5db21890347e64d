"""The v3 body that renders exactly what a legacy body renders, or why none can.

vidbuild expands, hashes and plans legacy bodies (``POST /v2/video/generate``, ``POST
/v1/video_agent/generate``). A row goes through HeyGen's v3 API only where a v3 body renders the
same video; anything v3 can't carry, or carries in a way the published description leaves open,
keeps the row on the legacy route, with a reason a person can act on.

Sources of the facts used here: HeyGen's published description of ``POST /v3/videos`` and ``POST
/v3/video-agents`` as generated into its CLI (heygen-com/heygen-cli, ``gen/video.go`` and
``gen/video-agent.go``, synced July 2026; value ranges from ``codegen/external-api.json``), and our
record of the legacy contract (heygen-api.md). ``schemas/heygen/v3_*.request.schema.json`` holds the
v3 shapes produced here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vidbuild.heygen.routes import Generation

# Legacy `dimension` → v3 `resolution` + `aspect_ratio`, only where the pixels are documented: HeyGen's
# dimension guide gives 1280x720 / 1920x1080 and their portrait and square forms. v3's "4k" size
# and its 4:5 / 5:4 frames are not documented in pixels, so those dimensions stay legacy.
V3_FRAMES: dict[tuple[int, int], tuple[str, str]] = {
    (1280, 720): ("720p", "16:9"), (720, 1280): ("720p", "9:16"), (720, 720): ("720p", "1:1"),
    (1920, 1080): ("1080p", "16:9"), (1080, 1920): ("1080p", "9:16"), (1080, 1080): ("1080p", "1:1"),
}
DEFAULT_COLOUR = "#f6f6fc"      # the legacy colour background's documented default value
# Legacy caption_mode → v3 caption: a sidecar file only, or captions burned into the picture.
V3_CAPTIONS = {"file_only": {"file_format": "srt"}, "burn_in": {"file_format": "srt", "style": "default"}}
# Legacy fields with no v3 counterpart at all (v3 create has no fps, subtitle styling, folder or
# test mode; its `watermark` is a custom image, not HeyGen's mark).
NO_V3_FIELD = ("fps", "subtitles", "folder_id", "test", "enable_watermark")
# Fields whose values never decide whether v3 can render a legacy body, only what it says (given a
# body the legacy schema accepts): rows whose other fields are equal take the same route.
FREE_FIELDS = frozenset({"title", "callback_url", "avatar_id", "talking_photo_id", "voice_id",
                         "input_text", "speed", "pitch", "locale", "audio_url", "audio_asset_id",
                         "duration", "value", "url", "image_asset_id"})
# Flags whose `false` asks for nothing, so it renders what leaving them out renders.
OFF_WHEN_FALSE = frozenset({"test", "enable_watermark", "matting", "super_resolution"})


@dataclass(frozen=True)
class Route:
    """The generation a row is sent through and why (``reason`` is shown by plan and compile)."""

    generation: Generation
    reason: str


class _Inexpressible(Exception):
    """Control flow inside this module: v3 can't render this body exactly; the message says why."""


def choose_route(kind: str, body: Mapping[str, Any], scenes: Sequence[str], choice: str,
                 chosen_by: str = "") -> Route:
    """Which generation a row's legacy ``body`` goes through under ``choice`` ('auto', 'v3', 'legacy').

    ``scenes`` are the scene labels in body order (for reasons). Under 'v3' an inexpressible body
    still gets a legacy route: the caller turns its reason into an error. ``chosen_by`` names where
    a 'legacy' choice came from (``--api legacy``), for the reason.
    """
    if choice == "legacy":
        return Route("legacy", f"{chosen_by or 'api: legacy'} chosen")
    try:
        v3 = translate(kind, body, scenes)
    except _Inexpressible as exc:
        return Route("legacy", str(exc))
    return Route("v3", _describe(kind, v3))


def inexpressible_reason(kind: str, body: Mapping[str, Any], scenes: Sequence[str]) -> str | None:
    """Why v3 can't render ``body`` exactly, or None if it can."""
    try:
        translate(kind, body, scenes)
    except _Inexpressible as exc:
        return str(exc)
    return None


def v3_body(kind: str, body: Mapping[str, Any], scenes: Sequence[str]) -> dict[str, Any]:
    """The v3 body for a legacy content body (no bookkeeping fields). Raises ValueError with the
    reason if v3 can't render it exactly; callers route such rows to legacy first."""
    try:
        return translate(kind, body, scenes)
    except _Inexpressible as exc:
        raise ValueError(str(exc)) from None


def translate(kind: str, body: Mapping[str, Any], scenes: Sequence[str]) -> dict[str, Any]:
    """The v3 body for a legacy body of ``kind`` ('video' or 'agent'); raises _Inexpressible."""
    if kind == "agent":
        return _agent(body)
    return _video(body, scenes)


def _describe(kind: str, v3: Mapping[str, Any]) -> str:
    if kind == "agent":
        return "v3 video agent"
    if v3["type"] == "avatar":
        return "one avatar scene: v3 avatar video"
    count = len(v3["scenes"])
    return f"{count} scene{'s' if count != 1 else ''}: v3 studio video"


# -- videos ---------------------------------------------------------------------------------------

# The fields each legacy object may have for v3 to render it (others keep the row legacy).
_VIDEO_FIELDS = frozenset({"video_inputs", "dimension", "title", "caption", "caption_mode",
                           "callback_url", "callback_id"})
_SCENE_FIELDS = frozenset({"character", "voice", "background"})
_COLOUR_FIELDS = frozenset({"type", "value"})
_IMAGE_FIELDS = frozenset({"type", "url", "image_asset_id", "fit"})
_TEXT_FIELDS = frozenset({"type", "voice_id", "input_text", "speed", "pitch", "locale"})
_AUDIO_FIELDS = frozenset({"type", "audio_url", "audio_asset_id"})
_SILENCE_FIELDS = frozenset({"type", "duration"})
_PLAIN_CHARACTER = {"avatar": frozenset({"type", "avatar_id", "use_avatar_iv_model"}),
                    "talking_photo": frozenset({"type", "talking_photo_id"})}


def _video(body: Mapping[str, Any], labels: Sequence[str]) -> dict[str, Any]:
    _refuse_unknown("", body, _VIDEO_FIELDS)
    inputs = body["video_inputs"]
    names = [labels[i] if i < len(labels) else str(i + 1) for i in range(len(inputs))]
    common = {**_frame(body.get("dimension")), **_caption(body)}
    for name in ("title", "callback_url"):
        if name in body:
            common[name] = body[name]
    scenes = [_scene(scene, name, single=len(inputs) == 1) for scene, name in zip(inputs, names, strict=True)]
    if len(scenes) == 1 and scenes[0]["type"] == "avatar_video":
        return {"type": "avatar", **_avatar_video_top(scenes[0]["input"]), **common}
    return {"type": "studio", "scenes": scenes, **common}


def _refuse_unknown(owner: str, fields: Mapping[str, Any], known: frozenset[str]) -> None:
    """Fields without a v3 counterpart (or unknown to this module) keep the row legacy."""
    if fields.keys() <= known:   # the common case, checked at C speed (no `known` holds NO_V3_FIELD)
        return
    for name, value in fields.items():
        if name in OFF_WHEN_FALSE and value is False:
            continue
        if name in NO_V3_FIELD or name not in known:
            where = f"{owner}: " if owner else ""
            raise _Inexpressible(f"{where}{name} has no v3 field")


def _frame(dimension: Any) -> dict[str, str]:
    if not isinstance(dimension, Mapping):
        raise _Inexpressible("no dimension: the legacy default size is not documented")
    size: tuple[int, int] = (dimension.get("width", 0), dimension.get("height", 0))
    frame = V3_FRAMES.get(size)
    if frame is None:
        raise _Inexpressible(f"dimension {size[0]}x{size[1]} has no exact v3 resolution and aspect ratio "
                             "(v3 makes 1280x720 and 1920x1080, upright or square)")
    return {"resolution": frame[0], "aspect_ratio": frame[1]}


def _caption(body: Mapping[str, Any]) -> dict[str, Any]:
    mode = body.get("caption_mode")
    if mode is not None:   # the contract: caption_mode wins over caption
        return {"caption": dict(V3_CAPTIONS[mode])}
    if body.get("caption") is True:
        # Whether legacy burns these captions into the video or only adds a file is not
        # documented, so v3's two caption forms can't be told apart: stay legacy.
        raise _Inexpressible("caption: true without caption_mode (set caption_mode: file_only or burn_in "
                             "to let v3 carry it)")
    return {}


def _scene(scene: Mapping[str, Any], name: str, *, single: bool) -> dict[str, Any]:
    where = f"scene {name}"
    _refuse_unknown(where, scene, _SCENE_FIELDS)
    background = scene.get("background")
    kind = background.get("type") if isinstance(background, Mapping) else None
    if "character" in scene:
        return _avatar_scene(scene, where, kind, single=single)
    if kind == "image":
        return _image_scene(scene, where)
    if kind == "video":
        raise _Inexpressible(f"{where} shows a video background with no avatar; v3 video scenes play a clip "
                             "as it is, without the scene's voice or length")
    raise _Inexpressible(f"{where} has no avatar and no image; v3 has no colour-only scene")


def _avatar_scene(scene: Mapping[str, Any], where: str, background: Any, *, single: bool) -> dict[str, Any]:
    if background is None:
        raise _Inexpressible(f"{where} has no background: legacy's default backdrop is not documented "
                             "to match v3's")
    if background != "color":
        # A single scene could be a v3 avatar video, which takes an image background, but v3
        # doesn't say how it fills the frame (legacy's fit: cover by default).
        extra = (" (and v3 avatar videos don't say how an image fills the frame)"
                 if single and background == "image" else "")
        raise _Inexpressible(f"{where} has {'an' if background == 'image' else 'a'} {background} "
                             f"background, which v3 studio scenes can't carry yet{extra}")
    voice = scene["voice"]
    if voice.get("type") == "silence":
        raise _Inexpressible(f"{where} has an avatar with a silent voice; v3 avatar scenes last as long "
                             "as their speech")
    source = {"type": "avatar", **_character(scene["character"], where), **_speech(voice, where)}
    source["background"] = {"type": "color", "color": scene["background"].get("value", DEFAULT_COLOUR)}
    _refuse_unknown(f"{where} background", scene["background"], _COLOUR_FIELDS)
    return {"type": "avatar_video", "input": source}


def _avatar_video_top(source: Mapping[str, Any]) -> dict[str, Any]:
    """A single avatar_video scene's input as a `type: avatar` body (its background says `value`)."""
    top = {name: value for name, value in source.items() if name not in ("type", "background")}
    top["background"] = {"type": "color", "value": source["background"]["color"]}
    return top


# Character fields at the value that renders what leaving them out renders.
NEUTRAL: dict[str, Any] = {"avatar_style": "normal", "scale": 1, "offset": {"x": 0, "y": 0},
                           "expression": "default"}


def _character(character: Mapping[str, Any], where: str) -> dict[str, Any]:
    kind = character.get("type")
    identity = "avatar_id" if kind == "avatar" else "talking_photo_id"
    plain = _PLAIN_CHARACTER.get(str(kind))
    for name, value in () if plain is not None and character.keys() <= plain else character.items():
        if name in ("type", identity) or (name == "use_avatar_iv_model" and kind == "avatar"):
            continue
        if (name in NEUTRAL and _same(value, NEUTRAL[name])) or (name in OFF_WHEN_FALSE and value is False):
            continue
        raise _Inexpressible(f"{where} has {name}: {_shown(value)}, which v3 can't express")
    # Legacy renders with the avatar's standard engine unless use_avatar_iv_model asks for Avatar IV;
    # v3 defaults to Avatar IV, so the engine is always named. v3's avatar_iii is that standard
    # engine: Digital Twin for video avatar looks, Photo Avatar for photo avatar looks (talking photos).
    engine = "avatar_iv" if character.get("use_avatar_iv_model") is True else "avatar_iii"
    return {"avatar_id": character[identity], "engine": {"type": engine}}


def _same(value: Any, neutral: Any) -> bool:
    if isinstance(neutral, dict):
        return (isinstance(value, Mapping) and set(value) <= set(neutral)
                and all(value.get(name, 0) == zero for name, zero in neutral.items()))
    return bool(value == neutral)


def _shown(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{name}: {_shown(item)}" for name, item in value.items()) + "}"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _speech(voice: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A text or audio voice as v3's script + voice_id + voice_settings, or audio_url / audio_asset_id."""
    if voice.get("type") == "audio":
        _refuse_unknown(f"{where} voice", voice, _AUDIO_FIELDS)
        return {name: voice[name] for name in ("audio_url", "audio_asset_id") if name in voice}
    _refuse_unknown(f"{where} voice", voice, _TEXT_FIELDS)
    speech: dict[str, Any] = {"script": voice["input_text"], "voice_id": voice["voice_id"]}
    settings = {name: voice[name] for name in ("speed", "pitch", "locale") if name in voice}
    if settings:
        speech["voice_settings"] = settings
    return speech


def _image_scene(scene: Mapping[str, Any], where: str) -> dict[str, Any]:
    background = scene["background"]
    _refuse_unknown(f"{where} background", background, _IMAGE_FIELDS)
    if background.get("fit", "cover") != "cover":
        # v3 centre-crops every scene to the frame: that is legacy's `cover`, and only that.
        raise _Inexpressible(f"{where}'s image background has fit: {background['fit']}; v3 image scenes "
                             "always fill the frame (cover)")
    if "url" in background:
        source = {"type": "url", "url": background["url"]}
    else:
        source = {"type": "asset_id", "asset_id": background["image_asset_id"]}
    voice = scene["voice"]
    if voice.get("type") == "silence":
        _refuse_unknown(f"{where} voice", voice, _SILENCE_FIELDS)
        return {"type": "image", "source": source, "duration": voice.get("duration", 1)}
    return {"type": "image", "source": source, **_speech(voice, where)}


# -- agent videos ---------------------------------------------------------------------------------

_AGENT_FIELDS = frozenset({"prompt", "avatar_id", "voice_id", "orientation", "files", "callback_url",
                           "callback_id", "incognito_mode"})


def _agent(body: Mapping[str, Any]) -> dict[str, Any]:
    """A legacy agent body (settings at the top or in the deprecated `config`) as a v3 one."""
    flat = {name: value for name, value in body.items() if name != "config"}
    for name, value in (body.get("config") or {}).items():
        flat.setdefault(name, value)
    if "duration_sec" in flat:
        raise _Inexpressible("duration_sec has no v3 field (the v3 agent picks the length itself)")
    _refuse_unknown("", flat, _AGENT_FIELDS)
    v3 = {name: value for name, value in flat.items() if name not in ("files", "callback_id")}
    if "files" in flat:
        v3["files"] = [{"type": "asset_id", "asset_id": item["asset_id"]} for item in flat["files"]]
    return v3
