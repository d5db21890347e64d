"""The snapshot: a build is a no-op when its inputs and outputs are those of the last complete one.

After a build in which every row ended downloaded, vidbuild records a *snapshot*: a fingerprint of
every input (the project file, the data file, the project's and the built-in templates, vidbuild's
version and the state namespace) and each output's size and mtime. The next build first compares:
if the inputs hash the same and every output still has its size and mtime (as make trusts mtimes),
nothing can have changed, so nothing is expanded, validated or sent (the outputs are listed, with
the rest of the last rows, on a local file: see planner/last_build.py). This module imports neither
Jinja, the YAML parser nor the schema validators, so that check costs little more than the stats.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidbuild.checksum import feed, file_chunks
from vidbuild.resources import template_tree
from vidbuild.state.protocol import State
from vidbuild.version import __version__

SNAPSHOT = "last_complete_build"
SNAPSHOT_FORMAT = 4   # 2: outputs in pages; 4: the last rows, on a file


def input_files(project_file: Path, data_file: Path | None, template_dirs: Iterable[Path]) -> list[str]:
    """Every file whose bytes can change what a build sends: sorted absolute paths."""
    files = {str(project_file)}
    if data_file is not None:
        files.add(str(data_file))
    for directory in template_dirs:
        files.update(_listing(directory))
    return sorted(files)


def _listing(directory: Path) -> list[str]:
    return sorted(os.path.join(parent, name) for parent, names in template_tree(directory) for name in names)


@dataclass(frozen=True)
class InputsSeen:
    """The inputs as a build found them before reading them: each file's stat and the fingerprint.

    A snapshot must describe the bytes the build read. The files are stat'ed before they are read
    and again at the end; a file whose size, mtime, ctime or inode moved (or that came or went)
    changed during the build, even if it was changed back, so the snapshot is refused.
    """

    files: tuple[str, ...]
    stats: dict[str, tuple[int, ...] | None]
    fingerprint: str


def file_stat(name: str | Path) -> tuple[int, ...] | None:
    """What changes whenever a file's bytes do (ctime can't be set back by a user); None if absent."""
    try:
        stat = os.stat(name)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino


def inputs_seen(files: list[str], namespace: str, template_dirs: list[Path],
                earlier: dict[str, tuple[int, ...] | None] | None = None) -> InputsSeen:
    """Stat then fingerprint ``files``; ``earlier`` holds stats taken before (the project file's,
    before it was parsed), which win over the ones taken now."""
    stats = {name: file_stat(name) for name in files}
    stats.update({name: stat for name, stat in (earlier or {}).items() if name in stats})
    return InputsSeen(tuple(files), stats, fingerprint(files, namespace, template_dirs))


def changed_since(seen: InputsSeen, now: InputsSeen) -> list[str]:
    """The files that came, went or changed between two looks; empty if none did."""
    names = set(seen.files) | set(now.files)
    changed = sorted(n for n in names if seen.stats.get(n, ()) != now.stats.get(n, ()))
    if not changed and seen.fingerprint != now.fingerprint:
        changed = list(seen.files)   # same stats, other bytes: can't tell which, so name them all
    return changed


def fingerprint(files: Iterable[str], namespace: str, template_dirs: Iterable[Path]) -> str:
    """sha256 over vidbuild's version, the namespace, the template listings, and each file's bytes."""
    digest = hashlib.sha256(f"{SNAPSHOT_FORMAT}\0{__version__}\0{namespace}\0".encode())
    for directory in template_dirs:   # a new template file can shadow a built-in one
        digest.update("\0".join(_listing(directory)).encode() + b"\1")
    for name in files:
        digest.update(name.encode() + b"\0")
        try:
            with open(name, "rb") as handle:
                feed(digest, file_chunks(handle))
        except OSError:
            digest.update(b"\2missing")
    return digest.hexdigest()


def save(state: State, root: Path, files: list[str], template_dirs: list[Path], rows: tuple[str, str],
         manifest: Path, manifest_files: dict[str, tuple[int, int, int, int]], *,
         read: InputsSeen | None = None) -> None:
    """Record a complete build: its inputs' fingerprint, the ``rows`` file (its path and token:
    the last rows, see planner/last_build.py, with each output's size and mtime_ns), and the
    manifest files' (inode, size, mtime_ns, ctime_ns).

    ``read`` is how the build found its inputs before reading them (the caller has checked they
    have not changed since): its fingerprint is recorded, else one is taken now.
    """
    from vidbuild.planner.last_rows import ROWS

    path, token = rows
    state.set_meta(SNAPSHOT, {
        "root": str(root), "files": files, "template_dirs": [str(d) for d in template_dirs],
        "manifest": str(manifest), ROWS: {"path": path, "token": token}, "manifest_files": manifest_files,
        "fingerprint": read.fingerprint if read else fingerprint(files, state.namespace, template_dirs)})


def forget(state: State) -> None:
    state.set_meta(SNAPSHOT, None)


def is_up_to_date(state: State, root: Path) -> int | None:
    """The number of videos if nothing changed since the last complete build, else None."""
    from vidbuild.planner.last_rows import (
        NUMBERS,
        OUTPUT,
        SIZE,
        TEXTS,
        THUMBNAIL,
        THUMBNAIL_SIZE,
        LastRows,
        rows_entry,
    )

    snapshot: dict[str, Any] | None = state.get_meta(SNAPSHOT)
    found = rows_entry(snapshot)
    if not isinstance(snapshot, dict) or found is None or snapshot.get("root") != str(root) \
            or not os.path.isfile(snapshot["manifest"]):
        return None
    template_dirs = [Path(d) for d in snapshot["template_dirs"]]
    if fingerprint(snapshot["files"], state.namespace, template_dirs) != snapshot["fingerprint"]:
        return None
    rows = LastRows.read(*found)
    if rows is None:
        return None
    prefix = str(root) + os.sep   # outputs are relative POSIX paths inside root (checked at expansion)
    texts, numbers = rows.texts, rows.numbers
    for number in range(len(rows)):
        at, named = number * NUMBERS, number * TEXTS
        # Each file's size, then its mtime.
        for path, place in ((texts[named + OUTPUT], at + SIZE),
                            (texts[named + THUMBNAIL], at + THUMBNAIL_SIZE)):
            if path:
                try:
                    stat = os.stat(prefix + path)
                except OSError:
                    return None
                if stat.st_size != numbers[place] or stat.st_mtime_ns != numbers[place + 1]:
                    return None
    return len(rows)
