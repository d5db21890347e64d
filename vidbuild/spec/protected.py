"""The project's own files, which no output (nor the manifest) may overwrite.

vidbuild reads the project file, the data source, the templates directory and the state
directory (and the project keeps its ``.gitignore``); a video written over one of them destroys
the project (a corrupt state database fails every later command). Paths are compared resolved
and case-folded, so a symlink or a case-insensitive file system (macOS, Windows) can't slip an
output past the check.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vidbuild.resources import template_tree
from vidbuild.spec.project import Project

MANIFEST_NAMES = ("manifest.json", "manifest.csv", "run_results.json")


@dataclass(frozen=True)
class ProtectedFiles:
    """Files and directory trees (resolved, case-folded) that outputs must stay clear of."""

    files: dict[str, str]          # path -> what it is, for the message
    directories: dict[str, str]    # path with a trailing separator -> what it is

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


def _key(path: Path) -> str:
    return os.path.realpath(path).casefold()
