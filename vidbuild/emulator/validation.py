"""Judges a submitted body as HeyGen does: documented messages, then the request schema, then the catalogue.

jsonschema is imported on the first validation only, so importing the emulator stays cheap.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final

from vidbuild import api, resources
from vidbuild.emulator import catalogue

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

_HEX_COLOUR: Final = re.compile(r"#[0-9A-Fa-f]{6}")
# (scene part, its type, the URL field, the asset field) that must carry exactly one of the two.
_EXACTLY_ONE: Final = (
    ("background", "image", "url", "image_asset_id"),
    ("background", "video", "url", "video_asset_id"),
    ("voice", "audio", "audio_url", "audio_asset_id"),
)


def check_submission(kind: str, body: object) -> str | None:
    """The 400 ``invalid_parameter`` message HeyGen would give ``body``, or None if it is fine.

    ``kind`` is a key of ``vidbuild.api.SUBMIT_ROUTES`` ("video" or "agent").
    """
    checks: tuple[Callable[[str, object], str | None], ...] = (
        _documented_rules, _schema_problem, _catalogue_problem)
    for check in checks:
        message = check(kind, body)
        if message:
            return message
    return None


def _scenes(body: object) -> Iterator[dict[str, Any]]:
    scenes = body.get("video_inputs") if isinstance(body, dict) else None
    if isinstance(scenes, list):
        yield from (scene for scene in scenes if isinstance(scene, dict))


def _part(scene: dict[str, Any], name: str) -> dict[str, Any]:
    part = scene.get(name)
    return part if isinstance(part, dict) else {}


def _documented_rules(kind: str, body: object) -> str | None:
    # The contract quotes these messages word for word, so they win over the schema's wording.
    if kind != "video":
        return None
    for scene in _scenes(body):
        colour = _part(scene, "character").get("circle_background_color")
        if colour is not None and not (isinstance(colour, str) and _HEX_COLOUR.fullmatch(colour)):
            return "circle_background_color must be in hex format"
        for part_name, part_type, url_field, asset_field in _EXACTLY_ONE:
            part = _part(scene, part_name)
            if part.get("type") == part_type and (url_field in part) == (asset_field in part):
                return f"Either {url_field} or {asset_field} needs to be provided"
    return None


@functools.cache
def _validator(kind: str) -> Validator:
    from jsonschema import Draft202012Validator

    schema = resources.load_schema(api.REQUEST_SCHEMAS[kind])
    validator: Validator = Draft202012Validator(schema)
    return validator


def _schema_problem(kind: str, body: object) -> str | None:
    errors = list(_validator(kind).iter_errors(body))  # type: ignore[arg-type]
    if not errors:
        return None
    # Errors come in document order (scenes in turn), so the first is the one to fix first.
    message = describe_error(errors[0])
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return message


def describe_error(error: ValidationError) -> str:
    """``video_inputs[0].voice.speed: 3 is greater than the maximum of 1.5``."""
    where = ""
    for step in error.absolute_path:
        where += f"[{step}]" if isinstance(step, int) else (f".{step}" if where else str(step))
    return f"{where}: {error.message}" if where else error.message


def _catalogue_problem(kind: str, body: object) -> str | None:
    if kind == "agent":
        config = body.get("config") if isinstance(body, dict) else None
        avatar_id = config.get("avatar_id") if isinstance(config, dict) else None
        if avatar_id is not None and avatar_id not in catalogue.AVATAR_IDS:
            return f"Avatar {avatar_id} not found or no longer available"
        return None
    for scene in _scenes(body):
        message = _character_problem(_part(scene, "character")) or _voice_problem(
            _part(scene, "voice"))
        if message:
            return message
    return None


def _character_problem(character: dict[str, Any]) -> str | None:
    avatar_id = character.get("avatar_id")
    if character.get("type") == "avatar" and avatar_id not in catalogue.AVATAR_IDS:
        return f"Avatar {avatar_id} not found or no longer available"
    photo_id = character.get("talking_photo_id")
    if character.get("type") == "talking_photo" and photo_id not in catalogue.TALKING_PHOTO_IDS:
        return f"Talking photo {photo_id} not found"
    return None


def _voice_problem(voice: dict[str, Any]) -> str | None:
    if voice.get("type") != "text":
        return None
    voice_id = voice.get("voice_id")
    known = catalogue.VOICES_BY_ID.get(str(voice_id))
    if known is None:
        return f"Voice {voice_id} not found"
    if "emotion" in voice and not known.emotion_support:
        return f"Voice {voice_id} does not support emotion"
    return None
