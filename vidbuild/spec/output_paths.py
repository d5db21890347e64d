"""Where each row's video may go: a key that names a file on every system, an output path that
stays inside the project and overwrites none of its own files, and the manifest beside them."""

from __future__ import annotations

import functools
import os
import posixpath
import re
from pathlib import Path

from vidbuild.spec.project import Project
from vidbuild.spec.protected import MANIFEST_NAMES, ProtectedFiles

SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_RESERVED_NAMES = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
                             *(f"lpt{i}" for i in range(10))})
_DRIVE = re.compile(r"^[A-Za-z]:")


def key_problem(key: str) -> str | None:
    """Why a rendered key can't name a file on every system, or None."""
    if not SAFE_KEY.match(key):
        return (f"key {key!r} can't name a file: use letters, digits, '.', '_' and '-' "
                f"(starting with a letter or digit, at most 200 characters)")
    stem = key.split(".")[0]
    if stem.lower() in _RESERVED_NAMES:
        return f"key {key!r} can't name a file: {stem} is a reserved device name on Windows"
    return None


def output_problem(root: Path, rendered: str, protected: ProtectedFiles | None = None, *,
                   known: bool = False) -> str | None:
    """Why an output path is unsafe, or None: it must be relative, stay inside the project and
    overwrite none of the ``protected`` files (the project's inputs, its state, the manifest).

    ``known``: the path is a known row's (planner/fingerprint.py): rendered by this same code
    from the same project file, its words passed these checks when the row was remembered, and
    the caller found the file itself no symlink (an ``lstat``). Only what the file system can
    change since is checked again: the directories on the way, and the protected files."""
    relative = posixpath.normpath(rendered.replace("\\", "/"))
    if not known and (problem := _words_problem(rendered, relative)):
        return problem
    # The words can't leave the directory; a symlink on the way still could. Directories are
    # resolved once each (rows share them); the file itself only if it is a link.
    base = _resolved(str(root), "")
    parent, _, name = relative.rpartition("/")
    directory = _resolved(str(root), parent)
    target = os.path.join(directory, name)
    linked = not known and os.path.islink(target)
    if linked:
        target = os.path.realpath(target)
    if not target.startswith(base.rstrip("/") + "/"):
        return f"output path {rendered!r} escapes the project directory"
    blocker = _file_on_the_way(str(root), parent)
    if blocker is not None:
        return f"output path {rendered!r} needs {blocker} to be a directory, but it is a file"
    if protected is None:
        return None
    clash = protected.problem(target) if linked else protected.problem_in(directory, name)
    if clash:
        return f"output path {rendered!r} {clash}: vidbuild would overwrite it"
    return None


def _words_problem(rendered: str, relative: str) -> str | None:
    """What the words of an output path get wrong (``relative``: normalised), or None."""
    if not rendered:
        return "output path is empty"
    if "\x00" in rendered:
        return "output path contains a NUL character"
    if relative.startswith("/") or _DRIVE.match(rendered):
        return f"output path {rendered!r} must be relative to the project directory"
    if relative == ".":
        return f"output path {rendered!r} is the project directory itself, not a file in it"
    if relative == ".." or relative.startswith("../"):
        return f"output path {rendered!r} escapes the project directory"
    return None


@functools.lru_cache(maxsize=4096)
def _resolved(root: str, directory: str) -> str:
    return os.path.realpath(os.path.join(root, directory))


@functools.lru_cache(maxsize=4096)
def _file_on_the_way(root: str, directory: str) -> str | None:
    """The first of ``directory``'s leading paths (relative, '/'-separated) that exists but is
    not a directory, or None: the video could never be written below it, so it must not be paid."""
    if not directory:
        return None
    above = posixpath.dirname(directory)
    blocker = _file_on_the_way(root, above) if above else None
    if blocker is None and os.path.exists(os.path.join(root, directory)) \
            and not os.path.isdir(os.path.join(root, directory)):
        return directory
    return blocker


class OutputDirectories:
    """The deepest directory all outputs share, found as rows go by: the manifest goes there."""

    def __init__(self) -> None:
        self.common: str | None = None
        self._last = ""

    def add(self, output: str) -> None:
        parent = posixpath.dirname(output)
        if parent == self._last and self.common is not None:
            return
        self._last = parent
        self.common = parent if self.common is None else posixpath.commonpath([self.common, parent])

    def manifest_clash(self, project: Project, protected: ProtectedFiles) -> str | None:
        """Why the manifest, written beside the outputs, would overwrite a protected file."""
        if self.common is None:
            return None
        for name in MANIFEST_NAMES:
            path = os.path.realpath(project.root / self.common / name)
            clash = protected.problem(path, output=False)
            if clash:
                where = posixpath.join(self.common, name) if self.common else name
                return f"the manifest {where} {clash}: vidbuild would overwrite it"
        return None
