"""The lock files that tell builds of one project about each other: a flock on the project directory
(who may clean up what killed builds left) and the owner files under ``STATE/*/owners/`` (which
build is alive), both fcntl locks that the kernel releases when a process dies."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType


class BuildLock:
    """A flock on the project directory: every build holds it shared while it may leave temporary
    files; a build that gets it exclusively is the only one running, so any temporary file it
    finds was left by a build that is gone (killed). Held per project whatever --state-dir says."""

    def __init__(self, root: Path) -> None:
        self._descriptor = os.open(root, os.O_RDONLY)

    def alone(self) -> bool:
        """Whether no other build holds the lock (this one then holds it exclusively)."""
        try:
            fcntl.flock(self._descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def share(self) -> None:
        """Hold it shared (waiting while another build cleans up)."""
        fcntl.flock(self._descriptor, fcntl.LOCK_SH)

    def __enter__(self) -> BuildLock:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        os.close(self._descriptor)   # releases the lock


def build_running(state_root: Path) -> bool:
    """Whether a live process holds a ``DiskState`` open under ``state_root`` (any namespace):
    each holds its owner file locked for as long as it runs."""
    for lock in state_root.glob("*/owners/*.lock"):
        with lock.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
    return False
