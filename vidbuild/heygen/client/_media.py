"""Checks that a downloaded file is whole: its container's own structure, not only a byte count.

A body cut off on a connection without ``Content-Length`` looks complete to HTTP, so the file
itself is asked. An MP4 (ISO/IEC 14496-12) is a sequence of boxes, each opening with its 32-bit
big-endian size (1: a 64-bit size follows the type; 0: to the end of the file) and a four-letter
type; HeyGen serves MP4 video and JPEG thumbnails (docs: video_status.get, ``video_url`` …mp4,
``thumbnail_url`` …jpg).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

_HEADER = struct.Struct(">I4s")
_LARGE_SIZE = struct.Struct(">Q")


class _Damaged(Exception):
    """The file is not a whole MP4; the message says where it stops making sense."""


def mp4_problem(path: Path) -> str | None:
    """Why the file at ``path`` is not a complete MP4, or None.

    Complete means: the top-level boxes tile the file exactly, the first is ``ftyp``, a ``moov``
    box is whole (its children tile it too) and an ``mdat`` box holds the media.
    """
    size = path.stat().st_size
    try:
        with path.open("rb") as file:
            boxes = list(_boxes(file, 0, size))
            if not boxes or boxes[0][0] != b"ftyp":
                return "it does not start with an MP4 'ftyp' box"
            types = [kind for kind, _, _ in boxes]
            if types.count(b"moov") != 1:
                return f"it holds {types.count(b'moov')} 'moov' boxes, not one"
            if b"mdat" not in types:
                return "it holds no 'mdat' box"
            _, start, end = boxes[types.index(b"moov")]
            for _ in _boxes(file, start, end):
                pass
    except _Damaged as exc:
        return str(exc)
    return None


def jpeg_problem(path: Path) -> str | None:
    """Why the file at ``path`` is not a complete JPEG (SOI at the start, EOI at the end), or None."""
    with path.open("rb") as file:
        head = file.read(2)
        if path.stat().st_size < 4:
            return "it is too short to be a JPEG"
        file.seek(-2, 2)
        tail = file.read(2)
    if head != b"\xff\xd8":
        return "it does not start with a JPEG SOI marker"
    if tail != b"\xff\xd9":
        return "it does not end with a JPEG EOI marker (cut short?)"
    return None


def _boxes(file: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of each box from ``start`` that must end exactly at ``end``."""
    offset = start
    while offset < end:
        file.seek(offset)
        header = file.read(_HEADER.size)
        if len(header) < _HEADER.size or offset + _HEADER.size > end:
            raise _Damaged(f"a box header at byte {offset} is cut off")
        size, kind = _HEADER.unpack(header)
        payload = offset + _HEADER.size
        if not all(0x20 <= byte <= 0x7E for byte in kind):
            raise _Damaged(f"the box at byte {offset} has no valid type")
        if size == 1:
            large = file.read(_LARGE_SIZE.size)
            if len(large) < _LARGE_SIZE.size:
                raise _Damaged(f"the '{kind.decode()}' box at byte {offset} is cut off")
            size = _LARGE_SIZE.unpack(large)[0]
            payload += _LARGE_SIZE.size
        elif size == 0:
            size = end - offset
        if size < payload - offset or offset + size > end:
            raise _Damaged(f"the '{kind.decode()}' box at byte {offset} ends at byte {offset + size}, "
                           f"past the end at byte {end}: cut short")
        yield kind, payload, offset + size
        offset += size
