"""Opening a project: a project file parsed before is taken from the state directory, not parsed again.

Parsing vidbuild.yaml (importing ruamel.yaml, its pure-Python parser) and checking it against the
project schema cost ~20 ms a command (a build of one edited row of 10,000 takes ~0.5 s). A project
file that parsed cleanly (no schema violation at all) is kept, as its parsed ``Document``, in
``<state directory>/project.parsed`` under a key: the file's bytes and vidbuild's code (planner/
fingerprint.py's ``code_fingerprint``: its version, source files and schemas, the versions of
Jinja and Python, the package files of ruamel.yaml and jsonschema-rs). A later command whose file
and code give the same key takes the document from there, as mypy takes a module from its cache,
and checks it against the project schema again (~0.1 ms), so a kept document is never used
unvalidated.

The file is JSON (positions as ``[path, line, column]`` lists), written atomically and only into a
state directory that exists. It is read only if it is a regular file (not a link, a pipe or a
device) of at most ``MAX_BYTES``, and only if it is whole, of the shape written and carries the
key; anything else about it is a miss, never an error. Like the rest of the state directory
(which says what was paid for and which rows are up to date), it is trusted not to be forged: a
key is a digest, not a signature.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import secrets
from pathlib import Path
from stat import S_ISREG
from typing import Any, Final

from vidbuild.spec.load import Document
from vidbuild.spec.project import Project, display_path, find_project_file, load_project
from vidbuild.spec.validate import schema_report

FORMAT = 2
CACHE_FILE = "project.parsed"
MAX_BYTES: Final = 16 << 20   # a kept document larger than this is not read


def parsed_project(path: str | Path | None, directory: Path) -> Project:
    """The project at ``path`` (a directory or its vidbuild.yaml; None: the current directory),
    from the cache in ``directory`` (a state directory) if its file is unchanged, else parsed (and
    kept there if it parsed cleanly). Raises as ``spec.project.load_project`` does."""
    file = find_project_file(path)
    raw = _bytes_of(file)
    if raw is not None and (kept := _read(directory / CACHE_FILE, cache_key(raw))) is not None:
        document = Document(display_path(file), *kept)
        if schema_report(document) == ([], False):   # checked again: ~0.1 ms, the schema compiled in 1
            return Project(file=file, root=file.parent, document=document)
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
    """Keep ``project``, parsed from ``raw``, in the state directory ``directory`` (if it exists,
    the project has no schema violation and its document is plain JSON data); nothing if it can't
    be written."""
    document = project.document
    if project.value_errors or not directory.is_dir() or not _plain(document.data):
        return
    entry = {"format": FORMAT, "key": cache_key(raw), "data": document.data,
             "values": [[list(path), *place] for path, place in document.values.items()],
             "keys": [[list(path), *place] for path, place in document.keys.items()],
             "block_scalars": [list(path) for path in document.block_scalars]}
    _write(directory / CACHE_FILE, json.dumps(entry, ensure_ascii=False, allow_nan=False).encode("utf-8"))


def cache_key(raw: bytes) -> str:
    """sha256 (hex) of a project file's bytes and of the code that parses and checks it."""
    from vidbuild.planner.fingerprint import code_fingerprint

    digest = hashlib.sha256(f"{FORMAT}\0{code_fingerprint()}\0".encode())
    digest.update(raw)
    return digest.hexdigest()


def _read(path: Path, key: str) -> tuple[Any, dict[Any, Any], dict[Any, Any], set[Any]] | None:
    """The kept document's (data, values, keys, block_scalars) if ``path`` is a regular file (not
    a link, a pipe or a device) of at most ``MAX_BYTES`` holding ``key``'s entry, whole and of the
    right shape; else None. Anything wrong with it is a miss, never an error."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        stat = os.fstat(descriptor)
        if not S_ISREG(stat.st_mode) or stat.st_size > MAX_BYTES:
            return None
        with os.fdopen(descriptor, "rb", closefd=False) as stream:
            entry = json.loads(stream.read(MAX_BYTES + 1))
        return _entry(entry, key)
    except (OSError, ValueError, RecursionError, MemoryError):   # unreadable, not JSON, too deep
        return None
    finally:
        os.close(descriptor)


def _entry(entry: Any, key: str) -> tuple[Any, dict[Any, Any], dict[Any, Any], set[Any]] | None:
    """The document of a decoded ``entry`` if it is ``key``'s and of the shape ``keep`` writes."""
    if not (isinstance(entry, dict) and entry.get("format") == FORMAT and entry.get("key") == key
            and isinstance(entry.get("data"), dict)):
        return None
    values, keys = _places(entry.get("values")), _places(entry.get("keys"))
    scalars = entry.get("block_scalars")
    if values is None or keys is None or not isinstance(scalars, list) \
            or not all(_is_path(path) for path in scalars):
        return None
    return entry["data"], values, keys, {tuple(path) for path in scalars}


def _places(found: Any) -> dict[tuple[str | int, ...], tuple[int, int]] | None:
    if not isinstance(found, list):
        return None
    places = {}
    for item in found:
        if not (isinstance(item, list) and len(item) == 3 and _is_path(item[0])
                and type(item[1]) is int and type(item[2]) is int):
            return None
        places[tuple(item[0])] = (item[1], item[2])
    return places


def _is_path(path: Any) -> bool:
    return isinstance(path, list) and all(type(part) in (str, int) for part in path)


def _plain(value: Any) -> bool:
    """Whether ``value`` comes back from JSON as it is: text-keyed mappings, lists, text, whole
    and finite numbers, booleans and null (a YAML document's data, as spec/load.py makes it)."""
    if isinstance(value, dict):
        return all(type(name) is str and _plain(item) for name, item in value.items())
    if isinstance(value, list):
        return all(_plain(item) for item in value)
    if type(value) is float:
        return math.isfinite(value)
    return value is None or type(value) in (str, int, bool)


def _write(path: Path, text: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        temporary.write_bytes(text)
        os.replace(temporary, path)
    except OSError:   # a full disk, a read-only directory: parsed again next time
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
