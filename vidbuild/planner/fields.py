"""Field digests: a short digest of every leaf of a body, keyed by its path, so that a plan can
name what changed in a row since the body last built for its key (``changed: voice.input_text``).

A plan where every row changed (a template edit) digests every row's body: the leaves most rows
share (IDs, colours, types) are digested once per process, not once per row. (Memoising the
parts rows share by reference, by their identity, was measured no faster: the checks cost what
they save.)
"""

from __future__ import annotations

import functools
import hashlib
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

from vidbuild.spec.hashing import canonical_json

Digests = dict[str, str]


def field_digests(body: dict[str, Any]) -> Digests:
    """The digest (12 hex digits of the sha256 of its canonical JSON) of every leaf of ``body``,
    by its path (``video_inputs[0].voice.input_text``); an empty dict or list is a leaf."""
    digests: Digests = {}
    _digest_leaves(body, "", digests)
    return digests


def changed_fields(before: Digests, after: Digests) -> list[str]:
    """The paths whose digests differ between ``before`` and ``after`` (or that only one has),
    sorted."""
    changed = [path for path, digest in after.items() if before.get(path) != digest]
    added = sum(1 for path in changed if path not in before)
    if len(before) != len(after) - added:      # some paths of ``before`` are gone
        changed += [path for path in before if path not in after]
    return sorted(changed)


def _digest_leaves(value: Any, path: str, digests: Digests) -> None:
    if type(value) is str:   # exactly str: the memo must not mix 1, 1.0, -0.0 and True
        digests[path] = _text_digest(value)
    elif isinstance(value, dict) and value:
        prefix = f"{path}." if path else ""
        for name, child in value.items():
            _digest_leaves(child, f"{prefix}{name}", digests)
    elif isinstance(value, list) and value:
        for index, child in enumerate(value):
            _digest_leaves(child, f"{path}[{index}]", digests)
    else:
        digests[path] = _scalar_digest(value)


@functools.lru_cache(maxsize=4096)
def _text_digest(text: str) -> str:
    # What _digest(text) gives, without json.dumps' setup: a string's canonical JSON
    # (ensure_ascii=False) is its quoted form, which encode_basestring writes.
    return hashlib.sha256(encode_basestring(text).encode()).hexdigest()[:12]


def _scalar_digest(value: Any) -> str:
    """``_digest`` of a leaf that is not a string, memoised by type and value for the few
    numbers, booleans and nulls that bodies share (1 and True are told apart by their types)."""
    if value is None or type(value) in (bool, int, float):
        memo = (type(value), value)
        digest = _SCALAR_DIGESTS.get(memo)
        if digest is None:
            if len(_SCALAR_DIGESTS) >= 4096:
                _SCALAR_DIGESTS.clear()
            digest = _SCALAR_DIGESTS[memo] = _digest(value)
        return digest
    return _digest(value)


_SCALAR_DIGESTS: dict[tuple[type, Any], str] = {}


def _digest(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:12]
