"""Every fault HeyGen can throw at a build, over a real loopback socket: never pay twice, never lose a result.

Builds run through ``vidbuild.commands.build`` in this process, against the emulator's real
server, with real state on disk. Only the client's back-off between retries is shortened (it
sleeps real seconds otherwise); the engine's own pacing comes from VIDBUILD_TIMING_SCALE.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from buildkit import (
    SUBMIT_PATHS,
    LoopbackHeyGen,
    build_with_client_timeout,
    is_status_read,
    manifest,
    rows,
    run_vidbuild,
    write_project,
)

from vidbuild import commands
from vidbuild.state.disk import DiskState
from vidbuild.state.location import namespace_for

KEYS = [row["id"] for row in rows(6)]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "campaign", rows(6))


def build(project: Path, *args: str, **options: Any) -> tuple[int, str]:
    err = io.StringIO()
    code = commands.build(str(project), stderr=err, **options)
    return code, err.getvalue()


def struck(heygen: LoopbackHeyGen, fault: str, paths: Callable[[str], bool] | None = None) -> int:
    """How many requests (to a path ``paths`` accepts, if given) the named fault struck."""
    return sum(1 for r in heygen.requests()
               if r.fault and fault in r.fault.split(",") and (paths is None or paths(r.path)))


def creates(path: str) -> bool:
    return path in SUBMIT_PATHS


def records(project: Path, heygen: LoopbackHeyGen) -> dict[str, str]:
    state = DiskState(project / ".vidbuild", namespace_for(heygen.url))
    try:
        return {record.key: record.status for record in state.records()}
    finally:
        state.close()


def test_rate_limits_are_waited_out(project: Path, heygen: LoopbackHeyGen) -> None:
    heygen.restart(faults={"rate_limit": 0.4}, seed=3)

    code, err = build(project)

    assert code == 0, err
    assert struck(heygen, "rate_limit", creates) > 0
    assert struck(heygen, "rate_limit", is_status_read) > 0
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, KEYS)


def test_server_errors_on_status_polls_are_retried(project: Path, heygen: LoopbackHeyGen) -> None:
    heygen.restart(faults={"server_error:status": 0.5}, seed=1)

    code, err = build(project)

    assert code == 0, err
    assert struck(heygen, "server_error", is_status_read) > 3
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, KEYS)


def test_a_server_error_on_submit_is_reconciled_then_resent(project: Path, heygen: LoopbackHeyGen) -> None:
    # Legacy creates (no Idempotency-Key): the lost reply is looked up in the account.
    # A 5xx on a POST may or may not have created the video: look it up before sending again.
    heygen.restart(faults={"server_error:submit": 0.5}, seed=2)

    code, err = build(project, api="legacy")

    assert code == 0, err
    assert struck(heygen, "server_error", creates) > 0
    assert "never reached HeyGen; sending it now" in err
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, KEYS)


def test_a_connection_dropped_before_the_submit_arrived_is_resent(project: Path,
                                                                 heygen: LoopbackHeyGen) -> None:
    # Legacy creates (no Idempotency-Key): the lost reply is looked up in the account.
    heygen.restart(faults={"drop_before:submit": 0.4}, seed=6)

    # One submission at a time, so each body meets the seed's draws in the same order every run.
    # With several in flight, timing decides which body gets which draw, and now and then one
    # body drew six drops in a row: the build then stops (exit 3) by design (MAX_LOST_REPLIES).
    code, err = build(project, jobs=1, api="legacy")

    assert code == 0, err
    assert struck(heygen, "drop_before", creates) > 0
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, KEYS)


def test_a_reply_lost_after_the_video_was_created_is_found_not_resent(project: Path,
                                                                      heygen: LoopbackHeyGen) -> None:
    # Legacy creates (no Idempotency-Key): the lost reply is looked up in the account.
    heygen.restart(faults={"drop_after:submit": 1.0})

    code, err = build(project, api="legacy")

    assert code == 0, err
    assert len(heygen.submits()) == 6          # every reply was lost, and nothing was sent twice
    assert err.count("found the lost submission") == 6
    # Found by the title marker through the v3 list: one request, whichever generation created it.
    assert any(r.path == "/v3/videos" and r.method == "GET" and "title" in r.query for r in heygen.requests())
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, KEYS)


def test_lost_replies_everywhere(project: Path, heygen: LoopbackHeyGen) -> None:
    heygen.restart(faults={"drop_after": 0.3, "drop_after:submit": 0.6, "drop_after:files": 0.3}, seed=5)

    code, err = build(project)

    assert code == 0, err
    assert struck(heygen, "drop_after", creates) > 0
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, KEYS)


def test_a_submit_that_times_out_is_reconciled_not_resent(project: Path, heygen: LoopbackHeyGen) -> None:
    # Legacy creates (no Idempotency-Key): the lost reply is looked up in the account.
    heygen.restart(faults={"slow:submit": 1.0}, slow_seconds=0.6)
    code, err = build_with_client_timeout(project, 0.15, jobs=6, api="legacy")

    assert code == 0, err
    assert "ReadTimeout" in err
    assert len(heygen.submits()) == 6
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, KEYS)


def test_slow_polls_only_delay_the_build(project: Path, heygen: LoopbackHeyGen) -> None:
    heygen.restart(faults={"slow:status": 0.2}, slow_seconds=0.05, seed=6)

    code, err = build(project)

    assert code == 0, err
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, KEYS)


def test_quota_stops_the_build_keeping_state_and_a_rerun_finishes(project: Path,
                                                                 heygen: LoopbackHeyGen) -> None:
    heygen.restart(faults={"quota": 0.5}, seed=7)

    code, err = build(project)

    assert code == 3, err
    assert err.splitlines()[-1].endswith(" HTTP 429 trial_video_limit_exceeded: You have reached "
                                         "your daily api trial limit."), err
    assert "; stopped: POST /v3/videos HTTP 429" in err   # one avatar scene: sent through v3
    assert struck(heygen, "quota") == 1
    built_before = [key for key, entry in manifest(project).items() if entry["status"] == "done"]
    assert len(built_before) < 6

    heygen.restart()
    code, err = build(project)

    assert code == 0, err
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, KEYS)


def test_a_cap_on_renders_at_once_shrinks_the_window(project: Path, heygen: LoopbackHeyGen) -> None:
    # Renders outlast the client's own retries of a 429, so the engine sees the refusal.
    heygen.restart(max_concurrent=2, speed=0.01)

    code, err = build(project, jobs=6)

    assert code == 0, err
    refused = [r for r in heygen.requests() if r.status == 429]
    assert refused, "the cap never refused a submit: the test proves nothing"
    assert "rate limited; " in err
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, KEYS)


def test_failed_renders_are_reported_then_retried(project: Path, heygen: LoopbackHeyGen) -> None:
    heygen.restart(faults={"render_fail": 0.5}, seed=1)

    code, err = build(project)

    assert code == 1, err
    failed = [key for key, entry in manifest(project).items() if entry["status"] == "failed"]
    assert 0 < len(failed) < 6
    assert all(f"FAILED {key}: HeyGen failed the render: " in err for key in failed)

    heygen.restart()
    code, err = build(project)

    assert code == 0, err
    assert f"plan: {len(failed)} retry, {6 - len(failed)} up-to-date;" in err
    heygen.assert_each_body_rendered_once()
    heygen.assert_all_built(project, KEYS)


def test_a_body_the_api_rejects_fails_without_stopping_the_others(project: Path,
                                                                 heygen: LoopbackHeyGen) -> None:
    heygen.restart(catalogue="strict")   # an avatar the account lacks gets HeyGen's 400
    yaml = project / "vidbuild.yaml"
    yaml.write_text(yaml.read_text().replace(
        "avatar: {avatar_id: Daisy-inskirt-20220818}",
        "avatar: {avatar_id: \"{{ 'Nobody-1' if row.id == 'r02' else 'Daisy-inskirt-20220818' }}\"}"))

    code, err = build(project)

    assert code == 1, err
    assert "FAILED r02: POST /v3/videos HTTP 400 " in err and "Nobody-1" in err
    assert [e["status"] for e in manifest(project).values()] == ["done", "failed", *["done"] * 4]
    heygen.assert_each_body_paid_once()


def test_expired_file_urls_are_refreshed_and_never_loop(project: Path, heygen: LoopbackHeyGen) -> None:
    heygen.restart(url_ttl=-60.0)   # every file URL is already expired when handed out

    code, err = build(project)

    assert code == 3, err
    assert "URL keeps expiring" in err
    assert set(records(project, heygen).values()) <= {"submitted", "rendering", "completed"}
    summary = err.splitlines()[-1]
    assert summary.startswith(f"0 built, 0 up to date, 0 failed, {len(KEYS)} unfinished; stopped: "), summary

    heygen.restart()
    code, err = build(project)

    assert code == 0, err
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, KEYS)


def test_a_lost_reply_and_a_broken_video_list_stop_the_build_without_resending(
        project: Path, heygen: LoopbackHeyGen) -> None:
    # Legacy creates (no Idempotency-Key): the lost reply is looked up in the account.
    write_project(project, rows(6)[:1])   # a state that knows the project: no lookups before paying
    assert build(project, api="legacy")[0] == 0
    write_project(project, rows(6))
    heygen.restart(faults={"drop_after:submit": 1.0, "server_error:list": 1.0})

    code, err = build(project, jobs=2, api="legacy")

    assert code == 3, err
    assert "reconcile failed (GET /v3/videos HTTP 500 internal_error" in err
    assert len(heygen.submits()) == 3    # replies lost: they stay in the window until found
    assert records(project, heygen) == {"r01": "downloaded", "r02": "uncertain", "r03": "uncertain"}

    heygen.restart()
    code, err = build(project, api="legacy")

    assert code == 0, err
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, KEYS)


def test_a_submit_that_never_gets_a_reply_does_not_loop_forever(project: Path,
                                                              heygen: LoopbackHeyGen) -> None:
    heygen.restart(faults={"drop_before:submit": 1.0})

    run = run_vidbuild("build", str(project), env=heygen.env(), timeout=30)

    assert run.code == 3, run.stderr
    assert heygen.emulator.videos() == []
    heygen.restart()
    code, err = build(project)
    assert code == 0, err
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(project, KEYS)


def test_chaos_across_reruns(project: Path, heygen: LoopbackHeyGen) -> None:
    faults = {"rate_limit": 0.1, "server_error": 0.1, "drop_before": 0.1, "drop_after": 0.1,
              "render_fail": 0.15, "quota": 0.05, "server_error:files": 0.2}
    codes = []
    for attempt in range(12):
        heygen.restart(faults=faults, seed=attempt, max_concurrent=3)
        code, _ = build(project)
        codes.append(code)
        if code == 0:
            break
    assert codes[-1] == 0, codes
    heygen.assert_each_body_rendered_once()
    heygen.assert_all_built(project, KEYS)


def test_a_lost_forced_submission_is_not_mistaken_for_the_earlier_video(project: Path,
                                                                        heygen: LoopbackHeyGen) -> None:
    # The earlier video carries the same callback_id: reconciling must not take it for the new one.
    assert build(project)[0] == 0
    earlier = manifest(project)["r02"]["video_id"]
    heygen.restart(faults={"drop_before:submit": 1.0})

    code, err = build(project, force=["r02"])

    assert code == 3, err
    assert f"found the lost submission: {earlier}" not in err
    heygen.restart()
    code, err = build(project)

    assert code == 0, err
    assert manifest(project)["r02"]["video_id"] != earlier
    assert heygen.emulator.callback_counts()[manifest(project)["r02"]["hash"]] == 2   # forced: paid again
    heygen.assert_all_built(project, KEYS)
