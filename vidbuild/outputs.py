"""Run stage, on disk: a row's output file, kept inside the project directory.

Rows whose bodies are identical share one video (paid once), yet each needs its own file:
copied from the other row's output while that still holds the video, else downloaded again.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from vidbuild.errors import InvalidRequestError
from vidbuild.plan import holds_video
from vidbuild.state import Record


def check_inside(root: Path, destination: Path) -> None:
    """Checked again at write time: a symlink created since validation must not lead outside."""
    if not destination.parent.resolve().is_relative_to(root.resolve()):
        raise InvalidRequestError(f"output {destination} leads outside the project directory")


def has_own_copy(root: Path, output: str, record: Record) -> bool:
    """Whether ``output`` holds the video of ``record``, copying it there from the output of the
    row that downloaded it when that file still does; False if it must be downloaded again."""
    own = root / output
    if holds_video(own, record):
        return True
    other = root / record.output if record.output else None
    if other is None or not holds_video(other, record):
        return False
    own.parent.mkdir(parents=True, exist_ok=True)
    check_inside(root, own)
    temporary = own.with_name(f".{own.name}.copy")
    shutil.copyfile(other, temporary)
    os.replace(temporary, own)
    return True
