"""Shared fixtures: real HeyGen unreachable, state confined to temp dirs, inline project trees."""

from __future__ import annotations

import socket
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_LOOPBACK = {"localhost", "127.0.0.1", "::1", None}


@pytest.fixture(autouse=True)
def _no_real_heygen(monkeypatch: pytest.MonkeyPatch,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never reach HeyGen, never read a real key, never touch real state."""
    for name in ("HEYGEN_API_KEY", "HEYGEN_API_BASE", "VIDBUILD_STATE_DIR", "VIDBUILD_EMULATOR_SPEED",
                 "VIDBUILD_EMULATOR_FAULTS", "VIDBUILD_TIMING_SCALE", "VIDBUILD_EMULATOR_LEGACY",
                 "VIDBUILD_EMULATOR_CATALOGUE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    real_getaddrinfo = socket.getaddrinfo

    def loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        if host not in _LOOPBACK and not str(host).startswith("127."):
            raise OSError(f"tests may only reach loopback, not {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    yield


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
