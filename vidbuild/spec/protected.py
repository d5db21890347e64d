"""The project's own files, which no output (nor the manifest) may overwrite.

vidbuild reads the project file, the data source, the templates directory and the state
directory (and the project keeps its ``.gitignore``); a video written over one of them destroys
the project (a corrupt state database fails every later command). Paths are compared resolved
and case-folded, so a symlink or a case-insensitive file system (macOS, Windows) can't slip an
output past the check.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from vidbuild.resources import template_tree
from vidbuild.spec.project import Project

MANIFEST_NAMES = ("manifest.json", "manifest.csv", "run_results.json")


@dataclass(frozen=True)
class ProtectedFiles:
    """Files and directory trees (resolved, case-folded) that outputs must stay clear of."""

    files: dict[str, str]          # path -> what it is, for the message
    directories: dict[str, str]    # path with a trailing separator -> what it is
    # Per directory (resolved): what holds for every file in it, and its names that are protected.
    _in_directory: dict[str, _DirectoryView] = field(
        default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, project: Project, state_dir: Path | None = None) -> ProtectedFiles:
        """The project's inputs and its state directory (``state_dir``, default: where
        ``state_root`` puts it: $VIDBUILD_STATE_DIR, else ``.vidbuild/`` in the project)."""
        from vidbuild.spec.rows import data_source
        from vidbuild.state.location import state_root

        files = {_key(project.file): f"the project file {project.file.name}",
                 # Not read by vidbuild, but part of the project an output must not replace.
                 _key(project.root / ".gitignore"): "the project's .gitignore"}
        try:
            source = data_source(project)
        except (OSError, ValueError):
            source = None   # a path that can't exist: reading the data reports it
        if source is not None:
            files[_key(source)] = f"the data source {source.name}"
        state = state_dir or state_root(project.root)
        directories = {_key(project.templates_dir) + os.sep: "the templates directory",
                       _key(state) + os.sep: "the state directory"}
        # A symlink in the templates directory may lead elsewhere in the project: what it
        # leads to is a template all the same.
        for parent, names in template_tree(project.templates_dir):
            directories.setdefault(_key(Path(parent)) + os.sep, "the templates directory")
            files.update((_key(Path(parent, name)), f"the template {name}") for name in names
                         if os.path.islink(os.path.join(parent, name)))
        return cls(files, directories)

    def problem(self, real_path: str, *, output: bool = True) -> str | None:
        """What ``real_path`` (already resolved) would overwrite, or None if it is free; an
        ``output`` may not take a manifest's name either, wherever it is."""
        key = real_path.casefold()
        if key in self.files:
            return f"is {self.files[key]}"
        for directory, what in self.directories.items():
            if key.startswith(directory) or key + os.sep == directory:
                return f"is inside {what}"
        if output and os.path.basename(key) in MANIFEST_NAMES:
            return "is where vidbuild writes its manifest"
        return None


    def problem_in(self, real_directory: str, name: str) -> str | None:
        """``problem`` for an output ``name`` (no separator) in ``real_directory`` (resolved, not
        a link): the same answer, with what the directory holds worked out once for all its files
        (a campaign's 100,000 outputs share a directory or a few)."""
        view = self._in_directory.get(real_directory)
        if view is None:
            view = self._in_directory[real_directory] = self._directory_view(real_directory)
        files, holding, named = view
        key = name.casefold()
        if key in files:
            return files[key]
        found = min(named.get(key, _NONE), holding)   # the first in ``directories``, as ``problem``
        if found is not _NONE:
            return found[1]
        return "is where vidbuild writes its manifest" if key in MANIFEST_NAMES else None

    def _directory_view(self, real_directory: str) -> _DirectoryView:
        """What ``problem`` says of the files in ``real_directory``: by name, those that are
        protected files; the first protected directory holding them all (its place in
        ``directories``, and the message), and by name, the first that a file of that name is."""
        prefix = os.path.join(real_directory, "").casefold()
        files = {path[len(prefix):]: f"is {what}" for path, what in self.files.items()
                 if path.startswith(prefix) and os.sep not in path[len(prefix):]}
        holding, named = _NONE, dict[str, tuple[int, str]]()
        for place, (directory, what) in enumerate(self.directories.items()):
            inner = directory[len(prefix):-1]
            if prefix.startswith(directory):
                holding = min(holding, (place, f"is inside {what}"))
            elif directory.startswith(prefix) and inner and os.sep not in inner:
                named.setdefault(inner, (place, f"is inside {what}"))
        return files, holding, named


_NONE = (sys.maxsize, "")   # no protected directory: sorts after any place in ``directories``
_DirectoryView = tuple[dict[str, str], tuple[int, str], dict[str, tuple[int, str]]]


def _key(path: Path) -> str:
    return os.path.realpath(path).casefold()
