"""JSON Schema checks of the project file and of expanded bodies, as located messages."""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from vidbuild.resources import load_schema
from vidbuild.spec.load import Document, PathKey

if TYPE_CHECKING:
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

from vidbuild.errors import Diagnostic

PROJECT_SCHEMA = "project.schema.json"


@functools.cache
def validator(schema_name: str, pointer: str = "") -> Validator:
    """A compiled validator for a schema shipped in schemas/, or for the part of it at ``pointer``
    (a JSON pointer fragment such as ``#/properties/scenes/items``); built once per process."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    schema = load_schema(schema_name)
    if not pointer:
        return Draft202012Validator(schema)
    uri = schema.get("$id", schema_name)
    registry: Registry[Any] = Registry().with_resource(uri, Resource.from_contents(schema))
    return Draft202012Validator({"$ref": uri + pointer}, registry=registry)


# Violations that leave the document's shape intact: expansion can still run and find more.
_VALUE_KEYWORDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                             "multipleOf", "minLength", "maxLength", "pattern", "enum", "const",
                             "additionalProperties"})


def check_document(document: Document, schema_name: str = PROJECT_SCHEMA,
                   pointer: str = "") -> list[Diagnostic]:
    """Every schema violation in ``document``, each pointing at its line and column."""
    return schema_report(document, schema_name, pointer)[0]


def schema_report(document: Document, schema_name: str = PROJECT_SCHEMA,
                  pointer: str = "") -> tuple[list[Diagnostic], bool]:
    """The violations, and whether any of them breaks the document's shape (so expansion can't run)."""
    diagnostics = []
    structural = False
    if not pointer and _fast_validator(schema_name).is_valid(document.data):
        # As for bodies: the compiled validator answers the usual case (a valid project file)
        # without importing jsonschema and compiling the schema (a tenth of a second a run).
        return [], False
    for error in validator(schema_name, pointer).iter_errors(document.data):
        for path, message, at_key, keyword in _explain(error):
            where = spec_path(document.data, path)
            diagnostics.append(document.diagnostic(path, where, message, key=at_key))
            structural = structural or keyword not in _VALUE_KEYWORDS
    return sorted(diagnostics), structural


@functools.cache
def _fast_validator(schema_name: str) -> Any:
    import jsonschema_rs

    return jsonschema_rs.validator_for(load_schema(schema_name))


def body_is_valid(body: Mapping[str, Any], schema_name: str) -> bool:
    """Whether a body satisfies a request schema, from a compiled (Rust) validator: ~100x faster
    than jsonschema, used on every row; jsonschema then explains the bodies it rejects."""
    return bool(_fast_validator(schema_name).is_valid(body))


def body_errors(body: Mapping[str, Any], schema_name: str) -> Iterator[tuple[PathKey, str]]:
    """(path in body, message) for every violation of a request schema, and every number JSON
    can't carry (NaN passes ``minimum`` and ``maximum`` checks, yet no body may hold it)."""
    for error in validator(schema_name).iter_errors(body):
        for path, message, _, _ in _explain(error):
            yield path, message
    yield from _non_finite(body, ())


def _non_finite(value: Any, path: PathKey) -> Iterator[tuple[PathKey, str]]:
    if isinstance(value, float) and not math.isfinite(value):
        yield path, f"{value} is not a number JSON can carry"
    elif isinstance(value, Mapping):
        for name, item in value.items():
            yield from _non_finite(item, (*path, name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _non_finite(item, (*path, index))


def _explain(error: ValidationError) -> Iterator[tuple[PathKey, str, bool, str]]:
    """Turn one jsonschema error into (path, message, points-at-a-key, keyword) a person can act on."""
    path: PathKey = tuple(error.absolute_path)
    custom = error.schema.get("x-message") if isinstance(error.schema, dict) else None
    keyword = str(error.validator)
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        yield from _unknown_fields(error, path)
    elif keyword in ("anyOf", "oneOf") and error.context:
        branch = _matching_branch(error)
        if branch:
            for sub in branch:
                yield from _explain(sub)
        elif custom:
            yield path, custom, False, keyword
        else:
            yield path, f"{_show(error.instance)} is not {_expected(error)}", False, keyword
    elif custom and keyword in ("not", "anyOf", "oneOf", "allOf", "pattern"):
        yield path, custom, False, keyword
    else:
        yield path, _short_message(error), False, keyword


def _short_message(error: ValidationError) -> str:
    """jsonschema's message, with a long value (a 6,000-character script) cut down to its start."""
    instance = error.instance
    if error.validator == "maxLength" and isinstance(instance, str):
        return (f"{_show(instance)} is too long: {len(instance):,} characters, "
                f"more than the maximum of {error.validator_value:,}")
    if error.validator == "maxItems" and isinstance(instance, list):
        return f"{len(instance):,} items, more than the maximum of {error.validator_value:,}"
    return error.message.replace(repr(instance), _show(instance), 1)


def _unknown_fields(error: ValidationError, path: PathKey) -> Iterator[tuple[PathKey, str, bool, str]]:
    schema = error.schema if isinstance(error.schema, dict) else {}
    known = list(schema.get("properties", {}))
    instance: dict[str, Any] = error.instance  # type: ignore[assignment]
    for name in instance:
        if name in known:
            continue
        hint = difflib.get_close_matches(name, known, n=1)
        suffix = f"; did you mean '{hint[0]}'?" if hint else f" (known: {', '.join(known)})"
        yield (*path, name), f"unknown field '{name}'{suffix}", True, "additionalProperties"


def _matching_branch(error: ValidationError) -> list[ValidationError]:
    """Errors of the alternative whose type fits the value, e.g. the number branch for 3.5."""
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context or ():
        branches.setdefault(sub.schema_path[0], []).append(sub)
    fitting = [errors for errors in branches.values()
               if not any(e.validator in ("type", "enum", "const", "pattern") and
                          len(e.absolute_path) == len(error.absolute_path) for e in errors)]
    return fitting[0] if len(fitting) == 1 else []


def _expected(error: ValidationError) -> str:
    kinds = []
    options: list[dict[str, Any]] = error.validator_value  # type: ignore[assignment]
    for option in options:
        if "$ref" in option and option["$ref"].endswith("/template"):
            kinds.append("a template")
        elif "enum" in option:
            kinds.append("one of " + ", ".join(repr(v) for v in option["enum"]))
        elif "type" in option:
            kinds.append(f"of type {option['type']}")
        else:
            kinds.append("valid")
    return " or ".join(dict.fromkeys(kinds))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def spec_path(data: Any, path: PathKey) -> str:
    """Name a spot in the spec as a person would: ``scenes[intro].voice.speed``."""
    out = ""
    node = data
    for part in path:
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and part < len(node) else None
            label = _item_label(item, part)
            out += f"[{label}]"
            node = item
        else:
            out += f".{part}" if out else part
            node = node.get(part) if isinstance(node, dict) else None
    return out


def _item_label(item: Any, index: int) -> str:
    if isinstance(item, dict):
        for field_name in ("id", "use"):
            if isinstance(item.get(field_name), str):
                return str(item[field_name])
    return str(index)
