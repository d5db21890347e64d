"""Adversarial review of issue 11 ("nothing lost, nothing paid twice, at the edges"): held-out variants.

Each test reproduces a fault found by trying to break the fixes with cases their own tests did not
use: real builds as subprocesses against the emulator behind a loopback socket, real state on disk.
"""

from __future__ import annotations

import io
import signal
import stat
import time
from collections import Counter
from pathlib import Path
from typing import Any

import diskcache
import httpx
import pytest
from buildkit import LoopbackHeyGen, rows, run_vidbuild, start_vidbuild, unstamped, write_project

import vidbuild.heygen.client._http
from vidbuild import commands
from vidbuild.heygen.routes import normalize_base_url
from vidbuild.planner.up_to_date import input_files
from vidbuild.state.disk import DiskState
from vidbuild.state.location import namespace_for


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "campaign", rows(3))


# -- 1. spellings of one base URL ----------------------------------------------------------------

@pytest.mark.parametrize(("spelling", "canonical"), [
    # RFC 3986 §6.2.2.1-2: percent-encoding hex digits are case-insensitive, and an encoded
    # unreserved character is the character itself.
    ("https://proxy.example/%7Eheygen", "https://proxy.example/~heygen"),
    ("https://proxy.example/%7eheygen", "https://proxy.example/~heygen"),
    ("https://proxy.example/%68eygen/", "https://proxy.example/heygen"),
    ("https://proxy.example/a%2fb", "https://proxy.example/a%2Fb"),
    # An encoded dot is a dot: a dot segment, removed (§6.2.2.3 after §6.2.2.2).
    ("https://api.heygen.com/%2e/", "https://api.heygen.com"),
    ("https://api.heygen.com/v/%2E%2E", "https://api.heygen.com"),
    # One IPv6 address, however it is written (RFC 5952's canonical text form).
    ("http://[0:0:0:0:0:0:0:1]:8765", "http://[::1]:8765"),
    ("http://[::0001]:8765/", "http://[::1]:8765"),
    ("http://[2001:DB8::1]", "http://[2001:db8::1]"),
])
def test_equivalent_spellings_of_a_base_url_name_one_state(spelling: str, canonical: str) -> None:
    assert normalize_base_url(spelling) == normalize_base_url(canonical)
    assert namespace_for(spelling) == namespace_for(canonical)


# -- 2. inputs edited: build, build -q and plan must agree ---------------------------------------

def include_through_symlinked_templates(root: Path) -> Path:
    """Scenes that include ``shared/line.txt`` from ``templates/shared``, a symlink to ``../shared``
    (a directory of snippets several projects share); returns the included file."""
    shared = root.parent / "shared"
    shared.mkdir()
    (shared / "line.txt").write_text("welcome!", encoding="utf-8")
    (root / "templates").mkdir()
    (root / "templates" / "shared").symlink_to(shared, target_is_directory=True)
    project_file = root / "vidbuild.yaml"
    text = project_file.read_text(encoding="utf-8")
    project_file.write_text(text.replace("{{ row.line }}", "{% include 'shared/line.txt' %}"),
                            encoding="utf-8")
    return shared / "line.txt"


def test_an_edited_template_in_a_symlinked_templates_directory_is_not_up_to_date(
        project: Path, heygen: LoopbackHeyGen) -> None:
    snippet = include_through_symlinked_templates(project)
    assert run_vidbuild("build", str(project), env=heygen.env()).code == 0

    snippet.write_text("see you soon!", encoding="utf-8")

    planned = run_vidbuild("plan", str(project), env=heygen.env())
    assert planned.code == 0 and "3 submit" in planned.stdout, planned.stdout
    assert run_vidbuild("build", "-q", str(project), env=heygen.env()).code == 1
    rebuilt = run_vidbuild("build", str(project), env=heygen.env())
    assert rebuilt.code == 0, rebuilt.stderr
    assert len(heygen.submits()) == 6


def test_a_symlink_loop_in_the_templates_directory_is_listed_once(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    (templates / "intro").mkdir(parents=True)
    (templates / "intro" / "a.txt").write_text("a", encoding="utf-8")
    (templates / "intro" / "again").symlink_to(templates, target_is_directory=True)

    listed = input_files(tmp_path / "vidbuild.yaml", None, [templates])

    assert listed == sorted([str(tmp_path / "vidbuild.yaml"), str(templates / "intro" / "a.txt")])


# -- 3. outputs onto the project's own files -----------------------------------------------------

def test_an_output_onto_a_template_reached_through_a_symlink_is_refused(
        project: Path, heygen: LoopbackHeyGen) -> None:
    # Per-row snippets in shared/, which the templates directory links to: an output template
    # naming shared/ would overwrite what the scenes include.
    snippets = project / "shared"
    snippets.mkdir()
    for key in ("r01", "r02", "r03"):
        (snippets / f"{key}.txt").write_text(f"hello {key}", encoding="utf-8")
    (project / "templates").mkdir()
    (project / "templates" / "shared").symlink_to(snippets, target_is_directory=True)
    project_file = project / "vidbuild.yaml"
    text = project_file.read_text(encoding="utf-8")
    project_file.write_text(text.replace("{{ row.line }}", "{% include 'shared/' ~ key ~ '.txt' %}")
                            .replace('output: "out/{{ key }}.mp4"', 'output: "shared/{{ key }}.txt"'),
                            encoding="utf-8")
    before = {path.name: path.read_bytes() for path in snippets.iterdir()}

    built = run_vidbuild("build", str(project), env=heygen.env())

    assert built.code == 2, built.stderr
    assert "vidbuild would overwrite it" in built.stderr
    assert heygen.submits() == []
    assert {path.name: path.read_bytes() for path in snippets.iterdir()} == before


# -- 9. lost replies while the list lags: at most one extra video per body ------------------------

@pytest.mark.parametrize("api", ["legacy", "auto"])   # legacy: no Idempotency-Key to lean on
def test_a_build_killed_while_resending_a_lost_submission_does_not_let_the_next_send_a_third(
        tmp_path: Path, api: str) -> None:
    # Scaled by 0.1, the first lookup waits 3 s and the second 6 s more, so a list lagging 8 s
    # (under the 9 s the README names) may cost one extra video, never two. Every reply is lost
    # (2 s late, then dropped); the build is killed while its resend's reply is still on its way.
    project = write_project(tmp_path / "campaign", rows(1))
    heygen = LoopbackHeyGen(tmp_path / "heygen", faults={"drop_after:submit": 1.0, "slow:submit": 1.0},
                            slow_seconds=2.0, list_lag=8.0)
    try:
        pace = heygen.env(VIDBUILD_TIMING_SCALE="0.1")
        first = start_vidbuild("build", "--api", api, str(project), env=pace)
        try:
            deadline = time.monotonic() + 60
            while len(heygen.submits()) < 2 and first.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            first.kill()
            first.communicate()
        assert len(heygen.submits()) == 2

        heygen.restart(list_lag=8.0)
        rerun = run_vidbuild("build", "--api", api, str(project), env=pace)

        assert rerun.code == 0, rerun.stderr
        # Videos made, not requests: a v3 resend under its Idempotency-Key replays, it makes none.
        assert len(heygen.emulator.videos()) <= 2, rerun.stderr
        assert "never reached HeyGen" not in rerun.stderr
    finally:
        heygen.close()


def test_the_manifest_gets_the_usual_permissions_as_the_videos_do(project: Path,
                                                                  heygen: LoopbackHeyGen) -> None:
    # Whoever may read the videos (a web server, a CI artifact step) may read their manifest.
    built = run_vidbuild("build", str(project), env=heygen.env())
    assert built.code == 0, built.stderr

    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in (project / "out").iterdir()}
    assert modes["manifest.json"] == modes["manifest.csv"] == modes["r01.mp4"], modes


@pytest.mark.parametrize("output", ["rows.csv/{{ key }}.mp4", "notes.txt/{{ key }}.mp4",
                                    "vidbuild.yaml/{{ key }}.mp4", "out/notes.txt/{{ key }}/v.mp4"])
def test_an_output_below_a_file_is_refused_before_anything_is_sent(
        project: Path, heygen: LoopbackHeyGen, output: str) -> None:
    # A directory is needed where a file is: the video could never be written, so it must not be paid.
    (project / "notes.txt").write_text("keep", encoding="utf-8")
    (project / "out").mkdir()
    (project / "out" / "notes.txt").write_text("keep", encoding="utf-8")
    project_file = project / "vidbuild.yaml"
    text = project_file.read_text(encoding="utf-8")
    project_file.write_text(text.replace('output: "out/{{ key }}.mp4"', f'output: "{output}"'),
                            encoding="utf-8")
    blocker = output.split("/{{")[0]

    for command in ("validate", "build"):
        run = run_vidbuild(command, str(project), env=heygen.env())

        assert run.code == 2, run.stderr
        assert "Traceback" not in run.stderr and "internal error" not in run.stderr
        assert (f"vidbuild.yaml:16:9: output: output path '{output.replace('{{ key }}', 'r01')}' "
                f"needs {blocker} to be a directory, but it is a file (row r01 at ") in run.stderr
    assert heygen.requests() == []
    assert (project / "notes.txt").read_text(encoding="utf-8") == "keep"


# -- 8. nothing waits past --render-timeout -----------------------------------------------------

def test_status_replies_slower_than_the_read_timeout_stop_at_the_render_timeout(
        project: Path, heygen: LoopbackHeyGen, monkeypatch: pytest.MonkeyPatch) -> None:
    heygen.restart(faults={"slow:status": 1.0}, slow_seconds=1.0)
    for name, value in heygen.env().items():
        if name.startswith(("HEYGEN_", "VIDBUILD_")):
            monkeypatch.setenv(name, value)
    monkeypatch.setattr(vidbuild.heygen.client._http, "READ_TIMEOUT", httpx.Timeout(0.2))
    monkeypatch.setattr(vidbuild.heygen.client._http, "backoff", lambda attempt, random: 0.002 * attempt)
    err = io.StringIO()

    code = commands.build(str(project), render_timeout=0.5, stderr=err)

    assert code == 3, err.getvalue()
    given_up = [line for line in unstamped(err.getvalue()) if "after 0.5 s (--render-timeout)" in line]
    assert sorted(line.split(":")[0] for line in given_up) == ["r01", "r02", "r03"], err.getvalue()
    assert "stopped" not in err.getvalue().splitlines()[-1]
    assert len(heygen.submits()) == 3


@pytest.mark.parametrize("api", ["legacy", "auto"])   # legacy: no Idempotency-Key to lean on
def test_twin_rows_of_a_lost_reply_resend_their_body_at_most_once(tmp_path: Path, api: str) -> None:
    # Scaled by 0.05: lookups after 1.5 s, then 3 s more; the list lags 2 s (under the 4.5 s bound).
    data = [{"id": f"r{n:02d}", "name": f"Name{n % 2}", "line": "hi"} for n in range(1, 5)]
    project = write_project(tmp_path / "campaign", data)   # r01/r03 and r02/r04 are twins
    heygen = LoopbackHeyGen(tmp_path / "heygen", faults={"drop_after:submit": 1.0}, list_lag=2.0)
    try:
        run = run_vidbuild("build", "--api", api, str(project), env=heygen.env(VIDBUILD_TIMING_SCALE="0.05"))

        assert run.code == 0, run.stderr
        # Videos made, not requests: a v3 resend under its Idempotency-Key replays, it makes none.
        per_body = Counter(video.callback_id for video in heygen.emulator.videos())
        assert len(per_body) == 2 and max(per_body.values()) <= 2, (per_body, run.stderr)
    finally:
        heygen.close()


# -- flaky: Ctrl-C (test_ctrl_c_exits_130_and_a_rerun_resumes) -----------------------------------

def test_a_ctrl_c_during_a_state_write_leaves_the_store_writable(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # diskcache forgets a transaction when a KeyboardInterrupt comes between its BEGIN and its
    # bookkeeping; every later write of the process then failed (diskcache.Timeout), so the engine's
    # last writes on the way out of a Ctrl-C turned exit 130 into an internal error (exit 3).
    state = DiskState(tmp_path, "ns")
    execute = diskcache.Cache._sql.fget
    # Ctrl-C raises KeyboardInterrupt, as at a terminal, even when this run is a background job.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupted: list[bool] = []

    def sql_then_ctrl_c(cache: diskcache.Cache) -> Any:
        run = execute(cache)

        def then_ctrl_c(statement: str, *args: Any) -> Any:
            result = run(statement, *args)
            if statement == "BEGIN IMMEDIATE" and not interrupted:
                interrupted.append(True)
                signal.raise_signal(signal.SIGINT)   # Ctrl-C, the moment SQLite returns
            return result
        return then_ctrl_c

    try:
        monkeypatch.setattr(diskcache.Cache, "_sql", property(sql_then_ctrl_c))
        with pytest.raises(KeyboardInterrupt):
            state.set_meta("first", 1)
        state.set_meta("second", 2)

        assert interrupted and state.get_meta("second") == 2
    finally:
        monkeypatch.undo()
        signal.signal(signal.SIGINT, previous)
        state.close()


def test_an_output_directory_replaced_by_a_file_mid_build_is_a_clear_error(tmp_path: Path) -> None:
    project = write_project(tmp_path / "campaign", rows(4))
    heygen = LoopbackHeyGen(tmp_path / "heygen", speed=0.01)   # renders take about half a second
    try:
        build = start_vidbuild("build", "-j", "1", str(project), env=heygen.env())
        deadline = time.monotonic() + 60
        while not (project / "out" / "r01.mp4").exists() and time.monotonic() < deadline:
            assert build.poll() is None, build.communicate()
            time.sleep(0.005)
        (project / "out").rename(project / "out.kept")
        (project / "out").write_text("a file where the videos go", encoding="utf-8")
        _, err = build.communicate(timeout=60)

        assert build.returncode in (1, 3), err
        assert "internal error" not in err, err
        assert "can't write" in err and str(project / "out") in err, err
        assert (project / "out").read_text(encoding="utf-8") == "a file where the videos go"
    finally:
        heygen.close()
