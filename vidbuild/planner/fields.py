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
from collections.abc import Mapping
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

from vidbuild.spec.hashing import canonical_json
from vidbuild.state.protocol import KeyEntry

Digests = dict[str, str]


def field_digests(body: dict[str, Any]) -> Digests:
    """The digest (12 hex digits of the sha256 of its canonical JSON) of every leaf of ``body``,
    by its path (``video_inputs[0].voice.input_text``); an empty dict or list is a leaf."""
    digests: Digests = {}
    _digest_leaves(body, "", digests)
    return digests


def key_entry(content_hash: str, body: dict[str, Any]) -> KeyEntry:
    """What ``State.remember_key`` keeps of the body built for a row key: its hash, its field
    digests (what older vidbuild versions compare) and the body itself."""
    return KeyEntry(content_hash, field_digests(body), body)


def changed_since(entry: KeyEntry, body: dict[str, Any]) -> list[str]:
    """The paths of the leaves that differ between the body ``entry`` remembers and ``body``,
    sorted, as ``changed_fields`` names them from digests. With the remembered body at hand the
    two bodies are compared, a part equal in both skipped whole (the digests of a body take ~10
    times as long); else ``entry.fields`` are compared with ``body``'s digests.

    Python's ``==`` holds 1 and True equal, canonical JSON does not: a leaf whose only change is
    from a number to a boolean (or back) inside a part that is otherwise unchanged is named only
    when nothing else changed (the digests are compared then). Where digests can't tell two
    shapes apart because their paths read the same (a name ``"a.b"`` and ``a`` holding ``b``),
    the bodies can, and name the path."""
    if entry.body is None:
        return changed_fields(entry.fields or {}, field_digests(body))
    changed: set[str] = set()
    if entry.body != body:
        _differences(entry.body, body, "", changed)
    if not changed:   # nothing, or a change == can't see (a number became a boolean)
        return changed_fields(field_digests(entry.body), field_digests(body))
    return sorted(changed)


def value_at(body: Mapping[str, Any], name: str) -> Any:
    """The leaf at a field path as ``field_digests`` names it, such as
    ``video_inputs[0].voice.input_text`` (None if absent)."""
    current: Any = body
    for part in name.replace("[", ".[").split("."):
        if not part:
            continue
        if part.startswith("["):
            index = int(part[1:-1])
            current = current[index] if isinstance(current, list) and index < len(current) else None
        else:
            current = current.get(part) if isinstance(current, dict) else None
    return current


def changed_fields(before: Digests, after: Digests) -> list[str]:
    """The paths whose digests differ between ``before`` and ``after`` (or that only one has),
    sorted."""
    changed = [path for path, digest in after.items() if before.get(path) != digest]
    added = sum(1 for path in changed if path not in before)
    if len(before) != len(after) - added:      # some paths of ``before`` are gone
        changed += [path for path in before if path not in after]
    return sorted(changed)


def _differences(before: Any, after: Any, path: str, changed: set[str]) -> None:
    """Add to ``changed`` the leaf paths at or under ``path`` where ``before`` and ``after`` differ
    (the leaves of both sides where their shapes differ). The caller saw them differ."""
    if isinstance(before, dict) and isinstance(after, dict) and before and after:
        prefix = f"{path}." if path else ""
        kept = 0
        for name, child in after.items():
            old = before.get(name, _ABSENT)
            if old is _ABSENT:
                _leaf_paths(child, prefix + name, changed)
                continue
            kept += 1
            if old != child or (type(old) is bool) is not (type(child) is bool):
                _differences(old, child, prefix + name, changed)
        if kept != len(before):   # some names of ``before`` are gone
            for name, old in before.items():
                if name not in after:
                    _leaf_paths(old, prefix + name, changed)
    elif isinstance(before, list) and isinstance(after, list) and before and after:
        for index, (old, child) in enumerate(zip(before, after, strict=False)):
            if old != child or (type(old) is bool) is not (type(child) is bool):
                _differences(old, child, f"{path}[{index}]", changed)
        longer = before if len(before) > len(after) else after
        for index in range(min(len(before), len(after)), len(longer)):
            _leaf_paths(longer[index], f"{path}[{index}]", changed)
    else:
        _leaf_paths(before, path, changed)
        _leaf_paths(after, path, changed)


_ABSENT = object()


def _leaf_paths(value: Any, path: str, paths: set[str]) -> None:
    """Add the paths of ``value``'s leaves, as ``field_digests`` names them, to ``paths``."""
    if isinstance(value, dict | list) and value:   # rare: a part added or gone
        leaves: Digests = {}
        _digest_leaves(value, path, leaves)
        paths.update(leaves)
    else:
        paths.add(path)


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
