"""Sealed local files: a body behind a header line that names its format, the build's token, the
byte order, a few counts and the body's sha256, written whole and renamed into place; read back
only if all of them match (the last rows and the data layout a complete build keeps)."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def write_sealed(path: Path, magic: bytes, token: str, counts: Sequence[int], body: bytes) -> None:
    """Write ``body`` to ``path`` behind its header line (``magic`` may hold spaces; ``token``
    and the counts may not), through a temporary file renamed over it, readable by its owner only
    (it may copy a data file's rows). OSError if it can't be."""
    header = b" ".join((magic, token.encode(), sys.byteorder.encode(), *(b"%d" % count for count in counts),
                        hashlib.sha256(body).hexdigest().encode()))
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{token}.tmp")
    try:
        with open(temporary, "wb", opener=_owner_only) as stream:
            stream.write(header + b"\n")
            stream.write(body)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def read_sealed(path: Path, magic: bytes, token: str, counts: int) -> tuple[list[int], bytes] | None:
    """The ``counts`` counts and the body of the file ``write_sealed`` wrote to ``path`` with
    ``magic`` and ``token``, on a machine of this byte order; None if there is no such file, or it
    is another's, cut or changed since."""
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError:
        return None
    header, _, body = data.partition(b"\n")
    words = header.rsplit(b" ", 3 + counts)
    if len(words) != 4 + counts or words[:3] != [magic, token.encode(), sys.byteorder.encode()] \
            or not all(word.isdigit() for word in words[3:-1]) \
            or hashlib.sha256(body).hexdigest().encode() != words[-1]:
        return None
    return [int(word) for word in words[3:-1]], body


def _owner_only(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)
