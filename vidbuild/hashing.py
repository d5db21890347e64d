"""Hash stage: the content identity of a request body, stable across machines and runs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from vidbuild.api import endpoint_id

# Bump when the canonical form changes, so old cache entries stop matching instead of lying.
HASH_FORMAT = 1
# Fields vidbuild sets for its own bookkeeping; they never change what the API renders.
BOOKKEEPING_FIELDS = frozenset({"callback_id"})


def canonical_json(value: Any, *, is_canonical: bool = False) -> str:
    """Sorted keys, fixed separators, no NaN; 1.0 and 1 are the same number to the API, so one form.

    ``is_canonical`` skips the walk that rewrites 1.0 as 1, for values built canonical already.
    """
    return json.dumps(value if is_canonical else canonical_value(value), sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def content_hash(kind: str, body: Mapping[str, Any], *, is_canonical: bool = False) -> str:
    """sha256 (hex) over the format version, the endpoint and the body without bookkeeping fields."""
    payload = {key: value for key, value in body.items() if key not in BOOKKEEPING_FIELDS}
    envelope = {"format": HASH_FORMAT, "endpoint": endpoint_id(kind), "body": payload}
    text = canonical_json(envelope, is_canonical=is_canonical)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_value(value: Any) -> Any:
    """The value with every integral float written as an int (and tuples as lists)."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        return {str(k): canonical_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical_value(v) for v in value]
    return value
