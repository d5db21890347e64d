"""Issue 14 (performance): the shortcuts taken for speed give exactly what the plain way gives."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from vidbuild import commands
from vidbuild.checksum import file_sha256
from vidbuild.planner.fields import changed_fields, field_digests
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
    for _ in range(3):   # the second and third times from the memos
        assert field_digests(body) == _reference_digests(body)
    # 1, 1.0 and True were told apart only by the memo's type: the same digest for 1 and 1.0
    # (one canonical number), another for True.
    digests = field_digests({"a": 1, "b": 1.0, "c": True})
    assert digests["a"] == digests["b"] != digests["c"]


def test_parts_shared_between_bodies_are_digested_at_each_path_they_hold() -> None:
    # As spec/templating.py shares a scene's static parts between rows: the same objects in
    # many bodies, here also at two paths of one body and under another name in others.
    character = {"type": "avatar", "avatar_id": "Daisy", "style": [1, {"a": None}]}
    scenes = [{"character": character, "voice": {"input_text": f"Hi {number}"}} for number in range(5)]
    bodies = [{"title": f"t{number}", "video_inputs": [scenes[number], {"character": character}]}
              for number in range(5)]
    bodies += [{"title": "other", "cast": character, "video_inputs": [{"character": character}]}] * 3
    for body in bodies * 2:
        assert field_digests(body) == _reference_digests(body)
    # Not "shared" by value: an equal but distinct part at the same path, and the part changed.
    twin = {**character, "avatar_id": "Mark"}
    assert field_digests({"cast": twin}) == _reference_digests({"cast": twin})
    assert field_digests({}) == _reference_digests({})


def test_changed_fields_name_changed_added_and_removed_paths() -> None:
    before = {"a": "1", "b": "2", "c": "3"}
    assert changed_fields(before, dict(before)) == []
    assert changed_fields(before, {"a": "1", "b": "x", "c": "3"}) == ["b"]
    assert changed_fields(before, {"a": "1", "c": "3"}) == ["b"]
    assert changed_fields(before, {"a": "1", "b": "2", "c": "3", "d": "4"}) == ["d"]
    assert changed_fields(before, {"a": "1", "d": "2", "c": "3"}) == ["b", "d"]    # renamed, same count
    assert changed_fields(before, {"e": "1"}) == ["a", "b", "c", "e"]
    assert changed_fields({}, {"a": "1"}) == ["a"] and changed_fields({"a": "1"}, {}) == ["a"]


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


def test_a_manifest_written_from_known_rows_keeps_every_checksum(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows reused as unchanged take their manifest entry from their known row: it must be the
    entry their record gives (the checksum lets a seeded state trust a restored file)."""
    monkeypatch.setenv("VIDBUILD_EMULATOR_SPEED", "0.001")
    root = tmp_path / "campaign"
    root.mkdir()
    (root / "vidbuild.yaml").write_text(textwrap.dedent(PROJECT), encoding="utf-8")
    _write_rows(root, ["Ana", "Ben", "Chloe"])
    _build(root)
    _write_rows(root, ["Ana", "Bea", "Chloe"])
    _build(root)                      # known rows written by a build that ran the engine
    first = json.loads((root / "out" / "manifest.json").read_text(encoding="utf-8"))["videos"]
    _write_rows(root, ["Ana", "Bea", "Cleo"])
    _build(root)                      # r1 and r2 reused from their known rows

    videos = json.loads((root / "out" / "manifest.json").read_text(encoding="utf-8"))["videos"]
    for video in videos:
        assert video["checksum"] == file_sha256(root / video["output"]), video
    assert videos[:2] == first[:2]
    with open(root / "out" / "manifest.csv", encoding="utf-8", newline="") as handle:
        assert [row["checksum"] for row in csv.DictReader(handle)] == [video["checksum"] for video in videos]


PROJECT = """\
    version: 1
    name: checksums
    data:
      source: rows.csv
      key: "{{ row.id }}"
    video:
      title: "Hi {{ row.name }}"
    defaults:
      avatar: {avatar_id: Daisy-inskirt-20220818}
      voice: {voice_id: 2d5b0e6cf36f460aa7fc47e3eee4ba54}
    scenes:
      - id: hello
        voice: {text: "Hi {{ row.name }}."}
    output: "out/{{ key }}.mp4"
"""


def _write_rows(root: Path, names: list[str]) -> None:
    lines = ["id,name", *(f"r{number},{name}" for number, name in enumerate(names, 1))]
    (root / "rows.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _build(root: Path) -> None:
    err = io.StringIO()
    assert commands.build(str(root), stderr=err) == 0, err.getvalue()


def test_the_manifest_writer_writes_what_json_dumps_would() -> None:
    from vidbuild.report.manifest import _JsonList

    items: list[dict[str, Any]] = [
        {"key": "r1", "status": "done", "size": 12783, "error": None, "checksum": "ab"},
        {"key": "Chloé \u2028 \"q\"", "size": 0, "ratio": 1.5, "flag": True, "error": None},
        {"key": "r3", "nested": {"a": [1, 2]}, "size": None}]
    stream = io.BytesIO()
    videos = _JsonList(stream, "näme", "emulator")
    for item in items:
        videos.add(item)
    videos.close()
    assert videos.position == len(stream.getvalue())
    expected = {"project": "näme", "api": "emulator", "videos": items}
    assert stream.getvalue().decode("utf-8") == json.dumps(expected, indent=2, ensure_ascii=False) + "\n"


def _mutations(body: Any, rng: Any) -> Any:
    """A copy of ``body`` with a few random edits: values changed (a number to a boolean too),
    names added and removed, lists grown and cut, a part turned into a leaf or an empty one."""
    if isinstance(body, dict):
        copy = {name: _mutations(value, rng) if rng.random() < 0.5 else value for name, value in body.items()}
        if copy and rng.random() < 0.15:
            del copy[rng.choice(sorted(copy))]
        if rng.random() < 0.1:
            copy[f"new{rng.randrange(3)}"] = rng.choice(["x", 1, {"deep": [1]}, [], {}])
        return copy
    if isinstance(body, list):
        copy = [_mutations(value, rng) if rng.random() < 0.5 else value for value in body]
        if rng.random() < 0.15:
            copy = copy[:-1] if copy and rng.random() < 0.5 else [*copy, "added"]
        return copy
    return rng.choice([body, body, f"{body}!", 1, True, 1.0, None, {}, [], {"was": body}])


def test_comparing_bodies_names_what_comparing_digests_names() -> None:
    import random

    from vidbuild.planner.fields import changed_since, key_entry

    rng = random.Random(14)
    base = {"title": "T", "flags": [1, 0, True, None], "empty": {}, "none": [],
            "video_inputs": [{"character": {"type": "avatar", "avatar_id": "Daisy"},
                              "voice": {"type": "text", "input_text": "Hi", "speed": 1.0}},
                             {"voice": {"type": "silence", "duration": 2}}]}
    compared = 0
    for _ in range(3000):
        before, after = _mutations(base, rng), _mutations(base, rng)
        expected = changed_fields(field_digests(before), field_digests(after))
        entry = key_entry("h", before)
        # The two bodies themselves, as a state reads them back (JSON), and the digests alone.
        read_back = KeyEntry("h", None, json.loads(json.dumps(before)))
        assert changed_since(read_back, after) == expected or _only_bool_hidden(before, after)
        assert changed_since(KeyEntry("h", entry.fields), after) == expected
        compared += expected != []
    assert compared > 2000


def _only_bool_hidden(before: Any, after: Any) -> bool:
    """Whether every path the body comparison leaves out is a number turned boolean (or back)
    inside a part == holds equal: the one case where it may name less than the digests
    (changed_since's docstring)."""
    from vidbuild.planner.fields import changed_since

    digests_only = set(changed_fields(field_digests(before), field_digests(after)))
    found = set(changed_since(KeyEntry("h", None, before), after))
    old, new = _leaves(before), _leaves(after)
    return bool(found) and found < digests_only and all(
        path in old and path in new and old[path] == new[path]
        and (type(old[path]) is bool) != (type(new[path]) is bool) for path in digests_only - found)


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        return {leaf: found for name, child in value.items()
                for leaf, found in _leaves(child, f"{path}.{name}" if path else name).items()}
    if isinstance(value, list) and value:
        return {leaf: found for index, child in enumerate(value)
                for leaf, found in _leaves(child, f"{path}[{index}]").items()}
    return {path: value}


def test_a_number_turned_boolean_is_named_when_nothing_else_changed() -> None:
    from vidbuild.planner.fields import changed_since

    # A leaf compared as a leaf (a dict's or a list's own item) is named beside other changes.
    assert changed_since(KeyEntry("h", None, {"a": 1, "x": "1"}), {"a": True, "x": "2"}) == ["a", "x"]
    assert changed_since(KeyEntry("h", None, {"l": [0, "1"]}), {"l": [False, "2"]}) == ["l[0]", "l[1]"]

    before = {"voice": {"speed": 1, "type": "text"}, "flags": [0]}
    assert changed_since(KeyEntry("h", None, before), {"voice": {"speed": True, "type": "text"},
                                                       "flags": [0]}) == ["voice.speed"]
    assert changed_since(KeyEntry("h", None, before), {"voice": {"speed": 1.0, "type": "text"},
                                                       "flags": [False]}) == ["flags[0]"]
