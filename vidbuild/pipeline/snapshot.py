"""The build's use of the last complete build's snapshot (``planner/up_to_date.py``): answer an
unchanged rerun from it, note the inputs before the rows are read, and take a new one when every
row ended downloaded and nothing changed meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from vidbuild.errors import InputsChangedError, StateError
from vidbuild.planner.decide import holds_video
from vidbuild.planner.row_index import RowIndex
from vidbuild.spec.project import Project, display_path
from vidbuild.state.protocol import State

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


def remember_complete_build(project: Project, state: State, index: RowIndex, manifest: Path,
                            seen: InputsSeen) -> list[str]:
    """Every row is downloaded: snapshot inputs and outputs so an unchanged rerun is instant.

    Only if the inputs are as the build found them before reading them (else the files that
    changed are returned, and no snapshot is taken) and every output is the file state records
    for its row (another build may have taken a row over).
    """
    from vidbuild.planner.up_to_date import changed_since, save

    changed = changed_since(seen, inputs_seen(project, state, {}))
    if changed:
        return changed
    try:
        save(state, project.root, list(seen.files), _template_dirs(project),
             _recorded_outputs(project.root, state, index), manifest, read=seen)
    except (OSError, _NotAsRecorded):
        pass   # an output vanished or was replaced meanwhile: the next build checks every row
    return []


def forget(state: State) -> None:
    """Work is starting: until it completes, the last snapshot no longer speaks for state."""
    from vidbuild.planner.up_to_date import forget as forget_snapshot

    forget_snapshot(state)


class _NotAsRecorded(StateError):
    """An output is not the file state records for its row: no snapshot (never leaves this module)."""


def _recorded_outputs(root: Path, state: State, index: RowIndex) -> Iterator[tuple[str, int, int]]:
    """(output, size, mtime_ns) per row, each checked against the row's record in state."""
    from vidbuild.planner.fingerprint import with_known_records

    for row, record in with_known_records(state, index.entries()):
        stat = (root / row.output).stat()
        if record is None or record.status != "downloaded":
            raise _NotAsRecorded(row.key)
        own = (record.output == row.output
               and (stat.st_size, stat.st_mtime_ns) == (record.size, record.mtime_ns))
        if not own and not holds_video(root / row.output, record):   # a twin row's copy
            raise _NotAsRecorded(row.key)
        yield row.output, stat.st_size, stat.st_mtime_ns


def _template_dirs(project: Project) -> list[Path]:
    from vidbuild.resources import templates_dir

    return [project.templates_dir, templates_dir()]
