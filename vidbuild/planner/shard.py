"""Plan stage, splitting a campaign: ``--shard K/N`` keeps the rows of one of N stable parts.

A row belongs to a shard by its key alone (a digest of the key, never its place in the data), so
adding, removing or reordering rows moves no other row to another shard, and N CI jobs given
``1/N`` … ``N/N`` cover every row exactly once between them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

from vidbuild.errors import UsageError

_SPELLING = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


class _HasKey(Protocol):
    @property
    def key(self) -> str: ...


_Row = TypeVar("_Row", bound=_HasKey)


@dataclass(frozen=True)
class Shard:
    """Part ``number`` (1-based, as CI matrices count) of ``count`` parts."""

    number: int
    count: int

    def __str__(self) -> str:
        return f"{self.number}/{self.count}"

    def holds(self, key: str) -> bool:
        """Whether the row keyed ``key`` is in this part: the first 8 bytes of sha256(key, UTF-8),
        as an unsigned number, modulo ``count``, is ``number - 1``."""
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.number - 1


def parse_shard(text: str) -> Shard:
    """``K/N`` (whole numbers, 1 <= K <= N) as a Shard; UsageError naming the value otherwise."""
    match = _SPELLING.fullmatch(text)
    if match is None:
        raise UsageError(f"--shard must be K/N (say 2/3: the second of three parts), got {text!r}")
    number, count = int(match[1]), int(match[2])
    if count < 1 or not 1 <= number <= count:
        raise UsageError(f"--shard {text!r}: K must be between 1 and N (N at least 1)")
    return Shard(number, count)


def in_shard(rows: Iterable[_Row], shard: Shard | None) -> Iterator[_Row]:
    """The rows of ``shard`` (all of them without one), in their order."""
    if shard is None:
        yield from rows
        return
    for row in rows:
        if shard.holds(row.key):
            yield row
