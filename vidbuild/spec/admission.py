"""One pass's record of the keys and outputs its rows took: both must be unique across rows."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from vidbuild.spec.diagnostics import DiagnosticSink
from vidbuild.spec.rows import Row


class Admission:
    """The keys and outputs (and thumbnails) seen so far in one pass over the rows. Each keeps
    only where its row is (index, file, line), not the row's values: 100,000 rows add up."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[int, str, int]] = {}
        self.outputs: dict[str, tuple[str, int, str, int]] = {}

    def _admit_key(self, row: Row, key: str, sink: DiagnosticSink) -> bool:
        """Whether ``key`` is the row's own (the first to take it); else the duplicate goes to ``sink``."""
        first_index, first_file, first_line = self.keys.setdefault(key, (row.index, row.file, row.line))
        if first_index != row.index:
            sink.add(row.diagnostic(f"duplicate key {key!r} (first at {first_file}:{first_line})", key),
                     "duplicate key")
            return False
        return True

    def _admit_output(self, row: Row, key: str, output: str, sink: DiagnosticSink) -> bool:
        """Whether ``output`` (an output or thumbnail path) is the row's own; if not, the clash goes
        to ``sink``."""
        other_key, other_index, other_file, other_line = self.outputs.setdefault(
            output, (key, row.index, row.file, row.line))
        if other_index != row.index:
            sink.add(row.diagnostic(f"output {output!r} is also the output of row {other_key} "
                                    f"(at {other_file}:{other_line})", key), "duplicate output")
            return False
        return True

    def admit_known_many(self, indexes: Sequence[int], file: str, lines: Sequence[int], keys: list[str],
                         outputs: list[str], thumbnails: list[str]) -> bool:
        """``admit_known`` for many rows at once (``thumbnails``: "" for a row without one), if no
        key or path of theirs clashes with another's, theirs or one admitted before; else False,
        nothing admitted (the caller admits them one at a time, to tell each clash)."""
        paths = [*outputs, *filter(None, thumbnails)]
        unique_keys, unique_paths = set(keys), set(paths)
        if len(unique_keys) != len(keys) or len(unique_paths) != len(paths) \
                or not self.keys.keys().isdisjoint(unique_keys) \
                or not self.outputs.keys().isdisjoint(unique_paths):
            return False
        places = list(zip(indexes, itertools.repeat(file), lines, strict=False))   # repeat never ends
        self.keys.update(zip(keys, places, strict=True))
        owners = [(key, *place) for key, place in zip(keys, places, strict=True)]
        self.outputs.update(zip(outputs, owners, strict=True))
        self.outputs.update((thumbnail, owner) for thumbnail, owner in zip(thumbnails, owners, strict=True)
                            if thumbnail)
        return True

    def admit_known(self, index: int, file: str, line: int, key: str, output: str, thumbnail: str | None,
                    sink: DiagnosticSink) -> bool:
        """``_admit_key``, then ``_admit_output`` for ``output`` and ``thumbnail`` (if any), as one call:
        what a row taken unchanged from the last build must hold, its paths already known safe.
        The row is given by its place (``index``, ``file``, ``line``): a taken row has no Row."""
        place = (index, file, line)
        if self.keys.setdefault(key, place) is not place \
                and not self._admit_key(Row(index, {}, file, line), key, sink):
            return False
        owner = (key, *place)
        for path in (output, thumbnail):
            # A clash is told by _admit_output, which finds the first owner again.
            if path is not None and self.outputs.setdefault(path, owner)[1] != index \
                    and not self._admit_output(Row(index, {}, file, line), key, path, sink):
                return False
        return True
