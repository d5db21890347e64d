"""The one chunked sha256 loop, shared by the planner, the snapshot and the client's downloads."""

from __future__ import annotations

import hashlib
from pathlib import Path

from vidbuild.checksum import CHUNK_SIZE, feed, file_chunks, file_sha256


def test_a_file_over_several_chunks_hashes_as_its_whole_bytes(tmp_path: Path) -> None:
    data = bytes(range(256)) * (CHUNK_SIZE // 256 * 2 + 3)   # two chunks and a part
    path = tmp_path / "video.mp4"
    path.write_bytes(data)

    with path.open("rb") as handle:
        assert [len(chunk) for chunk in file_chunks(handle)] == [CHUNK_SIZE, CHUNK_SIZE, 768]
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_feed_counts_the_bytes_and_hands_each_chunk_on_before_hashing_it() -> None:
    digest = hashlib.sha256()
    seen: list[bytes] = []

    size = feed(digest, iter([b"ab", b"", b"cde"]), also=seen.append)

    assert (size, seen, digest.hexdigest()) == (5, [b"ab", b"", b"cde"], hashlib.sha256(b"abcde").hexdigest())
