"""Single-field checks for the emulator's v3 request validation, raising HeyGen's 400 as ``EmulatorRefusal``.

``where`` is the path of the object holding the field (``scenes[0].input``), so a refusal
names the field as HeyGen's ``param`` does. JSON ``null`` counts as absent, except for a field
checked with ``nullable=False``: one HeyGen's published description gives a default but does not
mark ``nullable`` (gen/video.go's ``output_format``, ``voice_settings.speed``), which HeyGen refuses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

from vidbuild.errors import EmulatorRefusal

_HEX_COLOUR: Final = re.compile(r"#[0-9A-Fa-f]{6}")




def join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def present(holder: dict[str, Any], name: str, where: str = "", *, nullable: bool = True) -> Any:
    """The field's value, None when it is missing or JSON null (HeyGen's optional fields); a
    EmulatorRefusal for a JSON null where the field is not ``nullable``."""
    value = holder.get(name)
    if value is None and not nullable and name in holder:
        path = join(where, name)
        raise EmulatorRefusal(f"{path}: must not be null", param=path)
    return value


def as_object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise EmulatorRefusal(f"{where or 'body'}: must be a JSON object", param=where or None)
    return value


def only(holder: dict[str, Any], where: str, allowed: Iterable[str]) -> None:
    known = set(allowed)
    for name in holder:
        if name not in known:
            raise EmulatorRefusal(f"{join(where, name)}: unknown field", param=join(where, name))


def text(holder: dict[str, Any], name: str, where: str, *, required: bool = False,
            choices: tuple[str, ...] | None = None, nullable: bool = True) -> str | None:
    value = present(holder, name, where, nullable=nullable)
    path = join(where, name)
    if value is None:
        if required:
            raise EmulatorRefusal(f"{path}: required", param=path)
        return None
    if not isinstance(value, str):
        raise EmulatorRefusal(f"{path}: must be a string, got {type(value).__name__}", param=path)
    if choices is not None and value not in choices:
        listed = ", ".join(repr(choice) for choice in choices)
        raise EmulatorRefusal(f"{path}: {value!r} is not one of {listed}", param=path)
    return value


def number(holder: dict[str, Any], name: str, where: str, *, low: float, high: float | None,
            low_open: bool = False, nullable: bool = True) -> float | None:
    value = present(holder, name, where, nullable=nullable)
    path = join(where, name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EmulatorRefusal(f"{path}: must be a number", param=path)
    too_low = value <= low if low_open else value < low
    if too_low or (high is not None and value > high):
        bounds = f"greater than {low:g}" if low_open else f"at least {low:g}"
        if high is not None:
            bounds += f" and at most {high:g}"
        raise EmulatorRefusal(f"{path}: {value} must be {bounds}", param=path)
    return float(value)


def boolean(holder: dict[str, Any], name: str, where: str, *, nullable: bool = True) -> None:
    value = present(holder, name, where, nullable=nullable)
    if value is not None and not isinstance(value, bool):
        path = join(where, name)
        raise EmulatorRefusal(f"{path}: must be true or false", param=path)


def hex_colour(holder: dict[str, Any], name: str, where: str, *, required: bool) -> None:
    value = text(holder, name, where, required=required)
    if value is not None and not _HEX_COLOUR.fullmatch(value):
        path = join(where, name)
        raise EmulatorRefusal(f"{path}: {value!r} must be a colour in hex format, like '#1a2b3c'",
                      param=path)
