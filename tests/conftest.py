"""Shared fixtures: real HeyGen unreachable, state confined to temp dirs, inline project trees."""

from __future__ import annotations

import socket
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_LOOPBACK = {"localhost", "127.0.0.1", "::1", None}
# Build tests that use the in-process emulator rather than buildkit's loopback one; they too run
# with the legacy reads served and retired.
_IN_PROCESS_BUILD_MODULES = frozenset({"test_identical_rows", "test_report", "test_uptodate"})


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every build test (a module using buildkit, or one named above) runs in both legacy modes."""
    module = metafunc.module
    uses_buildkit = any(getattr(value, "__module__", None) == "buildkit" for value in vars(module).values())
    if uses_buildkit or module.__name__ in _IN_PROCESS_BUILD_MODULES:
        # First, so that the emulators the test's other fixtures start already have the mode.
        if "legacy_mode" in metafunc.fixturenames:
            metafunc.fixturenames.remove("legacy_mode")
        metafunc.fixturenames.insert(0, "legacy_mode")
        metafunc.parametrize("legacy_mode", ["served", "gone"], indirect=True)


@pytest.fixture
def legacy_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
                _no_real_heygen: None) -> str:
    """How the test's emulators answer HeyGen's retired v1/v2 reads: "served" or "gone"."""
    import buildkit

    mode = str(request.param)
    monkeypatch.setattr(buildkit, "LEGACY", mode)
    if mode != "served":
        monkeypatch.setenv("VIDBUILD_EMULATOR_LEGACY", mode)
    return mode


@pytest.fixture
def heygen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A loopback HeyGen (buildkit.LoopbackHeyGen) that the CLI reaches through the environment,
    with the client's retry backoff shortened so fault tests stay fast."""
    import buildkit

    import vidbuild.heygen.client._http

    server = buildkit.LoopbackHeyGen(tmp_path / "heygen")
    for name, value in server.env().items():
        if name.startswith(("HEYGEN_", "VIDBUILD_")):
            monkeypatch.setenv(name, value)
    monkeypatch.setattr(vidbuild.heygen.client._http, "backoff", lambda attempt, random: 0.002 * attempt)
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _no_real_heygen(monkeypatch: pytest.MonkeyPatch,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never reach HeyGen, never read a real key, never touch real state or a real cache."""
    for name in ("HEYGEN_API_KEY", "HEYGEN_API_BASE", "VIDBUILD_STATE_DIR", "VIDBUILD_STATE_URL",
                 "VIDBUILD_EMULATOR_SPEED", "VIDBUILD_EMULATOR_FAULTS", "VIDBUILD_TIMING_SCALE",
                 "VIDBUILD_EMULATOR_LEGACY", "VIDBUILD_EMULATOR_CATALOGUE", "VIDBUILD_EMULATOR_PREVIEWS"):
        monkeypatch.delenv(name, raising=False)
    # CI runs the suite with CI=true: its builds ask for the emulator by name, as a user's CI job
    # must (tests/test_spend_safely.py unsets this to see the refusal); buildkit's loopback
    # HeyGen names its own backend.
    # Its own MonkeyPatch, so a test that undoes its own changes (monkeypatch.undo()) keeps it.
    backend = pytest.MonkeyPatch()
    backend.setenv("VIDBUILD_BACKEND", "emulator")
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    # The catalogue cache outside a project goes to $XDG_CACHE_HOME/vidbuild: a temp dir too,
    # whatever the machine running the tests has set.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    real_getaddrinfo = socket.getaddrinfo

    def loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        if host not in _LOOPBACK and not str(host).startswith("127."):
            raise OSError(f"tests may only reach loopback, not {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    yield
    backend.undo()


@pytest.fixture
def write_tree(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """Write ``{relative path: dedented text}`` under a temp dir and return the dir."""

    def write(files: dict[str, str]) -> Path:
        for relative, text in files.items():
            path = tmp_path / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return tmp_path

    return write


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A throwaway PostgreSQL server on loopback (tests/pg_cluster.py), one per test module."""
    from pg_cluster import running_cluster

    with running_cluster() as started:
        yield started


@pytest.fixture
def url(cluster: Any) -> str:
    """A fresh database on the module's server, as a postgresql:// URL."""
    return str(cluster.new_database())
