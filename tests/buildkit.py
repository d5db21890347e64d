"""Shared pieces for the build engine's tests: a small project, a restartable loopback emulator, checks.

The emulator runs in the test process behind a real socket, so a ``vidbuild build`` subprocess
talks to it as it would to HeyGen, and the emulator survives that subprocess being killed.
Restarting it keeps its port (vidbuild's state is namespaced by base URL) and its video store,
so a test can switch faults on and off between builds as an outage would.

Every build test runs twice (see ``pytest_generate_tests`` in conftest.py): with HeyGen's legacy
read routes served, and retired (``legacy=gone``, as HeyGen announced for 2026-11-01).
``LEGACY`` holds the mode of the test running; an emulator keeps it across restarts unless a
test names another.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from vidbuild.emulator import Emulator, EmulatorConfig, RecordedRequest, RunningServer, serve
from vidbuild.heygen import routes
from vidbuild.heygen.client import HeyGenClient

API_KEY = "test-key"
SPEED = 0.001                 # renders take ~35 ms
TIMING_SCALE = "0.001"        # the engine polls and reconciles at the same pace
PROJECT_YAML = """\
    version: 1
    name: campaign
    data:
      source: rows.csv
      key: "{{ row.id }}"
    video:
      title: "Hi {{ row.name }}"
      dimension: {width: 1280, height: 720}
    defaults:
      avatar: {avatar_id: Daisy-inskirt-20220818}
      voice: {voice_id: 2d5b0e6cf36f460aa7fc47e3eee4ba54}
      background: {type: color, value: "#0B1F3A"}
    scenes:
      - id: hello
        voice: {text: "Hi {{ row.name }}, {{ row.line }}"}
    output: "out/{{ key }}.mp4"
"""
# Both generations' create routes: a row goes through the one it was planned for.
SUBMIT_PATHS = frozenset(routes.SUBMIT_ROUTES.values()) | frozenset(routes.V3_SUBMIT_ROUTES.values())
# Variables a subprocess must not inherit from the developer's shell.
_PRIVATE_PREFIXES = ("HEYGEN_", "VIDBUILD_")
# Reads of a video's status (or detail), legacy and v3.
STATUS_PATHS = frozenset({routes.STATUS_ROUTE, routes.V3_STATUSES_ROUTE})
LIST_PATHS = frozenset({routes.LIST_ROUTE, routes.V3_VIDEOS_ROUTE})


def is_status_read(path: str) -> bool:
    """Whether ``path`` reads one or more videos' status: legacy status, v3 statuses or detail."""
    return path in STATUS_PATHS or (path.startswith(routes.V3_VIDEO_ROUTE_PREFIX)
                                    and path != routes.V3_STATUSES_ROUTE)


# How the emulators of the running test answer the retired v1/v2 routes ("served" or "gone").
LEGACY_MODES = ("served", "gone")
LEGACY = "served"


def rows(count: int, line: str = "welcome!") -> list[dict[str, str]]:
    """``count`` rows keyed r01, r02 …, each with its own name."""
    return [{"id": f"r{n:02d}", "name": f"Name{n}", "line": line} for n in range(1, count + 1)]


def write_project(root: Path, data: list[dict[str, str]]) -> Path:
    """A project in ``root`` with ``data`` as its rows.csv; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "vidbuild.yaml").write_text(textwrap.dedent(PROJECT_YAML), encoding="utf-8")
    write_rows(root, data)
    return root


def write_rows(root: Path, data: list[dict[str, str]]) -> None:
    with (root / "rows.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "name", "line"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(data)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest(root: Path) -> dict[str, dict[str, Any]]:
    """out/manifest.json's entries by key."""
    document = json.loads((root / "out" / "manifest.json").read_text(encoding="utf-8"))
    return {entry["key"]: entry for entry in document["videos"]}


class LoopbackHeyGen:
    """The emulator on 127.0.0.1, restartable with other settings on the same port and store."""

    def __init__(self, store: Path, *, speed: float = SPEED, **settings: Any) -> None:
        self.store = store
        self.speed = speed
        self.legacy = str(settings.pop("legacy", LEGACY))
        self._server: RunningServer | None = None
        self._port = 0
        self.restart(**settings)

    @property
    def server(self) -> RunningServer:
        assert self._server is not None, "the emulator is not serving"
        return self._server

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def emulator(self) -> Emulator:
        return self.server.emulator

    def restart(self, *, faults: dict[str, float] | None = None, **settings: Any) -> None:
        """Serve a fresh emulator with these settings (no faults unless given), same port and videos."""
        self.close()
        settings = {"speed": self.speed, "retry_after": 0.01, "legacy": self.legacy, **settings}
        config = EmulatorConfig(faults=faults or {}, state_dir=self.store, **settings)
        self._server = serve(Emulator(config), port=self._port)
        self._port = self._server.port

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server.emulator.close()
            self._server = None

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a vidbuild subprocess pointed at this server, and nothing else."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE_PREFIXES)}
        return {**base, "HEYGEN_API_BASE": self.url, "HEYGEN_API_KEY": API_KEY, "VIDBUILD_BACKEND": "heygen",
                "VIDBUILD_TIMING_SCALE": TIMING_SCALE, **extra}

    def requests(self) -> list[RecordedRequest]:
        return self.emulator.requests()

    def submits(self) -> list[RecordedRequest]:
        return [r for r in self.requests() if r.method == "POST" and r.path in SUBMIT_PATHS]

    def legacy_reads(self) -> list[RecordedRequest]:
        """Every request to a v1/v2 route other than the create routes."""
        return [r for r in self.requests() if routes.is_legacy_route(r.path) and r.path not in SUBMIT_PATHS]

    def served_mp4(self, video_id: str) -> bytes:
        """The video's file as the emulator serves it, fetched like any client would."""
        with httpx.Client(base_url=self.url, headers={"X-Api-Key": API_KEY}) as client:
            # The v3 detail: served whether or not the legacy reads are retired.
            status = client.get(routes.V3_VIDEO_ROUTE_PREFIX + video_id).json()["data"]
            assert status["status"] == "completed", status
            reply = client.get(status["video_url"])
            reply.raise_for_status()
            return reply.content

    # -- the promises -------------------------------------------------------------------------

    def assert_each_body_paid_once(self) -> None:
        """No body created two videos, and every callback_id was created exactly once."""
        assert self.emulator.duplicate_bodies() == []
        counts = self.emulator.callback_counts()
        assert counts and set(counts.values()) == {1}, counts

    def assert_each_body_rendered_once(self) -> None:
        """Where renders failed and were retried: still one successful video per callback_id."""
        good = Counter(v.callback_id for v in self.emulator.videos() if v.error is None)
        assert good and set(good.values()) == {1}, good

    def assert_all_built(self, root: Path, keys: list[str]) -> None:
        """Every row is in the manifest as done, its file byte for byte what the emulator serves.

        Switches faults off first, to fetch the served files reliably.
        """
        self.restart()
        entries = manifest(root)
        assert sorted(entries) == sorted(keys)
        # Oldest first, so where --force paid again the newest video wins.
        by_callback = {v.callback_id: v for v in reversed(self.emulator.videos()) if v.error is None}
        for key in keys:
            entry = entries[key]
            assert entry["status"] == "done", entry
            assert entry["output"] == f"out/{key}.mp4"
            assert by_callback[entry["hash"]].video_id == entry["video_id"]
            on_disk = (root / entry["output"]).read_bytes()
            assert sha256(on_disk) == sha256(self.served_mp4(entry["video_id"])), key


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def run_vidbuild(*args: str, env: dict[str, str], timeout: float = 60.0) -> Run:
    """Run the real CLI as a subprocess and wait for it."""
    done = subprocess.run([sys.executable, "-m", "vidbuild", *args], env=env, capture_output=True,
                          stdin=subprocess.DEVNULL,
                          text=True, timeout=timeout, check=False)
    return Run(done.returncode, done.stdout, done.stderr)


def start_vidbuild(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start the real CLI as a subprocess without waiting (to race or kill it). Ctrl-C reaches it
    as at a terminal, even when the test run itself was started in the background (a shell's
    background job ignores SIGINT, and its children inherit that)."""
    return subprocess.Popen([sys.executable, "-m", "vidbuild", *args], env=env, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_sigint_as_at_a_terminal)


def _sigint_as_at_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def build_with_client_timeout(project: Path, seconds: float, **options: Any) -> tuple[int, str]:
    """Build through the library with the environment's backend, its client made to give up
    waiting for a reply after ``seconds``: (exit code, what the build printed)."""
    import io

    import vidbuild
    from vidbuild.report.progress import PlainReporter

    backend = vidbuild.open_backend(project)
    backend.client.close()
    backend.client = HeyGenClient(backend.base_url, API_KEY, timeout=seconds)
    state = vidbuild.open_state(project, backend=backend)
    err = io.StringIO()
    try:
        outcome = vidbuild.build(project, state=state, backend=backend, reporter=PlainReporter(err),
                                 options=vidbuild.BuildOptions(**options))
    finally:
        state.close()
        backend.close()
    return outcome.exit_code, err.getvalue()


def unstamped(log: str) -> list[str]:
    """A build's stderr lines without the time and ``[n/N]`` a pipe's lines start with."""
    return [re.sub(r"^\d\d:\d\d:\d\d (\[\d+/\d+\] )?", "", line) for line in log.splitlines()]
