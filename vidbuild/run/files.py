"""A row's output file on disk, kept inside the project directory.

Rows whose bodies are identical share one video (paid once), yet each needs its own file:
copied from the other row's output while that still holds the video, else downloaded again.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from vidbuild.errors import UnsafeOutputError
from vidbuild.planner.decide import holds_video
from vidbuild.spec.protected import ProtectedFiles
from vidbuild.state.protocol import Record


def check_inside(root: Path, destination: Path, protected: ProtectedFiles | None = None, *,
                 output: bool = True) -> None:
    """Checked again at write time: a symlink created since validation must lead neither outside
    the project nor onto one of its ``protected`` files. UnsafeOutputError (a local failure, exit 3)
    if it does."""
    parent = destination.parent.resolve()
    if not parent.is_relative_to(root.resolve()):
        raise UnsafeOutputError(f"output {destination} leads outside the project directory")
    target = parent / destination.name
    clash = protected.problem(os.path.realpath(target), output=output) if protected else None
    if clash:
        raise UnsafeOutputError(f"output {destination} {clash} (a symlink changed since "
                                  "validation?); not writing it")


def own_copy(root: Path, output: str, record: Record,
             protected: ProtectedFiles | None = None) -> Literal["held", "copied"] | None:
    """Make ``output`` hold the video of ``record``: "held" if it already does, "copied" once
    copied there from the output of the row that downloaded it (when that file still holds it),
    None if the video must be downloaded again."""
    own = root / output
    if holds_video(own, record):
        return "held"
    other = root / record.output if record.output else None
    if other is None or not holds_video(other, record):
        return None
    check_inside(root, own, protected)
    own.parent.mkdir(parents=True, exist_ok=True)
    check_inside(root, own, protected)
    # A name of its own: builds running at once may copy the same twin at the same moment.
    temporary = temporary_sibling(own, "copy")
    try:
        shutil.copyfile(other, temporary)
        os.replace(temporary, own)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return "copied"


# vidbuild's own temporary files beside the files it writes; a killed build can leave them behind.
# A download (".part"), one waiting to land (".landing"), a twin's copy (".copy") and the
# manifests (".tmp", made by mkstemp).
TEMPORARY_NAME = re.compile(
    r"\..+\.[0-9a-f]{8}\.(?:part|landing|copy)|\.manifest\.(?:json|csv)\.[a-z0-9_]{8}\.tmp")


_HIDDEN = re.compile(r"\0(\.[^\0]*)")   # in names each preceded by NUL


def _is_file(path: Path) -> bool:
    """A regular file, not a link to one."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def temporary_sibling(path: Path, suffix: str) -> Path:
    """A hidden, unique name beside ``path`` that TEMPORARY_NAME recognises (its suffix: ``part``,
    ``landing`` or ``copy``)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.{suffix}")


def remove_leftovers(directories: Iterable[Path]) -> list[Path]:
    """Delete vidbuild's temporary files (TEMPORARY_NAME) directly in ``directories``; return them.

    Only call this while no other build of the project runs (see ``commands.build``): a running
    build's temporary files are in use. Anything else in those directories is left alone.
    """
    removed = []
    for directory in dict.fromkeys(directories):   # each once (the manifest's is often an output's)
        try:
            names = os.listdir(directory)
        except OSError:
            continue   # not there (yet): nothing to clean
        # Every temporary name is hidden (starts with "."): the hidden ones of 100,000 outputs are
        # found by one search of their names joined (no name holds NUL), not a test per name.
        for name in _HIDDEN.findall("\0" + "\0".join(names)):
            if TEMPORARY_NAME.fullmatch(name) and _is_file(directory / name):
                (directory / name).unlink(missing_ok=True)
                removed.append(directory / name)
    return removed
