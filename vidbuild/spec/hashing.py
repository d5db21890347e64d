"""The content identity of a request body, stable across machines and runs."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from vidbuild.heygen.routes import endpoint_id

# Bump when the canonical form changes, so old cache entries stop matching instead of lying.
HASH_FORMAT = 1
# Fields for bookkeeping and delivery (vidbuild's callback_id, the user's webhook address); they
# never change what the API renders, so changing them must not make a built row look changed.
BOOKKEEPING_FIELDS = frozenset({"callback_id", "callback_url"})


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


# A video's title in the account carries a marker of its body's content hash, so a video can be
# tied back to its body (finding lost submissions, recovering state from the account). HeyGen
# documents no limit on a title's length (neither the legacy contract nor the v3 description has a
# maxLength), so appending 17 characters never makes a body invalid.
TITLE_MARKER_DIGITS = 12
_TITLE_MARKER = re.compile(r"\[vb:(?P<digits>[0-9a-f]{" + str(TITLE_MARKER_DIGITS) + r"})\]$")


def title_marker(content: str) -> str:
    """The marker for a content hash: ``[vb:`` + its first 12 hex digits + ``]``."""
    return f"[vb:{content[:TITLE_MARKER_DIGITS]}]"


def marked_title(title: str, content: str) -> str:
    """``title`` as sent: followed by a space and the hash's marker (``Welcome Ana [vb:3fa9c2d1e0b7]``)."""
    return f"{title} {title_marker(content)}"


def find_title_marker(title: str | None) -> str | None:
    """The 12 hex digits of the marker that ends ``title``, or None if it carries none."""
    found = _TITLE_MARKER.search(title or "")
    return found["digits"] if found else None


def unmarked_title(title: str) -> str:
    """``title`` without the marker (and the space before it) that ``marked_title`` appended."""
    found = _TITLE_MARKER.search(title)
    return title[:found.start()].removesuffix(" ") if found else title


def row_fingerprint(project: str, values: object) -> str:
    """sha256 (hex) of a ``project`` fingerprint (planner/fingerprint.py) and a row's values as
    read: ``repr`` tells '1' from 1 from 1.0 from True and keeps the columns' order (a template may
    iterate them). The hot loops that fingerprint every row (planner/fingerprint.py's
    ``KnownRows.page``, planner/taken_rows.py) inline this expression: a change here needs them too."""
    return hashlib.sha256(f"{project}\0{values!r}".encode("utf-8", "surrogatepass")).hexdigest()
