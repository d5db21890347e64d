"""Issue 14 (performance): the shortcuts taken for speed give exactly what the plain way gives."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from vidbuild.planner.decide import field_digests
from vidbuild.spec.hashing import canonical_json
from vidbuild.state.disk import FETCH_PAGE, DiskState
from vidbuild.state.protocol import KeyEntry, Record


def _reference_digests(value: Any, path: str = "") -> dict[str, str]:
    """field_digests as first written: every leaf's canonical JSON, hashed."""
    if isinstance(value, dict) and value:
        found: dict[str, str] = {}
        for name, child in value.items():
            found.update(_reference_digests(child, f"{path}.{name}" if path else name))
        return found
    if isinstance(value, list) and value:
        found = {}
        for index, child in enumerate(value):
            found.update(_reference_digests(child, f"{path}[{index}]"))
        return found
    return {path: hashlib.sha256(canonical_json(value).encode()).hexdigest()[:12]}


def test_field_digests_match_the_canonical_json_of_every_leaf() -> None:
    body = {"title": "Chloé \u2028 \"quoted\" \\ 😀 \x01", "n": [1, 1.0, -0.0, 0, True, False, None, 2.5],
            "empty": {}, "none": [], "nested": {"a": [{"b": "1"}, {"b": 1}, {"b": True}]},
            "big": 10 ** 30, "float": 1e300}
    for _ in range(2):   # the second time from the memos
        assert field_digests(body) == _reference_digests(body)
    # 1, 1.0 and True were told apart only by the memo's type: the same digest for 1 and 1.0
    # (one canonical number), another for True.
    digests = field_digests({"a": 1, "b": 1.0, "c": True})
    assert digests["a"] == digests["b"] != digests["c"]


def test_batched_reads_find_what_single_reads_find(tmp_path: Path) -> None:
    state = DiskState(tmp_path / ".vidbuild", "emulator")
    try:
        hashes = [f"{number:064x}" for number in range(FETCH_PAGE + 7)]
        for number, content_hash in enumerate(hashes[::2]):
            state.record(Record(hash=content_hash, key=f"k{number}", kind="video", status="submitted",
                                owner=state.owner, output=f"out/k{number}.mp4", video_id=f"v{number}"))
            state.remember_key(f"k{number}", KeyEntry(content_hash, {"title": "abc"}))
        found = state.get_many(hashes)
        assert sorted(found) == sorted(hashes[::2])
        assert all(found.get(h) == state.get(h) for h in hashes)
        keys = [f"k{number}" for number in range(len(hashes))]
        entries = state.for_keys(keys)
        assert entries == {key: state.for_key(key) for key in keys if state.for_key(key) is not None}
        assert len(entries) == len(hashes[::2])
        assert state.get_many([]) == {} and state.for_keys([]) == {}
    finally:
        state.close()
