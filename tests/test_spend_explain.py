"""Issue 15, item 6: `vidbuild explain KEY` shows one row's body, hash, recorded steps with their
times, video_id and URLs, and what changed since it was built."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from buildkit import LoopbackHeyGen, manifest, rows, run_vidbuild, write_project, write_rows


@pytest.fixture
def heygen(tmp_path: Path) -> Iterator[LoopbackHeyGen]:
    server = LoopbackHeyGen(tmp_path / "heygen")
    yield server
    server.close()


def test_explain_shows_the_body_state_and_what_changed(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "campaign", rows(2))
    assert run_vidbuild("build", str(project), env=heygen.env()).code == 0
    built = manifest(project)["r02"]
    edited = rows(2)
    edited[1]["line"] = "good to see you"
    write_rows(project, edited)

    run = run_vidbuild("explain", "r02", str(project), "--json", env=heygen.env())

    assert run.code == 0, run.stderr
    report = json.loads(run.stdout)
    assert (report["key"], report["output"]) == ("r02", "out/r02.mp4")
    assert report["row"].endswith("campaign/rows.csv:3")
    assert report["plan"] == {"action": "submit", "reason": "changed: video_inputs[0].voice.input_text"}
    assert report["body"]["video_inputs"][0]["voice"]["input_text"] == "Hi Name2, good to see you"
    assert report["hash"] != built["hash"]
    record = report["record"]
    assert (record["hash"], record["status"], record["video_id"]) == (built["hash"], "downloaded",
                                                                      built["video_id"])
    assert record["video_url"] and record["thumbnail_url"]
    # HeyGen's pending/processing are recorded when a poll happens to see them: timing, not a fixed step
    steps = [entry["step"] for entry in record["transitions"]
             if entry["step"] not in {"pending", "processing"}]
    assert steps[:4] == ["claimed", "submitted", "completed", "downloaded"]
    assert report["changed"] == {"since_hash": built["hash"], "old_body": "kept", "fields": [
        {"field": "video_inputs[0].voice.input_text", "old": "Hi Name2, welcome!",
         "new": "Hi Name2, good to see you", "from": "scenes[hello]", "columns": ["line"],
         "template": None, "row_values_in_it": ["name", "line"]}]}
    text = run_vidbuild("explain", "r02", str(project), env=heygen.env()).stdout
    assert f"video_id: {built['video_id']}" in text
    assert ('  video_inputs[0].voice.input_text: "Hi Name2, welcome!" -> "Hi Name2, good to see you" '
            '(from scenes[hello]; data column line)') in text


def test_explain_of_an_unknown_key_is_a_usage_error(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "campaign", rows(1))
    run = run_vidbuild("explain", "nobody", str(project), env=heygen.env())
    assert (run.code, run.stderr.splitlines()[-1]) == (2, "vidbuild: error: explain: no row with key nobody")
