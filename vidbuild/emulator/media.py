"""The bytes the emulator serves (a real MP4, JPEG, GIF and MP3) and the signed URLs that lead to them.

The shipped files were made once with ffmpeg (a 1 s, 160x90 test pattern with a tone); a finished
video's MP4 and thumbnail are its preview instead where previews are on (see preview.py).
Each video's copies are stamped with its id in a place players ignore, so every video's
bytes are distinct and the same on every request, and a downloader's checks mean something.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import struct
from importlib import resources
from typing import Final

# File extension -> (shipped file, Content-Type) for a finished video's media.
VIDEO_FILES: Final = {
    "mp4": ("clip.mp4", "video/mp4"),
    "jpg": ("thumbnail.jpg", "image/jpeg"),
    "gif": ("preview.gif", "image/gif"),
}
# Catalogue previews, served unstamped under /static/<group>/<id>.<ext>.
STATIC_FILES: Final = {
    "jpg": ("thumbnail.jpg", "image/jpeg"),
    "mp4": ("clip.mp4", "video/mp4"),
    "mp3": ("voice.mp3", "audio/mpeg"),
}
STATIC_GROUPS: Final = frozenset({"avatars", "talking_photos", "voices"})

# Not a secret: the signature only has to make URLs expire and resist accidental edits,
# and it must be the same in every process that shares a state directory.
_SIGNING_KEY: Final = b"vidbuild-emulator-file-urls"


@functools.cache
def shipped(name: str) -> bytes:
    """The bytes of a file shipped in this package."""
    return resources.files(__package__).joinpath(name).read_bytes()


def stamped(video_id: str, extension: str, data: bytes | None = None) -> bytes:
    """The ``extension`` file of video ``video_id``: ``data`` (default: the shipped file) plus an id
    stamp. The MP4 and JPEG stamps need their files as ffmpeg and Pillow write them: a last
    top-level box, and an SOI marker first."""
    if data is None:
        data = shipped(VIDEO_FILES[extension][0])
    stamp = f"vidbuild-emulator video_id={video_id}".encode()
    if extension == "mp4":
        # A trailing top-level 'free' box: appended after every other box, it moves no offsets.
        return data + struct.pack(">I", 8 + len(stamp)) + b"free" + stamp
    if extension == "jpg":
        # A COM segment right after the SOI marker.
        return data[:2] + b"\xff\xfe" + struct.pack(">H", 2 + len(stamp)) + stamp + data[2:]
    # GIF: a comment extension block placed just before the trailer byte (0x3B).
    return data[:-1] + b"\x21\xfe" + bytes([len(stamp)]) + stamp + b"\x00\x3b"


def signature(video_id: str, extension: str, expires: int) -> str:
    message = f"{video_id}.{extension}:{expires}".encode()
    return hmac.new(_SIGNING_KEY, message, hashlib.sha256).hexdigest()[:32]


def signed_url(base_url: str, video_id: str, extension: str, expires: int) -> str:
    """A file URL like HeyGen's: it carries its expiry time and stops working after it."""
    query = f"Expires={expires}&Signature={signature(video_id, extension, expires)}"
    return f"{base_url}/files/{video_id}.{extension}?{query}"


def url_problem(video_id: str, extension: str, query: dict[str, str], now: float) -> str | None:
    """Why a signed file URL must be refused (403), or None if it is good."""
    try:
        expires = int(query.get("Expires", ""))
    except ValueError:
        return "Request is missing a valid Expires parameter"
    expected = signature(video_id, extension, expires)
    if not hmac.compare_digest(expected, query.get("Signature", "")):
        return "The request signature does not match"
    if now > expires:
        return "Request has expired"
    return None
