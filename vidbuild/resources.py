"""Locates the schemas and templates shipped with vidbuild, from a wheel or a checkout."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    # In a wheel the directories are packed under vidbuild/_data/ (see pyproject.toml);
    # in a checkout or an editable install they sit at the repository root.
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"vidbuild's {name}/ directory is missing from this installation")


def schemas_dir() -> Path:
    return _data_dir("schemas")


def templates_dir() -> Path:
    return _data_dir("templates")


def template_tree(directory: Path) -> Iterator[tuple[str, list[str]]]:
    """(directory, its files' names) for every directory Jinja can load templates from under
    ``directory``: its loader follows symlinked directories (snippets shared between projects),
    so this walk does too, each real directory once (a link back up the tree would never end)."""
    seen: set[str] = set()
    for parent, directories, names in os.walk(directory, followlinks=True):
        real = os.path.realpath(parent)
        if real in seen:
            directories.clear()
            continue
        seen.add(real)
        yield parent, [name for name in names if os.path.isfile(os.path.join(parent, name))]


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """Return a JSON Schema shipped in ``schemas/`` by relative file name."""
    with open(schemas_dir() / name, encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema
