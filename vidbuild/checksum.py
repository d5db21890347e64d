"""The sha256 of files and of byte streams, fed a chunk at a time: one loop for the planner's
"does this file hold the video", the snapshot's fingerprint and the client's downloads."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK_SIZE = 1 << 20   # 1 MiB: few reads for a video, little memory


class Digest(Protocol):
    """What ``hashlib.sha256()`` offers that these functions use."""

    def update(self, data: bytes, /) -> None: ...


def file_chunks(handle: BinaryIO) -> Iterator[bytes]:
    """The rest of an open binary file, ``CHUNK_SIZE`` bytes at a time."""
    return iter(lambda: handle.read(CHUNK_SIZE), b"")


def feed(digest: Digest, chunks: Iterable[bytes], also: Callable[[bytes], object] | None = None) -> int:
    """Hash ``chunks`` into ``digest`` as they come, handing each to ``also`` first (say, a file's
    ``write``); return the number of bytes."""
    size = 0
    for chunk in chunks:
        if also is not None:
            also(chunk)
        digest.update(chunk)
        size += len(chunk)
    return size


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes. OSError if it can't be read."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        feed(digest, file_chunks(handle))
    return digest.hexdigest()
