"""The build's use of the last complete build's snapshot (``planner/up_to_date.py``): answer an
unchanged rerun from it, note the inputs before the rows are read, and take a new one when every
row ended downloaded and nothing changed meanwhile."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from vidbuild.errors import InputsChangedError, StateError
from vidbuild.planner.decide import holds_video
from vidbuild.planner.row_index import FieldSpool, IndexEntry
from vidbuild.spec.project import Project, display_path
from vidbuild.state.protocol import Record, State

if TYPE_CHECKING:
    from vidbuild.planner.up_to_date import InputsSeen


def unchanged_videos(state: State, root: Path) -> int | None:
    """How many videos, if inputs and outputs are those of the last complete build (no expansion)."""
    from vidbuild.planner.up_to_date import is_up_to_date

    return is_up_to_date(state, root)


def inputs_seen(project: Project, state: State, earlier: dict[str, tuple[int, ...] | None]) -> InputsSeen:
    """The inputs' stats and fingerprint, taken before the rows are read (``earlier``: stats taken
    before the project file was parsed)."""
    from vidbuild.planner.up_to_date import input_files
    from vidbuild.planner.up_to_date import inputs_seen as seen_now
    from vidbuild.spec.rows import data_source

    template_dirs = _template_dirs(project)
    files = input_files(project.file, data_source(project), template_dirs)
    return seen_now(files, state.namespace, template_dirs, earlier)


def refuse_changed_inputs(project: Project, state: State, seen: InputsSeen) -> None:
    """InputsChangedError (nothing sent) if an input file changed since ``seen`` (stats taken
    before the rows were read): the rows read may mix old and new, so none is sent."""
    from vidbuild.planner.up_to_date import changed_since

    changed = changed_since(seen, inputs_seen(project, state, {}))
    if changed:
        shown = ", ".join(display_path(Path(name)) for name in changed[:3])
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        raise InputsChangedError(f"the project's inputs changed during the build ({shown}{more}) after "
                                 f"its rows were read: nothing was sent; run vidbuild build again")


def remember_complete_build(project: Project, state: State, outputs: RecordedOutputs, manifest: Path,
                            seen: InputsSeen) -> list[str]:
    """Every row is downloaded: snapshot inputs and ``outputs`` so an unchanged rerun is instant.

    Only if the inputs are as the build found them before reading them (else the files that
    changed are returned, and no snapshot is taken) and every output is the file state records
    for its row (another build may have taken a row over).
    """
    from vidbuild.planner.up_to_date import changed_since, save

    changed = changed_since(seen, inputs_seen(project, state, {}))
    if changed:
        return changed
    try:
        save(state, project.root, list(seen.files), _template_dirs(project), outputs, manifest, read=seen)
    except (OSError, _NotAsRecorded):
        pass   # an output vanished or was replaced meanwhile: the next build checks every row
    return []


def forget(state: State) -> None:
    """Work is starting: until it completes, the last snapshot no longer speaks for state."""
    from vidbuild.planner.up_to_date import forget as forget_snapshot

    forget_snapshot(state)


class _NotAsRecorded(StateError):
    """An output is not the file state records for its row: no snapshot (never leaves this module)."""


class RecordedOutputs:
    """(output, size, mtime_ns) of every row, each checked against the row's record in state as
    the manifest pairs them (``pairs``): the snapshot needs no lookups of its own. Iterating
    raises _NotAsRecorded (a StateError) if any output was not the file its record has."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._outputs = _OutputsSpool()
        self._refused: str | None = None   # the key of the first row whose output is not as recorded

    def pairs(self, rows: Iterable[tuple[IndexEntry, Record | None]]
              ) -> Iterator[tuple[IndexEntry, Record | None]]:
        """``rows`` passed through, each row's output checked and noted on the way."""
        for row, record in rows:
            if self._refused is None:
                self._note(row, record)
            yield row, record

    def _note(self, row: IndexEntry, record: Record | None) -> None:
        if record is None and row.known is not None:
            # Found unchanged: its file was lstat'ed when planned, and had the size and mtime its
            # known row keeps. Noted as such (if it changed since, the next build sees a stat
            # that differs from the snapshot's and checks the row in full).
            self._outputs.add_file(row.output, row.known[0], row.known[1])
        else:
            try:
                stat = os.stat(os.path.join(self.root, row.output))   # not pathlib: 100,000 rows
            except OSError:
                self._refused = row.key
                return
            if not self._as_recorded(row, record, stat):
                self._refused = row.key
                return
            self._outputs.add_file(row.output, stat.st_size, stat.st_mtime_ns)
        if row.thumbnail is not None:   # the project asks for thumbnails: a snapshot vouches for them too
            try:
                image = os.stat(os.path.join(self.root, row.thumbnail))
            except OSError:
                self._refused = row.key
                return
            self._outputs.add_file(row.thumbnail, image.st_size, image.st_mtime_ns, thumbnail=True)

    def _as_recorded(self, row: IndexEntry, record: Record | None, stat: os.stat_result) -> bool:
        if record is None or record.status != "downloaded":
            return False
        own = record.output == row.output \
            and (stat.st_size, stat.st_mtime_ns) == (record.size, record.mtime_ns)
        return own or holds_video(self.root / row.output, record)   # a twin row's copy must hold its bytes

    def __iter__(self) -> Iterator[tuple[str, int, int] | tuple[str, int, int, str]]:
        if self._refused is not None:
            raise _NotAsRecorded(self._refused)
        yield from self._outputs   # [output, size, mtime_ns] lists, as the snapshot's pages hold them

    def __enter__(self) -> RecordedOutputs:
        return self

    def __exit__(self, *_: object) -> None:
        self._outputs.close()


class _OutputsSpool(FieldSpool):
    """(path, size, mtime_ns) per file, with "thumbnail" after a thumbnail's, as the snapshot's
    pages hold them."""

    def __init__(self) -> None:
        super().__init__(3, 1)

    def add_file(self, path: str, size: int, mtime_ns: int, *, thumbnail: bool = False) -> None:
        self.add((size, mtime_ns, int(thumbnail)), (path,))

    def __iter__(self) -> Iterator[tuple[str, int, int] | tuple[str, int, int, str]]:
        for (size, mtime_ns, thumbnail), (path,) in self.records():
            yield (path, size, mtime_ns, "thumbnail") if thumbnail else (path, size, mtime_ns)


def _template_dirs(project: Project) -> list[Path]:
    from vidbuild.resources import templates_dir

    return [project.templates_dir, templates_dir()]
