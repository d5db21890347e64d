"""`vidbuild build` is incremental: a cold build gets every video, a rerun sends nothing, an edit sends one.

Each test runs the emulator behind a loopback socket and vidbuild either as the user runs it (a
subprocess) or through ``vidbuild.commands`` (the library the CLI is a thin layer over).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from buildkit import (
    LoopbackHeyGen,
    manifest,
    rows,
    run_vidbuild,
    sha256,
    unstamped,
    write_project,
    write_rows,
)

from vidbuild import commands
from vidbuild.planner.decide import ESTIMATE_ASSUMPTIONS
from vidbuild.report.manifest import FIELDS

KEYS = [row["id"] for row in rows(4)]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "campaign", rows(4))


@pytest.fixture
def use_heygen(heygen: LoopbackHeyGen) -> LoopbackHeyGen:
    """For library calls: this process's environment points at the loopback emulator (conftest's
    ``heygen`` does that for every test here)."""
    return heygen


def build(project: Path, heygen: LoopbackHeyGen, *args: str) -> tuple[int, str]:
    run = run_vidbuild("build", str(project), *args, env=heygen.env())
    return run.code, run.stderr


def test_cold_build_gets_every_video_byte_for_byte(project: Path, heygen: LoopbackHeyGen) -> None:
    code, err = build(project, heygen)

    assert code == 0, err
    assert err.splitlines()[0] == f"vidbuild: using the HeyGen API at {heygen.url}"
    assert "plan: 4 submit;" in err
    assert err.splitlines()[-1] == "4 built, 0 up to date, 0 failed"
    assert len(heygen.submits()) == 4
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, KEYS)


def test_a_rerun_sends_no_request_and_says_everything_is_up_to_date(project: Path,
                                                                   heygen: LoopbackHeyGen) -> None:
    assert build(project, heygen)[0] == 0
    before = len(heygen.requests())

    code, err = build(project, heygen)

    assert code == 0
    assert len(heygen.requests()) == before
    assert "everything is up to date (4 videos); nothing to send" in err
    assert err.splitlines()[-1] == "0 built, 4 up to date, 0 failed"


def test_editing_one_row_resubmits_that_row_alone(project: Path, use_heygen: LoopbackHeyGen) -> None:
    heygen = use_heygen
    assert commands.build(str(project), stderr=io.StringIO()) == 0
    edited = rows(4)
    edited[2]["line"] = "thanks for staying!"
    write_rows(project, edited)
    before = len(heygen.requests())

    planned = io.StringIO()
    assert commands.plan(str(project), stdout=planned) == 0
    assert planned.getvalue().splitlines() == [
        "submit      r03  changed: video_inputs[0].voice.input_text; via v3",
        f"estimate: 1 distinct body to pay for (rows with identical bodies share one video); "
        f"{ESTIMATE_ASSUMPTIONS}",
        "1 submit, 3 up-to-date; estimated 0.03 credits"]
    assert len(heygen.requests()) == before   # planning sends nothing

    assert commands.build(str(project), stderr=io.StringIO()) == 0

    new = heygen.requests()[before:]
    submits = [r for r in new if r.method == "POST"]
    assert len(submits) == 1
    assert submits[0].body["title"] == f"Hi Name3 [vb:{manifest(project)['r03']['hash'][:12]}]"
    assert submits[0].path == "/v3/videos"   # one avatar scene: v3 renders it (api: auto)
    assert submits[0].body["script"] == "Hi Name3, thanks for staying!"
    assert submits[0].body["callback_id"] == manifest(project)["r03"]["hash"]
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, KEYS)


def test_a_changed_title_is_named_in_the_plan(project: Path, use_heygen: LoopbackHeyGen) -> None:
    assert commands.build(str(project), stderr=io.StringIO()) == 0
    edited = rows(4)
    edited[0]["name"] = "Ana"
    write_rows(project, edited)

    planned = io.StringIO()
    commands.plan(str(project), stdout=planned, json_output=True)

    lines = [json.loads(line) for line in planned.getvalue().splitlines()]
    assert lines[0] == {"key": "r01", "action": "submit", "output": "out/r01.mp4", "hash": lines[0]["hash"],
                        "reason": "changed: title, video_inputs[0].voice.input_text", "api": "v3",
                        "endpoint": "POST /v3/videos", "api_reason": "one avatar scene: v3 avatar video"}
    assert [line["action"] for line in lines[1:4]] == ["up-to-date"] * 3
    assert lines[4]["summary"] == {"submit": 1, "up-to-date": 3}


def test_a_missing_or_altered_file_is_downloaded_again_without_paying(project: Path,
                                                                     heygen: LoopbackHeyGen) -> None:
    assert build(project, heygen)[0] == 0
    (project / "out" / "r01.mp4").unlink()
    with (project / "out" / "r02.mp4").open("ab") as handle:
        handle.write(b"edited")
    os.utime(project / "out" / "r03.mp4", ns=(1, 1))   # touched, same bytes: still up to date

    plan = run_vidbuild("plan", str(project), env=heygen.env())
    assert plan.stdout.splitlines() == [
        "download    r01  output file is missing",
        "download    r02  output file was altered",
        "2 download, 2 up-to-date; estimated 0.0 credits"]

    code, err = build(project, heygen)

    assert code == 0, err
    assert err.splitlines()[-1] == "2 built, 2 up to date, 0 failed"
    assert len(heygen.submits()) == 4
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, KEYS)


def test_a_failed_render_shows_its_error_and_the_next_build_retries_it(project: Path,
                                                                      heygen: LoopbackHeyGen) -> None:
    heygen.restart(faults={"render_fail": 1.0})
    code, err = build(project, heygen)

    assert code == 1
    failures = [line for line in unstamped(err) if line.startswith("FAILED")]
    assert len(failures) == 4
    assert all(re.fullmatch(r"FAILED r0\d: HeyGen failed the render: \d+ [A-Z][a-z ]+", f) for f in failures)
    assert err.splitlines()[-1] == "0 built, 0 up to date, 4 failed"
    entries = manifest(project)
    assert entries["r01"]["status"] == "failed"
    assert f"FAILED r01: {entries['r01']['error']}" in failures
    assert entries["r01"]["output"] is None
    status = run_vidbuild("status", str(project), env=heygen.env())
    assert [line.split()[1] for line in status.stdout.splitlines()[1:]] == ["failed"] * 4
    plan = run_vidbuild("plan", str(project), env=heygen.env())
    assert plan.stdout.splitlines()[0].startswith("retry       r01  failed before: HeyGen failed the render:")

    heygen.restart()
    code, err = build(project, heygen)

    assert code == 0, err
    assert "plan: 4 retry;" in err
    assert len(heygen.submits()) == 8
    heygen.assert_each_body_rendered_once()
    heygen.assert_all_built(project, KEYS)


def test_force_rebuilds_a_row_and_says_so(project: Path, heygen: LoopbackHeyGen) -> None:
    assert build(project, heygen)[0] == 0
    first = manifest(project)["r02"]

    code, err = build(project, heygen, "--force", "r02")

    assert code == 0, err
    assert f"submitted r02 as {manifest(project)['r02']['video_id']} (forced rebuild (--force))" in err
    assert len(heygen.submits()) == 5
    assert heygen.emulator.callback_counts()[first["hash"]] == 2   # --force pays again, as asked
    assert manifest(project)["r02"]["video_id"] != first["video_id"]
    assert build(project, heygen)[0] == 0
    assert len(heygen.submits()) == 5


def test_force_of_an_unknown_key_is_a_usage_error(project: Path, heygen: LoopbackHeyGen) -> None:
    run = run_vidbuild("build", str(project), "--force", "nobody", env=heygen.env())

    assert (run.code, run.stderr) == (2, "vidbuild: error: --force: no row with key nobody\n")
    assert heygen.requests() == []


def test_question_and_dry_run_send_nothing(project: Path, heygen: LoopbackHeyGen) -> None:
    assert run_vidbuild("build", "-q", str(project), env=heygen.env()).code == 1
    dry = run_vidbuild("build", "-n", str(project), env=heygen.env())
    assert dry.code == 0
    looks = "new (will look in the account first); via v3"
    assert dry.stdout.splitlines() == [*(f"submit      {key}  {looks}" for key in KEYS),
                                       "estimate: 4 distinct bodies to pay for (rows with identical "
                                       f"bodies share one video); {ESTIMATE_ASSUMPTIONS}",
                                       "4 submit; estimated 0.08 credits"]
    assert heygen.requests() == []

    assert build(project, heygen)[0] == 0
    before = len(heygen.requests())
    assert run_vidbuild("build", "--question", str(project), env=heygen.env()).code == 0
    write_rows(project, rows(5))
    assert run_vidbuild("build", "--question", str(project), env=heygen.env()).code == 1
    assert len(heygen.requests()) == before


def test_json_emits_ndjson_events(project: Path, heygen: LoopbackHeyGen) -> None:
    run = run_vidbuild("build", "--json", str(project), env=heygen.env())

    assert run.code == 0, run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    names = [event["event"] for event in events]
    assert names[:2] == ["banner", "planned"] and names[-1] == "finished"
    assert events[1]["counts"] == {"submit": 4}
    assert sorted(e["key"] for e in events if e["event"] == "submitted") == KEYS
    done = {e["key"]: e for e in events if e["event"] == "done"}
    assert sorted(done) == KEYS
    assert done["r01"]["output"] == "out/r01.mp4"
    assert done["r01"]["checksum"] == sha256((project / "out" / "r01.mp4").read_bytes())
    assert events[-1] | {"time": 0} == {"event": "finished", "time": 0, "built": 4, "cached": 0, "failed": 0,
                                       "unfinished": 0, "stopped": None, "exit_code": 0}

    again = run_vidbuild("build", "--json", str(project), env=heygen.env())
    events = [json.loads(line) for line in again.stdout.splitlines()]
    assert [e["event"] for e in events] == ["banner", "planned", *["cached"] * 4, "finished"]


def test_manifest_lists_every_row_in_json_and_csv(project: Path, heygen: LoopbackHeyGen) -> None:
    assert build(project, heygen)[0] == 0
    document = json.loads((project / "out" / "manifest.json").read_text(encoding="utf-8"))

    assert document["project"] == "campaign"
    assert [entry["key"] for entry in document["videos"]] == KEYS
    for entry in document["videos"]:
        assert tuple(entry) == FIELDS
        assert entry["status"] == "done" and entry["error"] is None
        assert entry["video_url"].startswith(f"{heygen.url}/files/{entry['video_id']}.mp4?")
        assert entry["thumbnail_url"].startswith(f"{heygen.url}/files/{entry['video_id']}.jpg?")
    with (project / "out" / "manifest.csv").open(encoding="utf-8", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert table == [{name: str(entry[name] or "") for name in FIELDS} for entry in document["videos"]]


def test_manifest_of_an_unfinished_build_says_what_is_missing(project: Path, heygen: LoopbackHeyGen) -> None:
    assert build(project, heygen)[0] == 0
    write_rows(project, rows(5))
    heygen.restart(faults={"quota": 1.0})

    code, err = build(project, heygen)

    assert code == 3, err
    entries = manifest(project)
    assert [entries[key]["status"] for key in KEYS] == ["done"] * 4
    expected = {"key": "r05", "video_id": None, "status": "claimed", "output": None, "thumbnail": None,
                "video_url": None, "thumbnail_url": None, "video_page_url": None, "created_at": None,
                "completed_at": None, "urls_expire_at": None, "duration": None,
                "checksum": None, "size": None}
    assert {name: entries["r05"][name] for name in expected} == expected
    assert "daily api trial limit" in entries["r05"]["error"]


def test_status_needs_no_network(project: Path, heygen: LoopbackHeyGen) -> None:
    assert build(project, heygen)[0] == 0
    ids = {key: entry["video_id"] for key, entry in manifest(project).items()}
    env = heygen.env()
    heygen.close()   # nothing listens on the port any more

    run = run_vidbuild("status", str(project), env=env)

    assert run.code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["KEY", "STATUS", "VIDEO_ID", "OUTPUT", "/", "ERROR"]
    assert [line.split() for line in lines[1:]] == [[key, "done", ids[key], f"out/{key}.mp4"] for key in KEYS]
    as_json = run_vidbuild("status", "--json", str(project), env=env)
    assert [json.loads(line)["video_id"] for line in as_json.stdout.splitlines()] == [ids[k] for k in KEYS]


def test_status_before_any_build(project: Path, heygen: LoopbackHeyGen) -> None:
    run = run_vidbuild("status", str(project), env=heygen.env())

    assert run.code == 0
    assert [line.split() for line in run.stdout.splitlines()[1:]] == [[key, "not-built", "-"] for key in KEYS]
    assert heygen.requests() == []


def test_clean_asks_first_and_removes_state_with_yes(project: Path, heygen: LoopbackHeyGen) -> None:
    assert build(project, heygen)[0] == 0
    state = project / ".vidbuild"
    assert state.is_dir()

    refused = subprocess.run([sys.executable, "-m", "vidbuild", "clean", str(project)], env=heygen.env(),
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    assert refused.returncode == 2
    assert "pass --yes" in refused.stderr
    assert state.is_dir()

    cleaned = run_vidbuild("clean", "--yes", str(project), env=heygen.env())
    assert cleaned.code == 0, cleaned.stderr
    assert not state.exists()
    assert sorted(p.name for p in (project / "out").glob("*.mp4")) == [f"{key}.mp4" for key in KEYS]
    # The manifest still vouches for every file (by sha256): a new state is seeded from it.
    assert run_vidbuild("build", "-q", str(project), env=heygen.env()).code == 0
    (project / "out" / "manifest.json").unlink()
    assert run_vidbuild("clean", "--yes", str(project), env=heygen.env()).code == 0
    assert run_vidbuild("build", "-q", str(project), env=heygen.env()).code == 1
    assert run_vidbuild("clean", "--yes", str(project), env=heygen.env()).code == 0


def test_state_dir_option_and_variable(project: Path, heygen: LoopbackHeyGen, tmp_path: Path) -> None:
    elsewhere = tmp_path / "state"
    assert build(project, heygen, "--state-dir", str(elsewhere))[0] == 0

    assert not (project / ".vidbuild").exists()
    assert elsewhere.is_dir()
    env = heygen.env(VIDBUILD_STATE_DIR=str(elsewhere))
    assert run_vidbuild("build", "-q", str(project), env=env).code == 0
    (project / "out" / "manifest.json").unlink()   # else the new default state is seeded from it
    assert run_vidbuild("build", "-q", str(project), env=heygen.env()).code == 1


def test_rows_with_identical_bodies_share_one_video_and_stay_up_to_date(tmp_path: Path,
                                                                        heygen: LoopbackHeyGen) -> None:
    twins = rows(3)
    twins[1]["name"] = twins[0]["name"]
    project = write_project(tmp_path / "twins", twins)

    assert build(project, heygen)[0] == 0
    before = len(heygen.requests())
    code, err = build(project, heygen)

    assert code == 0, err
    assert len(heygen.requests()) == before
    assert len(heygen.submits()) == 2
    assert (project / "out" / "r01.mp4").read_bytes() == (project / "out" / "r02.mp4").read_bytes()
    heygen.assert_each_body_paid_once()


def test_json_events_go_to_the_stdout_given(project: Path, use_heygen: LoopbackHeyGen) -> None:
    out, err = io.StringIO(), io.StringIO()

    assert commands.build(str(project), json_output=True, stdout=out, stderr=err) == 0

    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["event"] for e in events].count("done") == 4
    assert err.getvalue() == ""
