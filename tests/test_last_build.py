"""A build of every row after a complete build takes its unchanged rows from that build's last
rows (planner/last_build.py): no state lookup for them, their manifest entries copied as bytes.

Each test builds the small project of test_incremental.py on the in-process emulator, changes
something, and checks which rows were looked up in state or rendered, and that the manifest is
byte for byte what a build that decides every row from state writes.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
from pathlib import Path

import pytest
import test_incremental
from test_incremental import KEYS, ROWS, build, built_once, write_rows

from vidbuild import commands
from vidbuild.errors import ProjectError
from vidbuild.state.disk import DiskState

project = test_incremental.project     # the fixtures: the small project, the rows it rendered
rendered = test_incremental.rendered


@pytest.fixture
def looked_up(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many fingerprints each known-row lookup asked state for, since the test began."""
    asked: list[int] = []
    known_rows = DiskState.known_rows

    def counted(self: DiskState, fingerprints: list[str]) -> object:
        asked.append(len(fingerprints))
        return known_rows(self, fingerprints)

    monkeypatch.setattr(DiskState, "known_rows", counted)
    return asked


def manifests(project: Path) -> tuple[bytes, bytes]:
    return ((project / "out" / "manifest.json").read_bytes(), (project / "out" / "manifest.csv").read_bytes())


def as_decided_from_state(project: Path) -> tuple[bytes, bytes]:
    """The manifest a build of a copy of ``project`` writes: in another directory, no snapshot is
    in force and no row's fingerprint matches (the project file's path is part of it), so every
    row is rendered and decided from its record in state (the outputs keep their mtimes)."""
    copy = project.with_name(project.name + "-copy")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(project, copy, symlinks=True)
    err = io.StringIO()
    assert commands.build(str(copy), stderr=err) == 0, err.getvalue()
    assert "0 built" in err.getvalue()
    return manifests(copy)


def test_an_edited_row_is_the_only_one_looked_up_and_the_manifest_is_as_state_gives_it(
        project: Path, rendered: list[str], looked_up: list[int]) -> None:
    built_once(project, rendered)
    write_rows(project, [ROWS[0], ("r2", "Bea", "basic"), *ROWS[2:]])
    looked_up.clear()
    assert build(project, rendered) == (["r2"], 1)
    assert sum(looked_up) == 1           # the three others came from the last build, not from state
    after = manifests(project)
    assert json.loads(after[0])["videos"][1]["title"] == "Hi Bea"
    assert as_decided_from_state(project) == after

    # The next edit follows the build just made (its places in the manifest, its new row).
    write_rows(project, [("r1", "Abe", "pro"), ("r2", "Bea", "basic"), *ROWS[2:]][::-1])
    looked_up.clear()
    assert build(project, rendered) == (["r1"], 1)
    assert sum(looked_up) == 1
    videos = json.loads(manifests(project)[0])["videos"]
    assert [video["key"] for video in videos] == KEYS[::-1]
    assert manifests(project) == as_decided_from_state(project)


def test_a_manifest_written_over_since_is_not_copied_from(
        project: Path, rendered: list[str], looked_up: list[int]) -> None:
    built_once(project, rendered)
    path = project / "out" / "manifest.json"
    stat = path.stat()
    data = path.read_bytes().replace(b'"done"', b'"DONE"')
    path.unlink()
    path.write_bytes(data)                       # same size, same mtime, another file
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    write_rows(project, [ROWS[0], ("r2", "Bea", "basic"), *ROWS[2:]])
    looked_up.clear()
    assert build(project, rendered) == (["r2"], 1)
    assert sum(looked_up) == 4                   # decided from state, as before
    assert b'"DONE"' not in manifests(project)[0]


@pytest.mark.parametrize("rows, problem", [
    ([*ROWS, ROWS[1]], "duplicate key 'r2'"),                         # the same row twice
    ([("r3", "Ana", "pro"), *ROWS[1:]], "duplicate key 'r3'"),        # an edit takes a later row's key
])
def test_rows_taken_from_the_last_build_are_still_unique(
        project: Path, rendered: list[str], rows: list[tuple[str, ...]], problem: str) -> None:
    built_once(project, rendered)
    write_rows(project, rows)
    with pytest.raises(ProjectError, match=problem):
        commands.build(str(project), stderr=io.StringIO())


def test_a_touched_or_missing_output_is_decided_in_full(project: Path, rendered: list[str]) -> None:
    built_once(project, rendered)
    (project / "out" / "r3.mp4").unlink()
    os.utime(project / "out" / "r4.mp4", ns=(0, 0))
    write_rows(project, [ROWS[0], ("r2", "Bea", "basic"), *ROWS[2:]])
    # r2 sent, r3 fetched again; r4 rendered and found the same bytes by the full check.
    assert build(project, rendered) == (["r2", "r3", "r4"], 2)
    assert (project / "out" / "r3.mp4").is_file()
    assert manifests(project) == as_decided_from_state(project)


def test_thumbnails_and_chosen_columns_are_copied_as_state_gives_them(
        project: Path, rendered: list[str], looked_up: list[int]) -> None:
    spec = project / "vidbuild.yaml"
    spec.write_text(spec.read_text(encoding="utf-8") + 'thumbnail: "th/{{ key }}.jpg"\n'
                    "manifest: {columns: [name, plan]}\n", encoding="utf-8")
    write_rows(project, [("r1", '"Zoë, ""Z"""', "pro"), *ROWS[1:]])
    assert build(project, rendered)[1] == 4
    write_rows(project, [("r1", '"Zoë, ""Z"""', "pro"), ("r2", "Bea", "basic"), *ROWS[2:]])
    looked_up.clear()
    assert build(project, rendered) == (["r2"], 1)
    assert sum(looked_up) == 1
    videos = json.loads(manifests(project)[0])["videos"]
    assert [video["thumbnail"] for video in videos] == [f"th/{key}.jpg" for key in KEYS]
    assert videos[0]["columns"] == {"name": "Zoë, \"Z\"", "plan": "pro"}
    assert manifests(project) == as_decided_from_state(project)
    (project / "th" / "r4.jpg").unlink()        # a missing thumbnail: the row is decided in full
    write_rows(project, [("r1", '"Zoë, ""Z"""', "pro"), ("r2", "Bo", "basic"), *ROWS[2:]])
    assert build(project, rendered) == (["r2", "r4"], 2)
    assert (project / "th" / "r4.jpg").is_file()


def test_a_duplicate_is_blamed_on_the_later_row_as_plan_blames_it(project: Path, rendered: list[str]) -> None:
    built_once(project, rendered)
    write_rows(project, [("r3", "Ana", "pro"), *ROWS[1:]])   # the first row takes r3's key
    with pytest.raises(ProjectError) as planned:
        commands.plan(str(project), stdout=io.StringIO())
    with pytest.raises(ProjectError) as built:
        commands.build(str(project), stderr=io.StringIO())
    assert str(built.value) == str(planned.value)
    assert "rows.csv:4" in str(built.value) and "(first at" in str(built.value)


def test_a_snapshot_of_another_layout_or_a_changed_rows_file_is_none(
        project: Path, rendered: list[str], looked_up: list[int]) -> None:
    from vidbuild.heygen.backend import backend_namespace
    from vidbuild.planner.up_to_date import SNAPSHOT

    built_once(project, rendered)
    rows_file = next((project / ".vidbuild" / "last-build").glob("*.rows"))
    data = bytearray(rows_file.read_bytes())
    data[data.index(b"\n") + 9] ^= 1                 # one bit of the first row's numbers
    rows_file.write_bytes(bytes(data))
    write_rows(project, [ROWS[0], ("r2", "Bea", "basic"), *ROWS[2:]])
    looked_up.clear()
    assert build(project, rendered) == (["r2"], 1)
    assert sum(looked_up) == 4                       # decided from state
    assert manifests(project) == as_decided_from_state(project)

    state = DiskState(project / ".vidbuild", backend_namespace())
    try:                                             # an earlier layout's entry: no last rows
        snapshot = state.get_meta(SNAPSHOT)
        snapshot["last_rows"] = 3
        state.set_meta(SNAPSHOT, snapshot)
    finally:
        state.close()
    err = io.StringIO()
    assert commands.build(str(project), stderr=err) == 0, err.getvalue()
    assert err.getvalue().splitlines()[-1] == "0 built, 4 up to date, 0 failed"


@pytest.mark.parametrize("write", [
    lambda path: path.write_bytes(path.read_bytes().replace(b'"done"', b'"DONE"')),   # in place
    lambda path: os.truncate(path, 10),
], ids=["rewritten", "truncated"])
def test_a_manifest_written_to_while_a_build_copies_from_it_stops_that_copy(
        project: Path, rendered: list[str], write: object) -> None:
    from vidbuild.errors import ManifestChangedError
    from vidbuild.heygen.backend import backend_namespace
    from vidbuild.planner.last_build import LastBuild

    built_once(project, rendered)
    state = DiskState(project / ".vidbuild", backend_namespace())
    try:
        last = LastBuild.load(state, project)
        assert last is not None
        with last:
            json_text, csv_text, spans = last.block(0, 4)
            assert json.loads(b"[" + json_text + b"]")[3]["key"] == "r4"
            assert json.loads(json_text[spans[12]:spans[12] + spans[13]])["key"] == "r4"   # its own span
            assert csv_text[spans[14]:spans[14] + spans[15]].startswith(b"r4,")
            assert csv_text.decode().splitlines()[0].startswith("r1,")
            write(project / "out" / "manifest.json")   # type: ignore[operator]
            with pytest.raises(ManifestChangedError, match=r"manifest\.json was written to"):
                last.block(0, 4)
    finally:
        state.close()


def test_a_manifest_another_build_renames_over_meanwhile_is_still_read_as_it_was(
        project: Path, rendered: list[str]) -> None:
    from vidbuild.heygen.backend import backend_namespace
    from vidbuild.planner.last_build import LastBuild

    built_once(project, rendered)
    before = manifests(project)
    state = DiskState(project / ".vidbuild", backend_namespace())
    try:
        last = LastBuild.load(state, project)
        assert last is not None
        with last:
            other = project / "out" / ".other.tmp"
            other.write_bytes(b"{}")
            os.replace(other, project / "out" / "manifest.json")   # as another build's manifest lands
            json_text, csv_text, _ = last.block(0, 4)
    finally:
        state.close()
    assert json_text in before[0] and csv_text in before[1] and len(json_text) > 100


def test_taken_rows_name_their_directories_for_the_manifest_and_the_leftovers(
        project: Path, rendered: list[str]) -> None:
    # r2's output directory is first seen as r1's thumbnails' (its paths checked once): it is still
    # one of the outputs' directories, where the manifest goes (their shared parent) and leftovers
    # of a killed build are removed.
    spec = project / "vidbuild.yaml"
    text = spec.read_text(encoding="utf-8").replace('output: "out/{{ key }}.mp4"',
                                                    'output: "out/{{ row.plan }}/{{ key }}.mp4"')
    spec.write_text(text + 'thumbnail: "out/basic/{{ key }}.jpg"\n', encoding="utf-8")
    assert build(project, rendered)[1] == 4
    write_rows(project, [*ROWS[:2], ("r3", "Cleo", "pro"), ROWS[3]])
    leftover = project / "out" / "basic" / ".r2.mp4.0123abcd.part"
    leftover.write_bytes(b"cut short")
    assert build(project, rendered) == (["r3"], 1)
    assert not leftover.exists()
    assert not (project / "out" / "pro" / "manifest.json").exists()
    assert json.loads(manifests(project)[0])["videos"][2]["title"] == "Hi Cleo"
    assert manifests(project) == as_decided_from_state(project)


def refusing(number: int) -> object:
    """A copy_file_range that fails with the error ``number``."""
    def copy(*_: object) -> int:
        raise OSError(number, os.strerror(number))
    return copy


def partial_then_refused(real: object) -> object:
    """A copy_file_range that copies 7 bytes, then says this file system can't."""
    calls: list[int] = []

    def copy(source: int, target: int, count: int, offset_src: int | None = None) -> int:
        calls.append(count)
        if len(calls) > 1:
            raise OSError(errno.EXDEV, "cross-device")
        return real(source, target, min(count, 7), offset_src)   # type: ignore[operator, no-any-return]
    return copy


def partial_then_nothing(real: object) -> object:
    """A copy_file_range that copies 7 bytes, then copies nothing (returns 0), without an error."""
    calls: list[int] = []

    def copy(source: int, target: int, count: int, offset_src: int | None = None) -> int:
        calls.append(count)
        return 0 if len(calls) > 1 else real(source, target, min(count, 7), offset_src)  # type: ignore[operator, no-any-return]
    return copy


@pytest.mark.parametrize("kernel", ["copy_file_range", "partial, then EXDEV", "partial, then 0", "ENOSYS",
                                    "absent"])
def test_a_block_copied_into_the_new_manifest_is_the_block_as_read(
        project: Path, rendered: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        kernel: str) -> None:
    from vidbuild.heygen.backend import backend_namespace
    from vidbuild.planner.last_build import LastBuild

    built_once(project, rendered)
    if kernel == "partial, then EXDEV":
        monkeypatch.setattr(os, "copy_file_range", partial_then_refused(os.copy_file_range))
    elif kernel == "partial, then 0":   # as some file systems answer, without an error
        monkeypatch.setattr(os, "copy_file_range", partial_then_nothing(os.copy_file_range))
    elif kernel == "ENOSYS":
        monkeypatch.setattr(os, "copy_file_range", refusing(errno.ENOSYS))
    elif kernel == "absent":
        monkeypatch.delattr(os, "copy_file_range")
    state = DiskState(project / ".vidbuild", backend_namespace())
    try:
        last = LastBuild.load(state, project)
        assert last is not None
        with last, open(tmp_path / "json", "xb") as json_file, open(tmp_path / "csv", "xb") as csv_file:
            json_text, csv_text, spans = last.block(1, 3)
            json_file.write(b"before,")
            copied = last.copy_block(1, 3, json_file, csv_file)
            assert json_file.tell() == len(b"before,") + len(json_text)   # the file's own position
            json_file.write(b",after")
            csv_file.write(b"next line\n")
    finally:
        state.close()
    assert copied == (len(json_text), len(csv_text), spans)
    assert (tmp_path / "json").read_bytes() == b"before," + json_text + b",after"
    assert (tmp_path / "csv").read_bytes() == csv_text + b"next line\n"
    assert json_text.startswith(b"{") and b'"key": "r2"' in json_text and csv_text.startswith(b"r2,")


@pytest.mark.parametrize("write", [
    lambda path: path.write_bytes(path.read_bytes().replace(b'"done"', b'"DONE"')),   # in place
    lambda path: os.truncate(path, 10),
], ids=["rewritten", "truncated"])
def test_a_manifest_written_to_before_its_block_is_copied_is_not_copied(
        project: Path, rendered: list[str], tmp_path: Path, write: object) -> None:
    from vidbuild.errors import ManifestChangedError
    from vidbuild.heygen.backend import backend_namespace
    from vidbuild.planner.last_build import LastBuild

    built_once(project, rendered)
    state = DiskState(project / ".vidbuild", backend_namespace())
    try:
        last = LastBuild.load(state, project)
        assert last is not None
        with last, open(tmp_path / "json", "xb") as json_file, open(tmp_path / "csv", "xb") as csv_file:
            write(project / "out" / "manifest.json")   # type: ignore[operator]
            with pytest.raises(ManifestChangedError, match=r"manifest\.json was written to"):
                last.copy_block(0, 4, json_file, csv_file)
    finally:
        state.close()


def test_a_failing_copy_that_is_not_a_missing_kernel_copy_is_raised(
        project: Path, rendered: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vidbuild.heygen.backend import backend_namespace
    from vidbuild.planner.last_build import LastBuild

    built_once(project, rendered)
    monkeypatch.setattr(os, "copy_file_range", refusing(errno.ENOSPC))
    state = DiskState(project / ".vidbuild", backend_namespace())
    try:
        last = LastBuild.load(state, project)
        assert last is not None
        with last, open(tmp_path / "json", "xb") as json_file, open(tmp_path / "csv", "xb") as csv_file:
            with pytest.raises(OSError, match="No space left"):
                last.copy_block(0, 4, json_file, csv_file)
    finally:
        state.close()
