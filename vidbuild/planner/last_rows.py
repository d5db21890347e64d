"""The last rows of a complete build, column by column, and the local file that keeps them.

Per row, ``TEXTS`` texts (its fingerprint, key, hash, API generation, route reason, output and
thumbnail, "" where it has none), ``NUMBERS`` whole numbers (its output's size and mtime_ns, its
thumbnail's, (0, 0) if none) and ``SPANS`` more (where the manifest put its entry: the JSON text's
byte offset and length, then the CSV line's). The file is local, beside the state (it speaks of
this machine's outputs and manifest), written whole and renamed into place, and carries a random
token the snapshot records: a file some other build wrote since is not this snapshot's.

Its layout: a header line (``MAGIC``, the token, the byte order, the row count and the sha256 of
what follows, so a file changed since is no snapshot's), the numbers
and then the spans as native 64-bit integers, then the texts in UTF-8, each followed by a NUL
(none can hold one: keys are plain, paths with a NUL are refused, the rest are vidbuild's).
"""

from __future__ import annotations

import secrets
from array import array
from collections.abc import Sequence
from pathlib import Path

from vidbuild.spec.sealed_file import read_sealed, write_sealed

MAGIC = b"vidbuild last rows 1"
ROWS = "last_rows"   # the snapshot's entry: the path of its last rows' file and the file's token
TEXTS, NUMBERS, SPANS = 7, 4, 4
FINGERPRINT, KEY, HASH, GENERATION, REASON, OUTPUT, THUMBNAIL = range(TEXTS)
SIZE, MTIME, THUMBNAIL_SIZE, THUMBNAIL_MTIME = range(NUMBERS)
JSON_AT, JSON_LENGTH, CSV_AT, CSV_LENGTH = range(SPANS)


def rows_entry(snapshot: object) -> tuple[Path, str] | None:
    """The (path, token) of the last rows' file a snapshot (planner/up_to_date.py) names, or None
    if it names none (a snapshot of another layout is no snapshot)."""
    if not isinstance(snapshot, dict):
        return None
    entry = snapshot.get(ROWS)
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) \
            or not isinstance(entry.get("token"), str):
        return None
    return Path(entry["path"]), entry["token"]


class LastRows:
    """Rows as three flat columns: ``texts`` (``TEXTS`` a row), ``numbers`` (``NUMBERS`` a row)
    and ``spans`` (``SPANS`` a row)."""

    def __init__(self, texts: list[str] | None = None, numbers: array[int] | None = None,
                 spans: array[int] | None = None) -> None:
        self.texts = texts if texts is not None else []
        self.numbers = numbers if numbers is not None else array("q")
        self.spans = spans if spans is not None else array("q")

    def __len__(self) -> int:
        return len(self.texts) // TEXTS

    def add(self, texts: Sequence[str], numbers: Sequence[int]) -> None:
        """Add a row's texts and numbers (its spans are added apart, as the manifest is written)."""
        self.texts.extend(texts)
        self.numbers.extend(numbers)

    def copy(self, source: LastRows, number: int, count: int) -> None:
        """Add ``source``'s rows ``number`` to ``number + count - 1`` (their texts and numbers)."""
        self.texts.extend(source.texts[number * TEXTS:(number + count) * TEXTS])
        self.numbers.extend(source.numbers[number * NUMBERS:(number + count) * NUMBERS])

    def write(self, path: Path) -> str:
        """Write the rows to ``path`` (atomically: a temporary file renamed over it); returns the
        token the file carries. OSError if it can't be written."""
        count = len(self)
        if len(self.numbers) != count * NUMBERS or len(self.spans) != count * SPANS:
            raise ValueError(f"last rows: {count} rows, {len(self.numbers)} numbers, {len(self.spans)} spans")
        token = secrets.token_hex(8)
        body = b"".join((self.numbers.tobytes(), self.spans.tobytes(),
                         "\0".join(self.texts).encode("utf-8", "surrogatepass"), b"\0"))
        write_sealed(path, MAGIC, token, [count], body)
        return token

    @classmethod
    def read(cls, path: Path, token: str) -> LastRows | None:
        """The rows ``path`` holds, if it is the file with ``token`` and whole; else None."""
        sealed = read_sealed(path, MAGIC, token, 1)
        if sealed is None:
            return None
        (count,), body = sealed
        numbers, spans = array("q"), array("q")
        width = numbers.itemsize
        at = count * NUMBERS * width
        try:
            numbers.frombytes(body[:at])
            spans.frombytes(body[at:at + count * SPANS * width])
            texts = body[at + count * SPANS * width:].decode("utf-8", "surrogatepass").split("\0")
        except ValueError:   # a cut file: a partial number, or a partial character
            return None
        if len(numbers) != count * NUMBERS or len(spans) != count * SPANS or len(texts) != count * TEXTS + 1 \
                or texts.pop() != "":
            return None
        return cls(texts, numbers, spans)
