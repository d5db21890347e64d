"""A project file parsed before is taken from the state directory (pipeline/parsed_projects.py):
exactly as parsing it gives it, never for another file or another vidbuild, and a cache that
can't be read or written, or holds anything but an entry of the shape written, is a miss, never an
error."""

from __future__ import annotations

import io
import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest

from vidbuild import commands
from vidbuild.errors import ProjectError
from vidbuild.pipeline import parsed_projects
from vidbuild.pipeline.parsed_projects import CACHE_FILE, parsed_project
from vidbuild.planner import fingerprint
from vidbuild.spec import load
from vidbuild.spec.project import Project, load_project

# Values whose types a cache must keep apart (1, 1.0 and True are equal in Python), a block
# scalar, an anchor, a date that stays text and a zip code's leading zero.
PROJECT = """\
version: 1
name: cached
vars:
  one: 1
  one_point_oh: 1.0
  yes_flag: true
  zip: "00501"
  plain_zip: 00501
  when: 2024-01-05
  big: 1e23
  list: [1, "1", 1.5, false, null]
  shared: &shared {avatar_id: Daisy-inskirt-20220818}
  again: *shared
data:
  key: "{{ row.customer_id }}"
  rows:
    - {customer_id: "c1", first_name: Ana}
defaults:
  avatar: {avatar_id: Daisy-inskirt-20220818}
  voice: {voice_id: 2d5b0e6cf36f460aa7fc47e3eee4ba54}
scenes:
  - id: intro
    voice:
      text: |
        Hi {{ row.first_name }},
        welcome.
output: "out/{{ key }}.mp4"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "vidbuild.yaml").write_text(PROJECT, encoding="utf-8")
    (tmp_path / ".vidbuild").mkdir()
    return tmp_path


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The YAML texts parsed since the test began."""
    seen: list[str] = []
    real = load._parse

    def counted(text: str, display: str) -> Any:
        seen.append(text)
        return real(text, display)

    monkeypatch.setattr(load, "_parse", counted)
    return seen


def typed(value: Any) -> Any:
    """``value`` with every scalar's type beside it: == then tells 1 from 1.0 from True."""
    if isinstance(value, dict):
        return ("dict", [(typed(key), typed(item)) for key, item in value.items()])
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [typed(item) for item in value])
    if isinstance(value, (set, frozenset)):
        return ("set", sorted(map(repr, value)))
    return (type(value).__name__, value)


def as_parsed(project: Project) -> Any:
    """Everything a parse gives, with exact types."""
    document = project.document
    return typed((document.display, document.data, document.values, document.keys, document.block_scalars,
                  str(project.file), str(project.root), repr(project.value_errors)))


def test_an_unchanged_project_file_is_parsed_once_and_taken_as_parsed(project: Path,
                                                                      parses: list[str]) -> None:
    first = parsed_project(project, project / ".vidbuild")
    second = parsed_project(project, project / ".vidbuild")
    assert len(parses) == 1
    assert as_parsed(second) == as_parsed(first) == as_parsed(load_project(project))
    assert typed(second.spec["vars"]["list"]) == typed([1, "1", 1.5, False, None])
    assert [type(second.spec["vars"][name]) for name in ("one", "one_point_oh", "yes_flag", "plain_zip")] \
        == [int, float, bool, str]
    assert second.document.locate(("scenes", 0, "voice", "text")) == (24, 13)   # its "|"
    assert ("scenes", 0, "voice", "text") in second.document.block_scalars


def test_any_change_to_the_file_parses_it_again(project: Path, parses: list[str]) -> None:
    parsed_project(project, project / ".vidbuild")
    file = project / "vidbuild.yaml"
    file.write_text(PROJECT.replace("zip: \"00501\"", "zip: \"00502\""), encoding="utf-8")
    assert parsed_project(project, project / ".vidbuild").spec["vars"]["zip"] == "00502"
    file.write_text(PROJECT.replace("\n", "\r\n"), encoding="utf-8")   # the same YAML, other bytes
    crlf = parsed_project(project, project / ".vidbuild")
    assert len(parses) == 3
    assert as_parsed(crlf) == as_parsed(load_project(project))   # read as read_text reads it
    assert crlf.spec["scenes"][0]["voice"]["text"] == "Hi {{ row.first_name }},\nwelcome.\n"


def test_another_vidbuild_parses_it_again(project: Path, parses: list[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    parsed_project(project, project / ".vidbuild")
    monkeypatch.setattr(fingerprint, "__version__", "99.0.0")
    fingerprint.code_fingerprint.cache_clear()
    try:
        parsed_project(project, project / ".vidbuild")
    finally:
        fingerprint.code_fingerprint.cache_clear()
    assert len(parses) == 2


# What a damaged or hostile file may hold: marshal data that crashed the interpreter (a tuple
# holding a set that refers back to it) or asked for 2**31 items, JSON of the wrong shape, JSON
# nested past the recursion limit, bytes that are no text.
MARSHAL_CRASH = b"\xa8" + struct.pack("<i", 1) + b"<" + struct.pack("<i", 1) + b"r" + struct.pack("<i", 0)


@pytest.mark.parametrize("kept", [b"", b"\x00garbage", MARSHAL_CRASH, b"(" + struct.pack("<i", 0x7fffffff),
                                  b"[1, 2, 3]", b'{"format": 2}', b"[" * 100_000, b"\xff" * 40,
                                  b'{"format": 2, "key": "k", "data": {}, "values": [[["a"], 1]], '
                                  b'"keys": [], "block_scalars": []}'])
def test_a_cache_file_that_is_not_an_entry_is_a_miss(project: Path, parses: list[str], kept: bytes) -> None:
    (project / ".vidbuild" / CACHE_FILE).write_bytes(kept)
    assert as_parsed(parsed_project(project, project / ".vidbuild")) == as_parsed(load_project(project))
    assert len(parses) == 2   # here, and load_project's


@pytest.mark.parametrize("make", ["fifo", "symlink", "directory", "too large"])
def test_a_cache_entry_that_is_no_regular_file_of_a_sane_size_is_not_read(
        project: Path, parses: list[str], monkeypatch: pytest.MonkeyPatch, make: str) -> None:
    parsed_project(project, project / ".vidbuild")
    cache = project / ".vidbuild" / CACHE_FILE
    good = cache.read_bytes()
    cache.unlink()
    if make == "fifo":
        os.mkfifo(cache)   # a read would wait for a writer forever
    elif make == "symlink":
        (project / "elsewhere.json").write_bytes(good)
        cache.symlink_to(project / "elsewhere.json")
    elif make == "directory":
        cache.mkdir()
    else:
        cache.write_bytes(good)
        monkeypatch.setattr(parsed_projects, "MAX_BYTES", len(good) - 1)
    assert parsed_project(project, project / ".vidbuild").name == "cached"
    assert len(parses) == 2


def test_an_entry_for_other_bytes_is_not_taken_and_a_taken_one_is_checked(project: Path,
                                                                          parses: list[str]) -> None:
    parsed_project(project, project / ".vidbuild")
    cache = project / ".vidbuild" / CACHE_FILE
    entry = json.loads(cache.read_bytes())
    # The entry of this very file, with other data: taken only while the key is the file's (the
    # state directory is trusted, as it is for what was paid for), and checked against the schema.
    entry["data"]["name"] = "forged"
    cache.write_text(json.dumps(entry), encoding="utf-8")
    assert parsed_project(project, project / ".vidbuild").name == "forged"
    entry["data"]["scenes"] = 5   # no project's shape: parsed again, never an internal error
    cache.write_text(json.dumps(entry), encoding="utf-8")
    assert parsed_project(project, project / ".vidbuild").spec["scenes"][0]["id"] == "intro"
    (project / "vidbuild.yaml").write_text(PROJECT + "\n", encoding="utf-8")
    assert parsed_project(project, project / ".vidbuild").name == "cached"
    assert len(parses) == 3


def test_nothing_is_kept_without_a_state_directory_or_for_a_file_with_value_errors(
        project: Path, parses: list[str]) -> None:
    missing = project / "elsewhere"
    parsed_project(project, missing)
    assert not missing.exists()
    (project / "vidbuild.yaml").write_text(PROJECT.replace("version: 1", "version: 1\nmax_credits: -5"),
                                           encoding="utf-8")
    loaded = parsed_project(project, project / ".vidbuild")
    assert loaded.value_errors   # reported by the build with the rows' problems, parsed each time
    assert not (project / ".vidbuild" / CACHE_FILE).exists()


def test_a_cache_that_cannot_be_written_is_no_error(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    assert parsed_project(project, project / ".vidbuild").name == "cached"
    assert list((project / ".vidbuild").iterdir()) == []   # no temporary file left


def test_a_broken_project_file_is_reported_as_before(project: Path) -> None:
    (project / "vidbuild.yaml").write_text("version: 1\nname: [unclosed\n", encoding="utf-8")
    with pytest.raises(ProjectError, match=r"vidbuild\.yaml:3:1: invalid YAML"):
        parsed_project(project, project / ".vidbuild")
    (project / "vidbuild.yaml").write_bytes(b"version: 1\nname: caf\xe9\n")
    with pytest.raises(ProjectError, match="cannot read file"):
        parsed_project(project, project / ".vidbuild")


def test_a_build_and_a_plan_take_the_parsed_project(project: Path, parses: list[str]) -> None:
    err = io.StringIO()
    assert commands.build(str(project), stderr=err) == 0, err.getvalue()
    (project / "vidbuild.yaml").write_text(PROJECT.replace("welcome.", "welcome!"), encoding="utf-8")
    parses.clear()
    assert commands.plan(str(project), stdout=io.StringIO()) == 0
    assert commands.build(str(project), stderr=err) == 0
    assert len(parses) == 1   # the plan parsed the edited file; the build took it as parsed
    assert "1 built" in err.getvalue().splitlines()[-1]
    kept = json.loads((project / ".vidbuild" / CACHE_FILE).read_bytes())
    assert kept["format"] == parsed_projects.FORMAT
    assert kept["data"]["scenes"][0]["voice"]["text"].endswith("welcome!\n")
