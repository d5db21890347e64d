"""Nothing lost or paid twice at the edges: the base URL, outputs, state, temp files, downloads, the key.

Builds run as the real CLI (a subprocess) or through ``commands`` in this process, against the
emulator behind a real loopback socket, with real state on disk.
"""

from __future__ import annotations

import fcntl
import io
import os
import shutil
import signal
import struct
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from buildkit import (
    LoopbackHeyGen,
    manifest,
    rows,
    run_vidbuild,
    start_vidbuild,
    write_project,
    write_rows,
)

import vidbuild
import vidbuild.heygen.client._http
from vidbuild import cli
from vidbuild.emulator import EmulatorConfig
from vidbuild.emulator.media import stamped
from vidbuild.errors import StateError, UsageError
from vidbuild.heygen import routes
from vidbuild.heygen.client import DamagedDownloadError, HeyGenClient
from vidbuild.heygen.client._media import jpeg_problem, mp4_problem
from vidbuild.heygen.routes import normalize_base_url
from vidbuild.planner.decide import Summary
from vidbuild.planner.row_index import IndexEntry
from vidbuild.report.manifest import write_manifest
from vidbuild.report.progress import PlainReporter
from vidbuild.state.disk import DiskState
from vidbuild.state.location import namespace_for

KEYS = [row["id"] for row in rows(4)]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "campaign", rows(4))


def files_of(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` (symlinks not followed), by relative path."""
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*"))
            if path.is_file() and not path.is_symlink()}


def untouched(root: Path, before: dict[str, bytes]) -> bool:
    """Whether every file of ``before`` is still there with the same bytes (state may be new)."""
    now = files_of(root)
    return {name: now.get(name) for name in before} == before


# -- 1. one API, one state -----------------------------------------------------------------------

def test_every_spelling_of_one_api_names_one_state(project: Path, heygen: LoopbackHeyGen) -> None:
    first = run_vidbuild("build", str(project), env=heygen.env())
    assert first.code == 0, first.stderr
    host_port = heygen.url.removeprefix("http://")
    spellings = [f"{heygen.url}/", f"HTTP://{host_port}", f"{heygen.url}//", f"  {heygen.url}/ \t",
                 f"Http://{host_port}///"]

    for spelling in spellings:
        again = run_vidbuild("build", str(project), env=heygen.env(HEYGEN_API_BASE=spelling))
        assert again.code == 0, (spelling, again.stderr)
        assert "up to date" in again.stderr, (spelling, again.stderr)

    assert len(heygen.submits()) == len(KEYS)
    # Beside the namespaces: last-build (the last complete build's rows), project.parsed (a file).
    namespaces = [path.name for path in (project / ".vidbuild").iterdir() if path.name != "last-build"
                  and path.is_dir()]
    assert namespaces == [namespace_for(heygen.url)]
    assert sorted(path.name for path in (project / ".vidbuild").iterdir() if not path.is_dir()) \
        == ["project.parsed"]


@pytest.mark.parametrize("spelling", [
    "https://api.heygen.com", "https://api.heygen.com/", "HTTPS://API.HEYGEN.COM", "https://api.heygen.com:443",
    "https://api.heygen.com:443//", " https://api.heygen.com.\n", "https://Api.HeyGen.com/./"])
def test_spellings_of_heygen_normalize_to_one_url(spelling: str) -> None:
    assert normalize_base_url(spelling) == "https://api.heygen.com"
    assert namespace_for(spelling) == namespace_for("https://api.heygen.com")


def test_a_path_prefix_and_a_port_other_than_the_default_name_other_apis() -> None:
    assert normalize_base_url("http://127.0.0.1:80//proxy//heygen/") == "http://127.0.0.1/proxy/heygen"
    assert normalize_base_url("http://127.0.0.1:443") == "http://127.0.0.1:443"
    names = {namespace_for(url) for url in ("http://h", "http://h/proxy", "https://h", "http://h:8080")}
    assert len(names) == 4


@pytest.mark.parametrize("spelling", ["ftp://api.heygen.com", "https://", "https://user:pw@api.heygen.com",
                                      "https://api.heygen.com?x=1", "https://api.heygen.com#top",
                                      "https://api heygen.com", "https://api.heygen.com:99999"])
def test_a_base_url_that_is_not_one_is_refused_before_anything_is_sent(
        spelling: str, project: Path, heygen: LoopbackHeyGen) -> None:
    with pytest.raises(UsageError):
        normalize_base_url(spelling)
    result = run_vidbuild("build", str(project), env=heygen.env(HEYGEN_API_BASE=spelling))
    assert result.code == 2, result.stderr
    assert "API base URL" in result.stderr and "Traceback" not in result.stderr
    assert heygen.requests() == []


# -- 3. outputs never overwrite the project ------------------------------------------------------

def set_output(root: Path, template: str) -> None:
    text = (root / "vidbuild.yaml").read_text(encoding="utf-8")
    (root / "vidbuild.yaml").write_text(text.replace('output: "out/{{ key }}.mp4"', f'output: "{template}"'),
                                        encoding="utf-8")


@pytest.mark.parametrize(("template", "message"), [
    ("rows.csv", "is the data source rows.csv"),
    ("vidbuild.yaml", "is the project file vidbuild.yaml"),
    ("sub/../VIDBUILD.YAML", "is the project file vidbuild.yaml"),
    ("templates/{{ key }}.mp4", "is inside the templates directory"),
    (".vidbuild/{{ key }}.mp4", "is inside the state directory"),
    (".vidbuild", "is inside the state directory"),
    (".gitignore", "is the project's .gitignore"),
    ("out/manifest.json", "is where vidbuild writes its manifest"),
    ("{{ key }}/Manifest.CSV", "is where vidbuild writes its manifest"),
])
def test_an_output_over_the_projects_own_files_is_refused_at_validate_time(
        template: str, message: str, project: Path, heygen: LoopbackHeyGen,
        capsys: pytest.CaptureFixture[str]) -> None:
    write_rows(project, rows(1))
    set_output(project, template)
    (project / "templates").mkdir()
    before = files_of(project)

    code = cli.main(["build", str(project)])

    err = capsys.readouterr().err
    assert code == 2, err
    line = next(n for n, text in enumerate((project / "vidbuild.yaml").read_text().splitlines(), 1)
                if text.startswith("output:"))
    assert f"vidbuild.yaml:{line}:9: output: output path " in err
    assert f"{message}: vidbuild would overwrite it (row r01 at " in err
    assert heygen.requests() == []
    assert untouched(project, before)


def test_the_state_directory_is_protected_wherever_it_is(project: Path, heygen: LoopbackHeyGen,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    set_output(project, "store/{{ key }}.mp4")

    assert cli.main(["build", str(project), "--state-dir", str(project / "store")]) == 2
    assert "is inside the state directory" in capsys.readouterr().err
    monkeypatch.setenv("VIDBUILD_STATE_DIR", str(project / "store"))
    assert cli.main(["validate", str(project)]) == 2
    assert "is inside the state directory" in capsys.readouterr().err
    monkeypatch.delenv("VIDBUILD_STATE_DIR")
    assert cli.main(["validate", str(project)]) == 0
    assert heygen.requests() == []


def test_an_output_through_a_symlink_onto_the_data_file_is_refused(
        project: Path, heygen: LoopbackHeyGen, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "out").symlink_to(project, target_is_directory=True)
    set_output(project, "out/rows.csv")
    write_rows(project, rows(1))

    assert cli.main(["build", str(project)]) == 2
    assert "output path 'out/rows.csv' is the data source rows.csv" in capsys.readouterr().err
    assert heygen.requests() == []


def test_a_manifest_that_would_land_on_the_data_file_is_refused(
        project: Path, heygen: LoopbackHeyGen, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "rows.csv").rename(project / "manifest.csv")
    text = (project / "vidbuild.yaml").read_text().replace("source: rows.csv", "source: manifest.csv")
    (project / "vidbuild.yaml").write_text(text)
    set_output(project, "{{ key }}.mp4")
    before = files_of(project)

    assert cli.main(["build", str(project)]) == 2

    err = capsys.readouterr().err
    assert ": output: the manifest manifest.csv is the data source manifest.csv: vidbuild would " \
           "overwrite it" in err
    assert untouched(project, before) and heygen.requests() == []


def test_compile_out_refuses_to_write_over_the_projects_own_files(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "templates").mkdir()
    (project / "templates" / "r01.json").write_text("{}")

    assert cli.main(["compile", str(project), "--out", str(project / "templates")]) == 2

    assert "r01.json is inside the templates directory: not writing any request body" in \
        capsys.readouterr().err
    assert [p.name for p in (project / "templates").iterdir()] == ["r01.json"]
    assert (project / "templates" / "r01.json").read_text() == "{}"


class SwapsBetweenThePasses(PlainReporter):
    """Runs ``swap`` when the build reports its plan: every row is validated and planned, and
    the build is about to read them again to act."""

    def __init__(self, stream: io.StringIO, swap: Callable[[], object]) -> None:
        super().__init__(stream)
        self.swap = swap

    def planned(self, summary: Summary) -> None:
        self.swap()
        super().planned(summary)


def test_an_output_dir_swapped_for_a_symlink_mid_build_never_overwrites_the_data(
        project: Path, heygen: LoopbackHeyGen) -> None:
    write_rows(project, [{"id": "rows", "name": "Ana", "line": "hi"}])
    set_output(project, "out/{{ key }}.csv")   # out/rows.csv: fine while out/ is a directory
    (project / "out").mkdir()
    data = (project / "rows.csv").read_bytes()

    def swap() -> None:   # validated and planned: now out/ leads to the project directory
        (project / "out").rmdir()
        (project / "out").symlink_to(project, target_is_directory=True)

    err = io.StringIO()
    state = vidbuild.open_state(project)
    try:
        code = vidbuild.build(project, state=state, reporter=SwapsBetweenThePasses(err, swap)).exit_code
    finally:
        state.close()

    assert code == 3, err.getvalue()
    assert "is the data source rows.csv" in err.getvalue()
    assert (project / "rows.csv").read_bytes() == data
    assert not (project / "manifest.csv").exists() or (project / "manifest.csv").read_bytes() != data


def test_the_manifest_is_not_written_through_a_symlink_out_of_the_project(tmp_path: Path) -> None:
    root, outside = tmp_path / "project", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (root / "out").symlink_to(outside, target_is_directory=True)   # swapped in after validation
    state = DiskState(root / ".vidbuild", "emulator")
    try:
        with pytest.raises(Exception, match="outside the project"):
            write_manifest(root, "campaign", lambda: [IndexEntry("a", "h" * 64, "out/a.mp4")], state)
    finally:
        state.close()
    assert list(outside.iterdir()) == []


# -- 5. state that vanishes is noticed -----------------------------------------------------------

def test_a_store_deleted_or_replaced_under_an_open_state_refuses_to_write(tmp_path: Path) -> None:
    root = tmp_path / ".vidbuild"
    state = DiskState(root, "ns")
    state.claim("a" * 64, "r01", "video", title=None, output="out/r01.mp4")
    shutil.rmtree(root)
    try:
        with pytest.raises(StateError, match="deleted or replaced"):
            state.claim("b" * 64, "r02", "video", title=None, output="out/r02.mp4")
        replacement = DiskState(root, "ns")   # a new, empty store at the same place
        replacement.close()
        with pytest.raises(StateError, match="deleted or replaced"):
            state.set_meta("x", 1)
    finally:
        state.close()


def test_deleting_the_state_during_a_build_stops_it_before_sending_more(
        project: Path, heygen: LoopbackHeyGen) -> None:
    write_rows(project, rows(12))
    heygen.restart(speed=0.05)   # renders take a couple of seconds: the build is mid-way for a while
    build = start_vidbuild("build", str(project), "-j", "2", env=heygen.env())
    deadline = time.monotonic() + 30
    while len(heygen.submits()) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    shutil.rmtree(project / ".vidbuild")
    removed_at = time.time()
    _, err = build.communicate(timeout=60)

    assert build.returncode == 3, err
    assert "was deleted or replaced" in err and "Traceback" not in err
    late = [r for r in heygen.submits() if r.at > removed_at + 0.5]
    assert late == [], "a build whose state vanished went on sending"
    assert len(heygen.submits()) < 12


# -- 6. twin rows, concurrent builds, leftovers --------------------------------------------------

def twin_rows(count: int) -> list[dict[str, str]]:
    """``count`` rows with one identical body: one video, ``count`` files."""
    return [{"id": f"t{n:02d}", "name": "Same", "line": "hello"} for n in range(1, count + 1)]


def test_concurrent_builds_copying_twin_rows_all_finish(project: Path, heygen: LoopbackHeyGen) -> None:
    count = 200
    write_rows(project, twin_rows(count))
    assert run_vidbuild("build", str(project), env=heygen.env()).code == 0
    outputs = [project / "out" / f"t{n:02d}.mp4" for n in range(1, count + 1)]
    for output in outputs[1:]:
        output.unlink()   # each build now copies the one left to every other row, at once

    builds = [start_vidbuild("build", str(project), "-j", "8", env=heygen.env()) for _ in range(3)]
    results = [(b.wait(timeout=120), b.communicate()[1]) for b in builds]

    for code, err in results:
        assert code == 0, err
    assert {output.read_bytes() for output in outputs} == {outputs[0].read_bytes()}
    assert len(heygen.submits()) == 1
    assert [p.name for p in (project / "out").iterdir() if p.name.startswith(".")] == []


LEFTOVERS = (".r01.mp4.0a1b2c3d.part", ".r02.mp4.deadbeef.copy", ".manifest.json.ab_cd123.tmp",
             ".manifest.csv.x1y2z3w4.tmp")
NOT_OURS = (".r01.mp4.part", "notes.part", ".r01.mp4.0A1B2C3D.part", "keep.tmp", ".manifest.json.tmp")


def plant(directory: Path, names: tuple[str, ...]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_bytes(b"half")


def test_a_build_cleans_the_temporary_files_of_killed_builds_and_nothing_else(
        project: Path, heygen: LoopbackHeyGen) -> None:
    plant(project / "out", LEFTOVERS + NOT_OURS)
    plant(project / "elsewhere", LEFTOVERS)

    assert run_vidbuild("build", str(project), env=heygen.env()).code == 0

    hidden = sorted(p.name for p in (project / "out").iterdir() if not p.name.endswith(".mp4")
                    or p.name.startswith("."))
    assert hidden == sorted((*NOT_OURS, "manifest.csv", "manifest.json", "run_results.json"))
    assert sorted(p.name for p in (project / "elsewhere").iterdir()) == sorted(LEFTOVERS)


def test_leftovers_stay_while_another_build_of_the_project_runs(
        project: Path, heygen: LoopbackHeyGen) -> None:
    plant(project / "out", LEFTOVERS)
    descriptor = os.open(project, os.O_RDONLY)
    fcntl.flock(descriptor, fcntl.LOCK_SH)   # what a running build holds
    try:
        assert run_vidbuild("build", str(project), env=heygen.env()).code == 0
    finally:
        os.close(descriptor)
    assert all((project / "out" / name).exists() for name in LEFTOVERS)


def test_a_download_killed_midway_leaves_a_part_file_the_next_build_removes(
        project: Path, heygen: LoopbackHeyGen) -> None:
    heygen.restart(faults={"slow:files": 1.0}, slow_seconds=60.0)
    build = start_vidbuild("build", str(project), env=heygen.env())
    deadline = time.monotonic() + 30
    while not list((project / "out").glob(".*.part")) and time.monotonic() < deadline:
        time.sleep(0.02)
    parts = list((project / "out").glob(".*.part"))
    build.send_signal(signal.SIGKILL)
    build.communicate(timeout=10)
    assert parts, "the build never started a download"

    heygen.restart()
    result = run_vidbuild("build", str(project), env=heygen.env())

    assert result.code == 0, result.stderr
    assert list((project / "out").glob(".*")) == []
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, KEYS)


# -- 7. downloads are verified -------------------------------------------------------------------

def test_every_cut_of_an_mp4_except_at_a_box_boundary_is_found() -> None:
    data = stamped("v1", "mp4")
    boundaries, offset = set(), 0
    while offset < len(data):
        offset += struct.unpack(">I", data[offset:offset + 4])[0]
        boundaries.add(offset)
    missed = []
    for cut in range(0, len(data)):
        path = Path(os.environ.get("TMPDIR", "/tmp")) / f"vidbuild-cut-{os.getpid()}.mp4"
        path.write_bytes(data[:cut])
        if mp4_problem(path) is None:
            missed.append(cut)
        path.unlink()
    # Only a cut exactly between two top-level boxes after the media leaves a well-formed file.
    assert set(missed) <= boundaries and len(missed) <= 1


def test_an_mp4_needs_ftyp_one_moov_and_mdat(tmp_path: Path) -> None:
    def box(kind: bytes, payload: bytes = b"") -> bytes:
        return struct.pack(">I", 8 + len(payload)) + kind + payload

    cases = {b"": "ftyp", box(b"moov") + box(b"ftyp"): "ftyp", box(b"ftyp") + box(b"mdat"): "moov",
             box(b"ftyp") + box(b"moov"): "mdat", box(b"ftyp") + box(b"moov", b"\0\0\0\x20mvhd") +
             box(b"mdat"): "moov", b"<html>error</html>": "ftyp"}
    for data, word in cases.items():
        path = tmp_path / "v.mp4"
        path.write_bytes(data)
        assert word in (mp4_problem(path) or "") or "box" in (mp4_problem(path) or ""), data
    path.write_bytes(box(b"ftyp") + box(b"moov", box(b"mvhd")) + struct.pack(">I", 1) + b"mdat" +
                     struct.pack(">Q", 16))
    assert mp4_problem(path) is None
    jpeg = tmp_path / "t.jpg"
    jpeg.write_bytes(stamped("v1", "jpg"))
    assert jpeg_problem(jpeg) is None
    jpeg.write_bytes(stamped("v1", "jpg")[:-7])
    assert "EOI" in (jpeg_problem(jpeg) or "")


def test_a_download_cut_off_without_content_length_is_not_kept(tmp_path: Path) -> None:
    whole = stamped("v1", "mp4")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=httpx.ByteStream(whole[:5000]))   # no Content-Length

    client = HeyGenClient("https://api.heygen.com", "key-123", transport=httpx.MockTransport(handler))
    with pytest.raises(DamagedDownloadError, match="not whole"):
        client.download("https://files.example/v1.mp4?sig=1", tmp_path / "out" / "v1.mp4", media="mp4")
    assert list((tmp_path / "out").iterdir()) == []


def test_the_truncate_fault_cuts_files_only() -> None:
    config = EmulatorConfig.parse("truncate_download=0.3,echo_key=1")
    assert config.fault_rate("truncate_download", "files") == 0.3
    assert config.fault_rate("truncate_download", "status") == 0.0
    assert config.fault_rate("echo_key", "files") == 0.0
    with pytest.raises(ValueError, match="only applies to file downloads"):
        EmulatorConfig.parse("truncate_download:status=1")


def test_downloads_cut_off_mid_stream_are_fetched_again(project: Path, heygen: LoopbackHeyGen) -> None:
    write_rows(project, rows(12))
    heygen.restart(faults={"truncate_download": 0.5}, seed=5)

    result = run_vidbuild("build", str(project), env=heygen.env())

    assert result.code == 0, result.stderr
    cut = [r for r in heygen.requests() if r.fault == "truncate_download"]
    assert len(cut) >= 3
    assert "not whole" in result.stderr
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, [row["id"] for row in rows(12)])
    again = run_vidbuild("build", str(project), env=heygen.env())
    assert again.code == 0 and "up to date" in again.stderr


# -- 11. the key never leaks through a reply -----------------------------------------------------

SECRET = "sk-vidbuild-edge-7f3a9c1e5b20d4"


def test_a_key_echoed_by_the_api_reaches_no_output_and_no_file(project: Path, heygen: LoopbackHeyGen) -> None:
    heygen.restart(faults={"render_fail": 1.0, "echo_key": 1.0})
    env = heygen.env(HEYGEN_API_KEY=SECRET)
    # The fault does echo it: a raw status reply carries the key.
    build = run_vidbuild("build", str(project), "-j", "4", env=env)
    video_id = heygen.emulator.videos()[0].video_id
    raw = httpx.get(f"{heygen.url}{routes.STATUS_ROUTE}", params={"video_id": video_id},
                    headers={"X-Api-Key": SECRET}).text
    assert SECRET in raw

    shown = [build.stdout, build.stderr]
    for args in (["build", "--json"], ["plan"], ["plan", "--json"], ["status"], ["status", "--json"],
                 ["build", "-n"]):
        result = run_vidbuild(*args, str(project), env=env)
        shown += [result.stdout, result.stderr]

    assert build.code == 1, build.stderr
    assert "HeyGen failed the render" in build.stderr and "***" in build.stderr
    for text in shown:
        assert SECRET not in text
    assert manifest(project)["r01"]["error"] and "***" in manifest(project)["r01"]["error"]
    for path in project.rglob("*"):   # outputs, manifests and every file of the state
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_scrub_data_reaches_every_string_of_a_reply() -> None:
    auth = vidbuild.heygen.client._auth.ApiKeyAuth("k3y+/=")
    reply = {"a": ["x k3y+/= y", {"k3y+/=": "k3y%2B%2F%3D"}], "n": 1, "b": None}
    assert auth.scrub_data(reply) == {"a": ["x *** y", {"***": "***"}], "n": 1, "b": None}
