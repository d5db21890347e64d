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


def canonical_json(value: Any) -> str:
    """Sorted keys, fixed separators, no NaN; 1.0 and 1 are the same number to the API, so one form."""
    return json.dumps(_normalise(value), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False)


def content_hash(kind: str, body: Mapping[str, Any]) -> str:
    """sha256 (hex) over the format version, the endpoint and the body without bookkeeping fields."""
    payload = {key: value for key, value in body.items() if key not in BOOKKEEPING_FIELDS}
    envelope = {"format": HASH_FORMAT, "endpoint": endpoint_id(kind), "body": payload}
    return hashlib.sha256(canonical_json(envelope).encode("utf-8")).hexdigest()


def _normalise(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    return value
