"""What an emulator preview shows: its frame size, and per scene a card (background, names, captions).

Pure values from a stored video's body, for ``preview_render`` to draw; no imaging library here.
Frame sizes follow the contract (/work/shared/heygen-api.md): the legacy body's ``dimension``
``{width, height}``; v3's ``resolution`` (720p, 1080p, 4k: the short side) with ``aspect_ratio``;
an agent's ``orientation``. Where a body leaves the size out, the emulator makes 1920x1080 (16:9
1080p), the default the newer HeyGen docs give. Scene lengths come from the same estimates as the
video's duration (``render.py``, ``v3.py``) and are scaled to add up to that duration exactly.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

from vidbuild.emulator import catalogue, render, v3, v3_catalogue
from vidbuild.emulator.store import Video

DEFAULT_SIZE: Final = (1920, 1080)
DEFAULT_COLOUR: Final = "#f6f6fc"   # the legacy colour background's documented default value
# v3 resolution -> the frame's short side in pixels (HeyGen's dimension guide: 720p is 1280x720).
SHORT_SIDES: Final = {"720p": 720, "1080p": 1080, "4k": 2160}
# v3 aspect_ratio -> (long side, short side) proportions, landscape first; "auto" takes 16:9.
ASPECTS: Final = {"16:9": (16, 9, False), "9:16": (16, 9, True), "1:1": (1, 1, False),
                  "5:4": (5, 4, False), "4:5": (5, 4, True), "auto": (16, 9, False)}

_HEX: Final = re.compile(r"#[0-9A-Fa-f]{6}")
_SPACES: Final = re.compile(r"\s+")


@dataclass(frozen=True)
class Card:
    """One scene as the preview shows it.

    ``seconds`` is how long it is on screen; ``colour`` is its background as ``#RRGGBB``, or None
    when the background is an image or video the emulator doesn't fetch (``placeholder`` names it);
    ``avatar`` and ``voice`` are catalogue names (the ID itself when the catalogue lacks it, "" for
    none); ``text`` is what the voice says, pauses removed, shown as captions.
    """

    seconds: float
    colour: str | None
    placeholder: str
    avatar: str
    voice: str
    text: str


@dataclass(frozen=True)
class PreviewPlan:
    """A whole preview: ``width`` x ``height`` pixels, ``duration`` seconds, one card per scene."""

    width: int
    height: int
    duration: float
    cards: tuple[Card, ...]


def plan_preview(video: Video) -> PreviewPlan:
    """The preview of a stored video, whichever generation and kind created it.

    The body was validated when it was stored, but v3 bodies keep unknown fields and nulls, so
    every field is read defensively.
    """
    body = json.loads(video.body)
    if video.kind == "agent":
        width, height = _orientation_size(body)
        cards = [_agent_card(body)]
    elif "video_inputs" in body:
        width, height = _dimension_size(body.get("dimension"))
        cards = [_legacy_card(scene) for scene in body["video_inputs"]]
    elif body.get("type") == "studio":
        width, height = _v3_size(body)
        cards = [_studio_card(scene) for scene in body["scenes"]]
    else:
        width, height = _v3_size(body)
        cards = [_v3_avatar_card(body)]
    return PreviewPlan(width, height, video.duration, _fitted(cards, video.duration))


def caption_text(script: str) -> str:
    """What a caption shows of a script: the words, without ``<break/>`` pauses or extra spaces."""
    return _SPACES.sub(" ", render.without_pauses(script)).strip()


def _fitted(cards: list[Card], duration: float) -> tuple[Card, ...]:
    """The cards with their lengths scaled to add up to ``duration`` (the video's own length,
    which rounds and has a 1 s floor); equal shares when no scene has a length."""
    total = sum(card.seconds for card in cards)
    shares = [card.seconds / total if total > 0 else 1.0 / len(cards) for card in cards]
    return tuple(_with_seconds(card, duration * share) for card, share in zip(cards, shares, strict=True))


def _with_seconds(card: Card, seconds: float) -> Card:
    return Card(seconds, card.colour, card.placeholder, card.avatar, card.voice, card.text)


# --- frame sizes ---------------------------------------------------------------------------------

def _dimension_size(dimension: object) -> tuple[int, int]:
    if isinstance(dimension, dict):
        width, height = dimension.get("width"), dimension.get("height")
        if isinstance(width, int) and isinstance(height, int):
            return width, height
    return DEFAULT_SIZE


def _v3_size(body: dict[str, Any]) -> tuple[int, int]:
    short = SHORT_SIDES.get(_text(body.get("resolution")) or "1080p", 1080)
    long_part, short_part, upright = ASPECTS.get(_text(body.get("aspect_ratio")) or "16:9",
                                                 ASPECTS["16:9"])
    long = short * long_part // short_part
    return (short, long) if upright else (long, short)


def _orientation_size(body: dict[str, Any]) -> tuple[int, int]:
    # The legacy agent body may still carry its settings in the deprecated ``config`` object.
    orientation = body.get("orientation") or _mapping(body.get("config")).get("orientation")
    width, height = DEFAULT_SIZE
    return (height, width) if orientation == "portrait" else (width, height)


# --- cards -----------------------------------------------------------------------------------------

def _legacy_card(scene: dict[str, Any]) -> Card:
    voice = _mapping(scene.get("voice"))
    character = _mapping(scene.get("character"))
    avatar = _text(character.get("avatar_id")) or _text(character.get("talking_photo_id"))
    colour, placeholder = _legacy_background(_mapping(scene.get("background")))
    return Card(render.scene_seconds(voice), colour, placeholder, _avatar_name(avatar),
                _voice_name(_text(voice.get("voice_id"))), _legacy_text(voice))


def _legacy_text(voice: dict[str, Any]) -> str:
    if voice.get("type") == "text":
        return caption_text(_text(voice.get("input_text")))
    return "(recorded audio)" if voice.get("type") == "audio" else ""


def _legacy_background(background: dict[str, Any]) -> tuple[str | None, str]:
    kind = background.get("type") or "color"
    if kind == "color":
        return _colour(background.get("value")), ""
    return None, f"{kind} background"


def _v3_avatar_card(body: dict[str, Any]) -> Card:
    background = _mapping(body.get("background"))
    kind = background.get("type") or "color"
    colour = _colour(background.get("value")) if kind == "color" else None
    return Card(v3.video_seconds(body), colour, "" if colour else f"{kind} background",
                _avatar_name(_text(body.get("avatar_id"))), _voice_name(_text(body.get("voice_id"))),
                _v3_text(body))


def _studio_card(scene: dict[str, Any]) -> Card:
    seconds = v3.scene_seconds(scene)
    if scene.get("type") == "avatar_video":
        speaker = _mapping(scene.get("input"))
        colour = _colour(_mapping(speaker.get("background")).get("color"))
        return Card(seconds, colour, "", _avatar_name(_text(speaker.get("avatar_id"))),
                    _voice_name(_text(speaker.get("voice_id"))), _v3_text(speaker))
    kind = _text(scene.get("type")) or "image"
    return Card(seconds, None, f"{kind} scene", "", _voice_name(_text(scene.get("voice_id"))),
                _v3_text(scene))


def _v3_text(holder: dict[str, Any]) -> str:
    script = _text(holder.get("script"))
    if script:
        return caption_text(script)
    return "(recorded audio)" if holder.get("audio_url") or holder.get("audio_asset_id") else ""


def _agent_card(body: dict[str, Any]) -> Card:
    config = _mapping(body.get("config"))
    avatar = _text(body.get("avatar_id")) or _text(config.get("avatar_id"))
    voice = _text(body.get("voice_id")) or _text(config.get("voice_id"))
    return Card(1.0, DEFAULT_COLOUR, "", _avatar_name(avatar) or "Video Agent", _voice_name(voice),
                caption_text(_text(body.get("prompt"))))


def _avatar_name(avatar_id: str) -> str:
    look = v3_catalogue.LOOKS_BY_ID.get(avatar_id)
    return look.name if look is not None else avatar_id


def _voice_name(voice_id: str) -> str:
    voice = catalogue.VOICES_BY_ID.get(voice_id)
    return voice.name if voice is not None else voice_id


def _colour(value: object) -> str:
    return value if isinstance(value, str) and _HEX.fullmatch(value) else DEFAULT_COLOUR


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
