"""Judges a submitted body as HeyGen does: documented messages, then the request schema, then the catalogue.

HeyGen accepts JSON null for every optional field (but an agent's ``incognito_mode``) and the
empty strings its own clients send for a few of them (``as_sent_unset``); those are dropped
before the body meets its schema. A video body meets vidbuild's own request schema (strict,
since vidbuild checks its bodies with it too); an agent body meets ``ACCEPTED_AGENT_SCHEMA``,
which says what HeyGen's published description of the endpoint allows, no more, no less.
jsonschema is imported on the first validation only, so importing the emulator stays cheap.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final

from vidbuild import resources
from vidbuild.emulator import catalogue
from vidbuild.heygen import routes

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
# Fields HeyGen's own clients send as "" when unset: its MCP server's `title`, its n8n node's
# `talking_photo_style` (see "Optional fields and null" in the API contract).
BLANK_MEANS_UNSET: Final = frozenset({"title", "talking_photo_style"})
# Optional fields HeyGen's published description doesn't let be null (`boolean, default false`):
# a null is kept, for the schema to refuse.
NEVER_NULL: Final = frozenset({"incognito_mode"})
# Every agent body HeyGen's published description allows (any string as an ID or callback_url,
# duration_sec without an upper bound), wider than vidbuild's own strict request schema.
ACCEPTED_AGENT_SCHEMA: Final = "heygen/video_agent_generate.accepted.schema.json"


def as_sent_unset(value: Any) -> Any:
    """``value`` without the fields its sender left unset: every null object member (but those
    of ``NEVER_NULL``), and the empty strings of ``BLANK_MEANS_UNSET``. A null list item is
    kept: it is not optional."""
    if isinstance(value, dict):
        return {name: as_sent_unset(item) for name, item in value.items()
                if (item is not None or name in NEVER_NULL)
                and not (item == "" and name in BLANK_MEANS_UNSET)}
    if isinstance(value, list):
        return [as_sent_unset(item) for item in value]
    return value


def check_submission(kind: str, body: object, *, strict_catalogue: bool = True) -> str | None:
    """The 400 ``invalid_parameter`` message HeyGen would give ``body``, or None if it is fine.

    ``kind`` is a key of ``vidbuild.heygen.routes.SUBMIT_ROUTES`` ("video" or "agent"); ``body`` has been
    through ``as_sent_unset``. Without ``strict_catalogue``, IDs the emulator's small catalogue
    doesn't know pass (a real account holds thousands; see ``unknown_ids``).
    """
    checks: list[Callable[[str, object], str | None]] = [
        _documented_rules, _schema_problem, *([_catalogue_problem] if strict_catalogue else []),
        _emotion_problem]
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
    if kind == "agent":
        return _agent_callback_problem(body)
    for scene in _scenes(body):
        colour = _part(scene, "character").get("circle_background_color")
        if colour is not None and not (isinstance(colour, str) and _HEX_COLOUR.fullmatch(colour)):
            return "circle_background_color must be in hex format"
        for part_name, part_type, url_field, asset_field in _EXACTLY_ONE:
            part = _part(scene, part_name)
            if part.get("type") == part_type and (url_field in part) == (asset_field in part):
                return f"Either {url_field} or {asset_field} needs to be provided"
    return None


def _agent_callback_problem(body: object) -> str | None:
    # HeyGen's agent guide: a callback_id without a callback_url is answered 400.
    if isinstance(body, dict) and "callback_id" in body and not body.get("callback_url"):
        return "callback_id requires callback_url"
    return None


@functools.cache
def _validator(kind: str) -> Validator:
    from jsonschema import Draft202012Validator

    schema = resources.load_schema(ACCEPTED_AGENT_SCHEMA if kind == "agent" else routes.REQUEST_SCHEMAS[kind])
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
    # A pattern says little to a person; the schema's own words say what is wrong.
    custom = error.schema.get("x-message") if isinstance(error.schema, dict) else None
    message = custom if custom and error.validator == "pattern" else error.message
    return f"{where}: {message}" if where else message


def unknown_ids(kind: str, body: object) -> list[str]:
    """The avatar, talking photo and voice IDs in a valid body that the catalogue doesn't know,
    as ``field ID`` (``avatar_id Angela-inTshirt-20220820``), each once, in body order."""
    found: dict[str, None] = {}
    for field, value in _catalogue_ids(kind, body):
        if value not in _KNOWN[field]:
            found[f"{field} {value}"] = None
    return list(found)


def _catalogue_ids(kind: str, body: object) -> Iterator[tuple[str, str]]:
    """(field, ID) for every catalogue ID a body names."""
    if kind == "agent":
        if not isinstance(body, dict):
            return
        config = _part(body, "config")
        for field in ("avatar_id", "voice_id"):
            for holder in (body, config):
                if isinstance(holder.get(field), str):
                    yield field, holder[field]
        return
    for scene in _scenes(body):
        character, voice = _part(scene, "character"), _part(scene, "voice")
        if character.get("type") == "avatar":
            yield "avatar_id", str(character.get("avatar_id"))
        if character.get("type") == "talking_photo":
            yield "talking_photo_id", str(character.get("talking_photo_id"))
        if voice.get("type") == "text":
            yield "voice_id", str(voice.get("voice_id"))


_KNOWN: Final = {"avatar_id": catalogue.AVATAR_IDS, "talking_photo_id": catalogue.TALKING_PHOTO_IDS,
                 "voice_id": frozenset(catalogue.VOICES_BY_ID)}
_NOT_FOUND: Final = {"avatar_id": "Avatar {} not found or no longer available",
                     "talking_photo_id": "Talking photo {} not found", "voice_id": "Voice {} not found"}


def _catalogue_problem(kind: str, body: object) -> str | None:
    for field, value in _catalogue_ids(kind, body):
        if value not in _KNOWN[field]:
            return _NOT_FOUND[field].format(value)
    return None


def _emotion_problem(kind: str, body: object) -> str | None:
    # Checked for the voices the catalogue knows, whatever the catalogue mode.
    for scene in _scenes(body) if kind == "video" else ():
        voice = _part(scene, "voice")
        known = catalogue.VOICES_BY_ID.get(str(voice.get("voice_id")))
        if voice.get("type") == "text" and known and "emotion" in voice and not known.emotion_support:
            return f"Voice {voice['voice_id']} does not support emotion"
    return None
