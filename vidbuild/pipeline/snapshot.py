"""The build's use of the last complete build's snapshot (``planner/up_to_date.py``): answer an
unchanged rerun from it, note the inputs before the rows are read, and take a new one when every
row ended downloaded and nothing changed meanwhile."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from vidbuild.errors import InputsChangedError, StateError
from vidbuild.planner.decide import holds_video
from vidbuild.planner.last_build import KNOWN_LAST, last_row
from vidbuild.planner.last_rows import LastRows
from vidbuild.planner.row_index import CopiedRows, IndexEntry
from vidbuild.spec.project import Project, display_path
from vidbuild.state.protocol import Record, State

if TYPE_CHECKING:
    from vidbuild.planner.up_to_date import InputsSeen
    from vidbuild.report.manifest import Placement


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
                            seen: InputsSeen, state_dir: Path) -> list[str]:
    """Every row is downloaded: snapshot inputs and ``outputs`` so an unchanged rerun is instant
    (the last rows go to a file in ``state_dir``: see planner/last_build.py).

    Only if the inputs are as the build found them before reading them (else the files that
    changed are returned, and no snapshot is taken) and every output is the file state records
    for its row (another build may have taken a row over).
    """
    from vidbuild.planner.last_build import layout_file, rows_file
    from vidbuild.planner.up_to_date import changed_since, save

    changed = changed_since(seen, inputs_seen(project, state, {}))
    if changed:
        return changed
    try:
        path = rows_file(state_dir, state.namespace, project.root)
        forget(state)   # the file is rewritten first: until the snapshot names it, none is in force
        token = outputs.last_rows().write(path)
        _keep_layout(project, layout_file(path), token)
        save(state, project.root, list(seen.files), _template_dirs(project), (str(path), token), manifest,
             outputs.placement.files, read=seen)
    except (OSError, _NotAsRecorded):
        pass   # an output vanished or was replaced meanwhile: the next build checks every row
    return []


def _keep_layout(project: Project, path: Path, token: str) -> None:
    """Keep the data file's layout beside the last rows (the next build takes unchanged stretches
    of it by their place), or remove an older one: it copies a data file no longer read. Without
    one, the next build reads every row."""
    with contextlib.suppress(OSError):
        if project.data_layout is not None:
            project.data_layout.write(path, token)
            return
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def forget(state: State) -> None:
    """Work is starting: until it completes, the last snapshot no longer speaks for state."""
    from vidbuild.planner.up_to_date import forget as forget_snapshot

    forget_snapshot(state)


class _NotAsRecorded(StateError):
    """An output is not the file state records for its row: no snapshot (never leaves this module)."""


class RecordedOutputs:
    """Every row's last row (planner/last_build.py: its names, its output's and thumbnail's size
    and mtime), each output checked against the row's record in state as the manifest pairs them
    (``pairs``): the snapshot needs no lookups of its own. ``last_rows`` raises _NotAsRecorded (a
    StateError) if any output was not the file its record has. The manifest tells ``placement``
    where it put each row's entry. A row the build took from the last complete build keeps that
    build's texts and numbers (``IndexEntry.known``'s last item): none is made again."""

    def __init__(self, root: Path) -> None:
        from vidbuild.report.manifest import Placement

        self.root = root
        self._rows = LastRows()
        self._refused: str | None = None   # the key of the first row whose output is not as recorded
        self.placement: Placement = Placement()

    def pairs(self, rows: Iterable[tuple[IndexEntry | CopiedRows, Record | None]]
              ) -> Iterator[tuple[IndexEntry | CopiedRows, Record | None]]:
        """``rows`` passed through, each row's output checked and noted on the way (a run taken
        from the last complete build as it had them)."""
        add = self._rows.add
        for row, record in rows:
            if self._refused is None:
                if isinstance(row, CopiedRows):
                    row.source.copy_rows(self._rows, row.number, row.rows)
                elif record is None and row.known is not None and len(row.known) > KNOWN_LAST:
                    add(*row.known[KNOWN_LAST])
                else:
                    self._note(row, record)
            yield row, record

    def _note(self, row: IndexEntry, record: Record | None) -> None:
        if record is None and row.known is not None:
            # Found unchanged: its file was lstat'ed when planned, and had the size and mtime its
            # known row keeps. Noted as such (if it changed since, the next build sees a stat
            # that differs from the snapshot's and checks the row in full).
            size, mtime_ns = row.known[0], row.known[1]
        else:
            try:
                stat = os.stat(os.path.join(self.root, row.output))   # not pathlib: 100,000 rows
            except OSError:
                self._refused = row.key
                return
            if not self._as_recorded(row, record, stat):
                self._refused = row.key
                return
            size, mtime_ns = stat.st_size, stat.st_mtime_ns
        image = (0, 0)
        if row.thumbnail is not None:   # the project asks for thumbnails: a snapshot vouches for them too
            try:
                found = os.stat(os.path.join(self.root, row.thumbnail))
            except OSError:
                self._refused = row.key
                return
            image = (found.st_size, found.st_mtime_ns)
        self._rows.add(*last_row(row, (size, mtime_ns), image))

    def _as_recorded(self, row: IndexEntry, record: Record | None, stat: os.stat_result) -> bool:
        if record is None or record.status != "downloaded":
            return False
        own = record.output == row.output \
            and (stat.st_size, stat.st_mtime_ns) == (record.size, record.mtime_ns)
        return own or holds_video(self.root / row.output, record)   # a twin row's copy must hold its bytes

    def last_rows(self) -> LastRows:
        """Every row's last row (planner/last_build.py), with where the manifest put its entry
        (``placement``: the manifest was written from the same rows, in order)."""
        if self._refused is not None:
            raise _NotAsRecorded(self._refused)
        self._rows.spans = self.placement.spans
        return self._rows

    def __enter__(self) -> RecordedOutputs:
        return self

    def __exit__(self, *_: object) -> None:
        self._rows = LastRows()


def _template_dirs(project: Project) -> list[Path]:
    from vidbuild.resources import templates_dir

    return [project.templates_dir, templates_dir()]
