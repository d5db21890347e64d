"""Opening a project: a project file parsed before is taken from the state directory, not parsed again.

Parsing vidbuild.yaml (importing ruamel.yaml, its pure-Python parser) and checking it against the
project schema cost ~20 ms a command (a build of one edited row of 10,000 takes ~0.5 s). A project
file that parsed cleanly (no schema violation at all) is kept, as its parsed ``Document``, in
``<state directory>/project.parsed`` under a key: the file's bytes, vidbuild's code (planner/
fingerprint.py's ``code_fingerprint``: its version, source files, schemas, the versions of Jinja
and Python, ruamel.yaml's package file). A later command
whose file and code give the same key takes the document from there, as mypy takes a module from
its cache. The file holds one entry, in ``marshal`` format (the document's positions are keyed
by tuples and its block scalars are a set, which JSON has neither of); it is written atomically,
only into a state directory that exists, and failing to read or write it is a miss, never an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import secrets
from pathlib import Path
from typing import Any

from vidbuild.spec.load import Document
from vidbuild.spec.project import Project, display_path, find_project_file, load_project

FORMAT = 1
CACHE_FILE = "project.parsed"


def parsed_project(path: str | Path | None, directory: Path) -> Project:
    """The project at ``path`` (a directory or its vidbuild.yaml; None: the current directory),
    from the cache in ``directory`` (a state directory) if its file is unchanged, else parsed (and
    kept there if it parsed cleanly). Raises as ``spec.project.load_project`` does."""
    file = find_project_file(path)
    raw = _bytes_of(file)
    if raw is not None and (kept := _read(directory / CACHE_FILE, cache_key(raw))) is not None:
        return Project(file=file, root=file.parent, document=Document(display_path(file), *kept))
    project = load_project(file, raw)   # the very bytes the key is made from
    if raw is not None:
        keep(project, raw, directory)
    return project


def parse(path: str | Path | None) -> tuple[Project, bytes | None]:
    """The project at ``path`` parsed, with the bytes it was parsed from (None if they could not
    be read: then load_project raised), for ``keep`` once its state directory exists."""
    file = find_project_file(path)
    raw = _bytes_of(file)
    return load_project(file, raw), raw


def _bytes_of(file: Path) -> bytes | None:
    try:
        return file.read_bytes()
    except OSError:
        return None   # load_project reads it again, and says why it can't


def keep(project: Project, raw: bytes, directory: Path) -> None:
    """Keep ``project``, parsed from ``raw``, in the state directory ``directory`` (if it exists
    and the project has no schema violation); nothing if it can't be written."""
    if not project.value_errors and directory.is_dir():
        document = project.document
        _write(directory / CACHE_FILE, (FORMAT, cache_key(raw), document.data, document.values, document.keys,
                                        document.block_scalars))


def cache_key(raw: bytes) -> str:
    """sha256 (hex) of a project file's bytes and of the code that parses and checks it."""
    from vidbuild.planner.fingerprint import code_fingerprint

    digest = hashlib.sha256(f"{FORMAT}\0{code_fingerprint()}\0".encode())
    digest.update(raw)
    return digest.hexdigest()


def _read(path: Path, key: str) -> tuple[Any, dict[Any, Any], dict[Any, Any], set[Any]] | None:
    """The kept document's (data, values, keys, block_scalars) if ``path`` holds ``key``'s."""
    try:
        kept = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):   # absent, cut short, not marshal data
        return None
    if not (isinstance(kept, tuple) and len(kept) == 6 and kept[:2] == (FORMAT, key)):
        return None
    _, _, data, values, keys, block_scalars = kept
    if not (isinstance(data, dict) and isinstance(values, dict) and isinstance(keys, dict)
            and isinstance(block_scalars, set)):
        return None
    return data, values, keys, block_scalars


def _write(path: Path, entry: tuple[Any, ...]) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        temporary.write_bytes(marshal.dumps(entry))
        os.replace(temporary, path)
    except (OSError, ValueError):   # a full disk, a read-only directory: parsed again next time
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
