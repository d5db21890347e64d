"""Catalogue commands (avatars, voices), their day-long cache, and validate --online."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from vidbuild import commands
from vidbuild.cli import main

PROJECT = {
    "vidbuild.yaml": """
        version: 1
        name: online
        data: {source: people.csv, key: "{{ row.id }}"}
        defaults:
          avatar: {avatar_id: Daisy-inskirt-20220818}
          voice: {voice_id: 2d5b0e6cf36f460aa7fc47e3eee4ba54}
        scenes:
          - id: intro
            voice: {text: "Hi {{ row.name }}"}
          - id: pitch
            avatar: {avatar_id: "{{ row.avatar }}"}
            voice: {text: "Look!", voice_id: "{{ row.voice }}"}
        """,
    "people.csv": ("id,name,avatar,voice\n"
                   "a,Ana,Mark-costume-1234,2d5b0e6cf36f460aa7fc47e3eee4ba54\n"
                   "b,Ben,No-such-avatar,2d5b0e6cf36f460aa7fc47e3eee4ba54\n"
                   "c,Cy,No-such-avatar,0000000000000000000000000000dead\n"),
}


@pytest.fixture
def project(write_tree: Callable[[dict[str, str]], Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    root = write_tree(PROJECT)
    monkeypatch.chdir(root)
    return root


def test_validate_online_names_each_unknown_id_its_scene_and_rows(
        project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["validate"]) == 0            # offline, the IDs look fine
    capsys.readouterr()
    # The emulator's default catalogue takes unknown IDs (with a note); a strict one refuses them.
    monkeypatch.setenv("VIDBUILD_EMULATOR_CATALOGUE", "strict")

    assert main(["validate", "--online"]) == 2

    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("vidbuild: HEYGEN_API_KEY is not set: using the built-in HeyGen emulator")
    assert err[1:] == [
        "vidbuild.yaml:11:25: scenes[pitch].avatar.avatar_id: unknown avatar ID 'No-such-avatar' "
        "(used by rows b, c)",
        "vidbuild.yaml:12:38: scenes[pitch].voice.voice_id: unknown voice ID "
        "'0000000000000000000000000000dead' (used by rows c)",
        "vidbuild: 2 errors, nothing sent",
    ]


def test_validate_online_passes_when_every_id_is_known(project: Path) -> None:
    (project / "people.csv").write_text("id,name,avatar,voice\n"
                                        "a,Ana,Mark-costume-1234,2d5b0e6cf36f460aa7fc47e3eee4ba54\n")
    assert main(["validate", "--online"]) == 0


def test_avatars_prints_a_table_and_json(project: Path) -> None:
    table = io.StringIO()
    assert commands.show_catalogue("avatars", None, stdout=table, stderr=io.StringIO()) == 0
    lines = table.getvalue().splitlines()
    assert lines[0].split() == ["AVATAR_ID", "NAME", "GENDER", "PREMIUM"]
    assert any(line.startswith("Daisy-inskirt-20220818 ") for line in lines)
    assert any(line.startswith("TALKING_PHOTO_ID") for line in lines)
    data = io.StringIO()
    commands.show_catalogue("avatars", None, json_output=True, stdout=data, stderr=io.StringIO())
    parsed = json.loads(data.getvalue())
    assert {"avatars", "talking_photos"} <= set(parsed)
    assert "Mark-costume-1234" in {a["avatar_id"] for a in parsed["avatars"]}


def test_voices_are_cached_for_a_day(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    from vidbuild.heygen.client import HeyGenClient

    real = HeyGenClient.voices
    monkeypatch.setattr(HeyGenClient, "voices", lambda self: calls.append("voices") or real(self))
    for _ in range(2):
        out = io.StringIO()
        commands.show_catalogue("voices", None, stdout=out, stderr=io.StringIO())
        assert "2d5b0e6cf36f460aa7fc47e3eee4ba54" in out.getvalue()
    assert calls == ["voices"]
    commands.show_catalogue("voices", None, refresh=True, stdout=io.StringIO(), stderr=io.StringIO())
    assert calls == ["voices", "voices"]
    assert (project / ".vidbuild").is_dir()   # kept in the project's state directory


def test_the_emulator_command_serves_the_api_on_a_port(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "vidbuild", "emulator", "--port", str(port)],
                              stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        assert f"listening on http://127.0.0.1:{port}" in server.stderr.readline()
        import httpx

        reply = httpx.get(f"http://127.0.0.1:{port}/v2/voices", headers={"X-Api-Key": "k"})
        assert reply.status_code == 200 and reply.json()["data"]["voices"]
    finally:
        server.terminate()
        server.wait(timeout=10)
