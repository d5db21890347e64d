"""A real headless Chromium for the tests, driven by Playwright for Python.

It is Debian's ``chromium`` package (/usr/bin/chromium), never a browser Playwright downloads
(``playwright install`` is not used): the browser is the one users of the machine image have.
When it is missing and the suite runs as root, it is installed once with apt-get, under a file
lock so parallel test runs don't race each other (apt's own lock would fail the second one).
Without it the browser tests skip with the reason, except under CI=true, where they fail instead,
as the PostgreSQL tests do (see pg_cluster.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_LOCK = Path(tempfile.gettempdir()) / "vidbuild-chromium-install.lock"
INSTALL_LOG = Path(tempfile.gettempdir()) / "vidbuild-chromium-install.log"
INSTALL_TIMEOUT = 1200.0   # seconds: chromium and its libraries are ~100 MB from the mirror
# No GPU, no sandbox (root in a container), nothing fetched in the background: the only requests
# the browser makes are the page's own.
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")


def _unavailable(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def ensure_chromium() -> Path:
    """/usr/bin/chromium, installed with apt-get first if missing and we are root; else skip
    (fail under CI=true) with the reason."""
    if CHROMIUM.is_file():
        return CHROMIUM
    if os.geteuid() != 0:
        _unavailable(f"{CHROMIUM} is missing and the tests don't run as root: apt-get install chromium")
    if shutil.which("apt-get") is None:
        _unavailable(f"{CHROMIUM} is missing and there is no apt-get to install it")
    with INSTALL_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # a parallel run installing it: wait, then find it there
        if not CHROMIUM.is_file():
            _install()
    if not CHROMIUM.is_file():
        _unavailable(f"apt-get install chromium ran but {CHROMIUM} is still missing (see {INSTALL_LOG})")
    return CHROMIUM


def _install() -> None:
    command = ["apt-get", "install", "-y", "--no-install-recommends",
               "-o", "DPkg::Lock::Timeout=600", "chromium"]
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with INSTALL_LOG.open("w") as log:
        try:
            done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=environment,
                                  timeout=INSTALL_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            _unavailable(f"apt-get install chromium took over {INSTALL_TIMEOUT:.0f} s (see {INSTALL_LOG})")
            return
    if done.returncode != 0:
        _unavailable(f"apt-get install chromium failed with {done.returncode} (see {INSTALL_LOG})")


@contextlib.contextmanager
def launched() -> Iterator[Any]:
    """A Playwright BrowserContext on the system Chromium with a fresh, throwaway profile
    (Playwright takes the profile directory as ``user_data_dir``, passed on as --user-data-dir)."""
    executable = ensure_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: pip install -e '.[test]'")
        raise
    profile = tempfile.mkdtemp(prefix="vidbuild-chromium-")
    try:
        with sync_playwright() as driver:
            context = driver.chromium.launch_persistent_context(
                profile, executable_path=str(executable), headless=True, args=list(CHROMIUM_ARGS))
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":   # bring the browser up ahead of a test run: python tests/browser.py
    print(ensure_chromium())
