"""The content hash: canonical JSON, pinned values, and what does and doesn't change it."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest

from vidbuild.spec.hashing import HASH_FORMAT, canonical_json, content_hash

BODY: dict[str, Any] = {
    "title": "Welcome Ana",
    "dimension": {"width": 1280, "height": 720},
    "video_inputs": [{
        "character": {"type": "avatar", "avatar_id": "Daisy-inskirt-20220818", "avatar_style": "normal"},
        "voice": {"type": "text", "voice_id": "2d5b0e6cf36f460aa7fc47e3eee4ba54",
                  "input_text": "Hi Ana, welcome to Acme! Olá — ünïcode", "speed": 1.0},
        "background": {"type": "color", "value": "#0B1F3A"},
    }],
}
# Computed once and pinned: if this changes, every user's cache stops matching. Change it only
# together with HASH_FORMAT.
BODY_HASH = "df9bcaeb7442a17a6c95486072599527d0984981145a857d89cb5ae0b42d7f7b"


def test_canonical_json_sorts_keys_with_fixed_separators_and_raw_unicode() -> None:
    value = {"b": [1, 2.0, 2.5, {"z": None, "a": True}], "a": "é—ü"}
    assert canonical_json(value) == '{"a":"é—ü","b":[1,2,2.5,{"a":true,"z":null}]}'


def test_canonical_json_has_no_nan() -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_known_body_has_a_pinned_hash() -> None:
    assert HASH_FORMAT == 1
    assert content_hash("video", BODY) == BODY_HASH


def test_hash_is_sha256_over_format_endpoint_and_body() -> None:
    envelope = ('{"body":' + canonical_json(BODY) +
                ',"endpoint":"POST /v2/video/generate","format":1}')
    assert hashlib.sha256(envelope.encode("utf-8")).hexdigest() == BODY_HASH


def test_key_order_does_not_matter() -> None:
    reordered = {key: BODY[key] for key in reversed(list(BODY))}
    reordered["dimension"] = {"height": 720, "width": 1280}
    assert content_hash("video", reordered) == BODY_HASH


def test_callback_id_is_outside_the_hash() -> None:
    assert content_hash("video", {**BODY, "callback_id": "anything"}) == BODY_HASH


def test_a_webhook_address_is_outside_the_hash() -> None:
    # Where HeyGen reports completion changes nothing in the video: moving a webhook pays nothing.
    assert content_hash("video", {**BODY, "callback_url": "https://hooks.example.test/a"}) == BODY_HASH
    assert content_hash("agent", {"prompt": "p", "callback_url": "https://hooks.example.test/b"}) == \
        content_hash("agent", {"prompt": "p"})


def test_one_and_one_point_zero_are_the_same() -> None:
    body = copy.deepcopy(BODY)
    body["video_inputs"][0]["voice"]["speed"] = 1
    assert content_hash("video", body) == BODY_HASH


@pytest.mark.parametrize(("path", "value"), [
    (("title",), "Welcome Ana!"),
    (("dimension", "width"), 1920),
    (("video_inputs", 0, "voice", "speed"), 1.01),
    (("video_inputs", 0, "voice", "input_text"), "Hi Ana, welcome to Acme! Olá — ünïcode "),
    (("video_inputs", 0, "character", "avatar_style"), "circle"),
    (("video_inputs", 0, "background", "value"), "#0b1f3a"),
])
def test_any_change_that_reaches_the_api_changes_the_hash(path: tuple[Any, ...], value: Any) -> None:
    body = copy.deepcopy(BODY)
    node: Any = body
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    assert content_hash("video", body) != BODY_HASH


def test_added_field_changes_the_hash() -> None:
    assert content_hash("video", {**BODY, "caption": False}) != BODY_HASH
    assert content_hash("video", {**BODY, "test": True}) != BODY_HASH


def test_endpoint_is_part_of_the_hash() -> None:
    body = {"prompt": "A short intro"}
    assert content_hash("video", body) != content_hash("agent", body)
    assert content_hash("agent", body) == hashlib.sha256(
        b'{"body":{"prompt":"A short intro"},"endpoint":"POST /v1/video_agent/generate","format":1}'
    ).hexdigest()
