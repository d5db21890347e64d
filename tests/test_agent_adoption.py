"""A lost agent reply is never matched on a guess: the row stops as uncertain, the user adopts or forces.

Builds run through ``vidbuild.commands`` in this process against the emulator's real server on
loopback, with real state on disk, as in test_build_faults.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import httpx
import pytest
from buildkit import API_KEY, LoopbackHeyGen

from vidbuild import commands
from vidbuild.cli import main
from vidbuild.heygen import routes
from vidbuild.state.disk import DiskState
from vidbuild.state.location import namespace_for

AGENT_ROUTE = routes.SUBMIT_ROUTES["agent"]
PROJECT = """\
    version: 1
    name: agents
    kind: agent
    data:
      key: "{{ row.id }}"
      rows: [{id: r01}, {id: r02}]
    agent:
      prompt: "A five-second welcome for {{ row.id }}"
      duration_sec: 5
    %s
    output: "out/{{ key }}.mp4"
"""
SEED_DROP_THEN_PASS = 3   # with a rate of 0.5, drops the first submission and lets the next through
HOOK = "  callback_url: https://hooks.example.test/heygen"


def write_project(root: Path, *, hook: bool = False, rows: str = "[{id: r01}, {id: r02}]") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    text = textwrap.dedent(PROJECT % (HOOK if hook else "")).replace("[{id: r01}, {id: r02}]", rows)
    (root / "vidbuild.yaml").write_text(text, encoding="utf-8")
    return root


def build(project: Path, **options: object) -> tuple[int, str]:
    err = io.StringIO()
    code = commands.build(str(project), stderr=err, **options)  # type: ignore[arg-type]
    return code, err.getvalue()


def adopt(project: Path, key: str, video_id: str) -> tuple[int, str]:
    err = io.StringIO()
    return commands.adopt(str(project), key, video_id, stderr=err), err.getvalue()


def other_projects_agent_video(heygen: LoopbackHeyGen) -> str:
    """An agent video someone else made on the same account (with an older tool that still sends
    the deprecated config object), without callback_id."""
    with httpx.Client(base_url=heygen.url, headers={"X-Api-Key": API_KEY}) as client:
        reply = client.post(AGENT_ROUTE, json={"prompt": "Another team's product tour",
                                               "config": {"duration_sec": 5}})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["data"]["video_id"])


def statuses(project: Path, heygen: LoopbackHeyGen) -> dict[str, str]:
    state = DiskState(project / ".vidbuild", namespace_for(heygen.url))
    try:
        return {record.key: record.status for record in state.records()}
    finally:
        state.close()


def videos_made(heygen: LoopbackHeyGen) -> list[str]:
    return [video.video_id for video in heygen.emulator.videos()]


def test_another_projects_agent_video_is_never_shipped_as_this_rows(tmp_path: Path,
                                                                    heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "p", rows="[{id: r01}]")
    theirs = other_projects_agent_video(heygen)
    heygen.restart(faults={"drop_before:submit": 1.0})   # our request never reaches HeyGen

    code, err = build(project)

    assert code == 1, err
    assert "FAILED r01: a reply was lost and nothing ties an agent video to this request" in err
    assert theirs in err and "vidbuild adopt r01 VIDEO_ID" in err
    assert "vidbuild build --force r01" in err
    assert not (project / "out" / "r01.mp4").exists()
    assert statuses(project, heygen) == {"r01": "uncertain"}
    shown = io.StringIO()
    commands.status(str(project), stdout=shown)
    assert theirs in shown.getvalue().splitlines()[1]   # `vidbuild status` says why, too
    planned = io.StringIO()
    commands.plan(str(project), stdout=planned)
    assert planned.getvalue().splitlines()[0] == (
        "reconcile   r01  a submission may have been sent but its reply was lost; nothing ties a "
        "video to it (no callback_url, so no callback_id): if candidates exist, you decide "
        "(vidbuild adopt r01 VIDEO_ID, or --force r01)")

    heygen.restart()
    code, err = build(project)   # still uncertain: no guess, no new video, until the user decides
    assert code == 1 and theirs in err, err
    assert videos_made(heygen) == [theirs]

    code, err = build(project, force=["r01"])
    assert code == 0, err
    (ours,) = [video for video in videos_made(heygen) if video != theirs]
    assert (project / "out" / "r01.mp4").read_bytes() == heygen.served_mp4(ours)


def test_the_user_adopts_the_listed_video_and_the_next_build_downloads_it(
        tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "p")
    heygen.restart(faults={"drop_after:submit": 1.0})   # videos are made, every reply is lost

    code, err = build(project)

    assert code == 1, err
    first, second = videos_made(heygen)[::-1]   # r01's first (oldest), then r02's
    assert first in err and second in err
    assert statuses(project, heygen) == {"r01": "uncertain", "r02": "uncertain"}
    heygen.restart()

    assert adopt(project, "r01", first) == (0, adopt_said(project, "r01", first))
    assert adopt(project, "r02", second)[0] == 0
    code, err = build(project)

    assert code == 0, err
    assert videos_made(heygen) == [second, first]   # nothing paid again
    assert (project / "out" / "r01.mp4").read_bytes() == heygen.served_mp4(first)
    assert (project / "out" / "r02.mp4").read_bytes() == heygen.served_mp4(second)


def adopt_said(project: Path, key: str, video_id: str) -> str:
    from vidbuild.spec.expand import expand_project
    from vidbuild.spec.project import load_project

    (job,) = [job for job in expand_project(load_project(str(project))) if job.key == key]
    return (f"vidbuild: using the HeyGen API at {vidbuild_base()}\n"
            f"row {key}: video {video_id} (completed) recorded as the video of its current body "
            f"{job.hash[:12]}; the next `vidbuild build` polls and downloads it\n")


def vidbuild_base() -> str:
    import os

    return os.environ["HEYGEN_API_BASE"]


def test_adopt_refuses_what_cant_be_the_rows_video(tmp_path: Path, heygen: LoopbackHeyGen,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    project = write_project(tmp_path / "p")
    assert build(project)[0] == 0
    state = DiskState(project / ".vidbuild", namespace_for(heygen.url))
    try:
        r02_video = next(r.video_id for r in state.records() if r.key == "r02")
    finally:
        state.close()
    cases = [
        (["adopt", "nope", r02_video, str(project)], "adopt: no row with key 'nope' in agents"),
        (["adopt", "r01", "f" * 32, str(project)], f"adopt: the API knows no video {'f' * 32}"),
        (["adopt", "r01", r02_video, str(project)],
         f"adopt: video {r02_video} is already the video of row r02"),
        (["adopt", "r01", "not an id", str(project)], "'not an id' is not a video ID"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_with_a_callback_url_a_lost_agent_reply_is_found_by_its_callback_id(
        tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "p", hook=True)
    other_projects_agent_video(heygen)
    heygen.restart(faults={"drop_after:submit": 1.0})

    code, err = build(project)

    assert code == 0, err
    assert err.count("found the lost submission") == 2
    assert len(videos_made(heygen)) == 3   # the other project's and one per row, none twice
    heygen.assert_each_body_paid_once()


def test_a_lost_agent_request_with_no_video_in_its_window_is_sent_again(
        tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "p", rows="[{id: r01}]")
    heygen.restart(faults={"drop_before:submit": 0.5}, seed=SEED_DROP_THEN_PASS)

    code, err = build(project)

    assert code == 0, err
    assert "r01: the lost submission never reached HeyGen; sending it now" in err
    assert len(videos_made(heygen)) == 1


TWINS = """\
    version: 1
    name: twins
    kind: %s
    data:
      key: "{{ row.id }}"
      rows: [{id: r01}, {id: r02}]
    %s
    output: "out/{{ key }}.mp4"
"""
SAME_AGENT_BODY = """agent: {prompt: "The same welcome for everyone", duration_sec: 5}"""
SAME_VIDEO_BODY = """video: {title: Same}
    scenes:
      - avatar: {avatar_id: Daisy-inskirt-20220818}
        voice: {voice_id: 2d5b0e6cf36f460aa7fc47e3eee4ba54, text: "The same welcome"}"""


@pytest.mark.parametrize(("kind", "section", "expected"), [
    ("agent", SAME_AGENT_BODY, 1), ("video", SAME_VIDEO_BODY, 0)], ids=["agent", "video"])
def test_twin_rows_follow_their_one_lost_reply(tmp_path: Path, heygen: LoopbackHeyGen, kind: str,
                                               section: str, expected: int) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "vidbuild.yaml").write_text(textwrap.dedent(TWINS % (kind, section)))
    heygen.restart(faults={"drop_after:submit": 1.0})

    code, err = build(project)

    assert code == expected, err
    assert len(videos_made(heygen)) == 1   # one body, one video, whatever happened to the reply
    if kind == "agent":
        assert "FAILED r01: a reply was lost" in err and "FAILED r02: a reply was lost" in err
    else:
        assert (project / "out" / "r01.mp4").read_bytes() == (project / "out" / "r02.mp4").read_bytes()
