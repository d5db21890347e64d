"""Plan stage, incremental: skip the rows whose inputs did not change since they were downloaded.

A row's body is a function of its raw values and of the project: the project file (``vars``,
``defaults``, scenes, ``api:``, ``title_marker`` ...), every template it can use (the project's
``templates/`` and vidbuild's built-in ones: ``use:`` scenes and ``{% include %}`` files alike),
``--api``, the state namespace (the API it is built against) and the code that expands it
(vidbuild's version and source, its request schemas, Jinja's and Python's versions). The
*project fingerprint* hashes all of that once per command; a row's *fingerprint* adds its values
as read (their types and column order included, not its position in the data).

After a build, every row that ended downloaded is remembered by key (a ``KnownRow``: its
fingerprint, body hash, route and output as recorded). The next command renders a key only (to
look the row up, a page of keys per query) and, where the fingerprint matches and the output file
still has the recorded size and mtime, takes the row as up to date without rendering or
validating its body again. Its key and output are still checked for uniqueness and its output
for safety (``Expander.admit``), and the project file is validated on every run. Stores forget a
hash's known rows as soon as it is claimed again or leaves 'downloaded' (see
state/known_rows.py), so a known row never outlives its record.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISLNK, S_ISREG
from typing import TYPE_CHECKING, Any, TypeVar

from vidbuild.planner.decide import holds_video
from vidbuild.planner.row_index import CopiedRows, IndexEntry, RowIndex
from vidbuild.planner.taken_rows import TakenRows, admit_taken
from vidbuild.spec.expand import Job
from vidbuild.spec.manifest_spec import manifest_columns
from vidbuild.spec.project import display_path
from vidbuild.spec.rows import data_source
from vidbuild.state.known_rows import KnownRow
from vidbuild.state.protocol import Record, State
from vidbuild.version import __version__

if TYPE_CHECKING:
    from vidbuild.planner.forcing import Forcing
    from vidbuild.spec.diagnostics import DiagnosticSink
    from vidbuild.spec.project import Project
    from vidbuild.spec.reuse import Expanding, Taken
    from vidbuild.spec.rows import Row, RowTaker

FORMAT = 2        # of the fingerprints: bump when what goes into them changes
PAGE = 500        # index entries remembered, or looked up for the manifest, per query
# State's list of the project fingerprints known rows were remembered under, newest first: a
# command whose project fingerprint is not listed can find no known row, and looks none up (after
# a template edit, every row would be fingerprinted and looked up in vain, ~5% of a plan). A
# fingerprint that falls off the list, or a list lost to a race, costs lookups, never a decision.
KNOWN_PROJECTS = "known-projects"
KEPT_PROJECTS = 16


def project_fingerprint(project: Project, api: str | None, namespace: str) -> str:
    """sha256 (hex) of everything besides a row's values that can change its body, key, output
    or route: see the module docstring. Reads every template file.

    The project file counts by its parsed data, without ``data.rows``: rows written inline are
    values, fingerprinted row by row as a data file's are (one edited inline row renders that row
    alone), and an edit that leaves the data as it was (a comment, a quoting style, a YAML anchor
    spelled out) renders nothing again. ``repr`` of the data tells '1' from 1 from 1.0 from True
    and keeps the order of names, as the row fingerprint does."""
    from vidbuild.planner.up_to_date import fingerprint, input_files
    from vidbuild.resources import templates_dir

    template_dirs = [project.templates_dir, templates_dir()]
    files = [name for name in input_files(project.file, None, template_dirs) if name != str(project.file)]
    inputs = fingerprint(files, namespace, template_dirs)
    spec = project.spec
    data = spec.get("data")
    if isinstance(data, dict) and "rows" in data:
        spec = {**spec, "data": {name: value for name, value in data.items() if name != "rows"}}
    return _sha256(f"{FORMAT}\0{inputs}\0{spec!r}\0{api or ''}\0{code_fingerprint()}")


@functools.cache
def code_fingerprint() -> str:
    """vidbuild's version, each of its source files and request schemas by name, size and mtime
    (a development install changes without a new version; a file's bytes change with its mtime,
    as make trusts, and reading them all cost ~50 ms a command), with Jinja's and Python's versions
    and the package files of ruamel.yaml and jsonschema-rs (which parse and check project files:
    found, not imported)."""
    import importlib.util

    import jinja2

    from vidbuild.resources import schemas_dir

    # sys.version, not platform.python_version(): the platform module costs a build ~2 ms to import.
    digest = hashlib.sha256(f"{__version__}\0{jinja2.__version__}\0{sys.version}\0".encode())
    for parser in ("ruamel.yaml", "jsonschema_rs"):   # they parse and check project files
        spec = importlib.util.find_spec(parser)
        if spec is not None and spec.origin is not None:
            stat = os.stat(spec.origin)
            file = f"{spec.origin}\0{stat.st_size}\0{stat.st_mtime_ns}\2"
            digest.update(file.encode("utf-8", "surrogatepass"))
    package = Path(__file__).resolve().parent.parent
    for directory, suffix in ((package, ".py"), (schemas_dir(), ".json")):
        found = []
        for parent, _, names in os.walk(directory):
            for name in names:
                if name.endswith(suffix):
                    stat = os.stat(os.path.join(parent, name))
                    found.append(f"{os.path.relpath(os.path.join(parent, name), directory)}\0{stat.st_size}"
                                 f"\0{stat.st_mtime_ns}")
        digest.update("\1".join(sorted(found)).encode("utf-8", "surrogatepass") + b"\2")
    return digest.hexdigest()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class KnownJob(Job):
    """A row found unchanged, with its output's size and mtime (ns) and its manifest entry as its
    known row keeps them (``known``: see report/manifest.py's KNOWN_*; None: its record is read)."""

    known: tuple[Any, ...] | None = None


class KnownRows:
    """``expand_project``'s ``reuse``: which rows of a page are known unchanged, from ``state``.

    ``force``: the ``--force`` selectors: a row they may force is never taken as unchanged. A
    state that holds no job can know no row: then rows are only fingerprinted (for a build to
    remember them), not looked up.
    """

    def __init__(self, state: State, project: Project, api: str | None, force: Forcing | None = None,
                 settling: RowIndex | None = None, fingerprint: str | None = None) -> None:
        self.state = state
        # A build of every row whose last complete build is in force: rows it finds there are
        # settled into ``settling`` without a lookup (see planner/last_build.py).
        self.settling = settling if settling is not None and settling.last is not None and not force else None
        self._directories: set[str] = set()   # those whose paths were checked for a last row
        self.root = os.path.join(project.root, "")   # outputs are relative POSIX paths: joined by hand
        self.kind = project.kind
        self.forcing = force
        # The project fingerprint (``fingerprint``, if the caller has it: a build lists it in state).
        self.project = fingerprint or project_fingerprint(project, api, state.namespace)
        self.look_up = not state.holds_no_jobs() and may_know_rows(state, self.project)
        # What a row's manifest entry needs besides its record (see spec/manifest_spec.py).
        self.thumbnails = "thumbnail" in project.spec
        self.columns = manifest_columns(project, [])
        self._source = data_source(project)
        self._taken: TakenRows | None = None

    def taker(self) -> RowTaker | None:
        """With the last complete build in force and a data file, the reader's hook that takes
        its CSV and TSV rows as they are read (see planner/taken_rows.py); else None."""
        if self.settling is None or self._source is None:
            return None
        self._taken = TakenRows(self.project, self.settling, display_path(self._source), self._directories)
        return self._taken

    def settle_read(self, expander: Expanding, sink: DiagnosticSink, before: int | None) -> None:
        if self._taken is not None:
            self._taken.settle(expander, sink, before)

    def page(self, expander: Expanding, rows: Sequence[Row]) -> list[tuple[str | None, Any]]:
        project, sha256 = self.project, hashlib.sha256
        # A row the reader's hook tried (``taker``) comes with its fingerprint, and was not taken.
        lane = self._taken
        tried = [lane.tried(row.index) for row in rows] if lane is not None else [None] * len(rows)
        # spec/hashing.py's row_fingerprint, inline: 100,000 rows a build
        fingerprints = [known or sha256(f"{project}\0{row.values!r}".encode("utf-8", "surrogatepass"))
                        .hexdigest() for row, known in zip(rows, tried, strict=True)]
        if self.settling is not None:
            assert self.settling.last is not None
            take = self.settling.last.take
            taken: list[Taken | None] = [None if known else take(fingerprint)
                                         for fingerprint, known in zip(fingerprints, tried, strict=True)]
        else:
            taken = [None] * len(rows)
        if not self.look_up:
            return list(zip(fingerprints, taken, strict=True))
        # By fingerprint, not key: a row's key follows from its fingerprint, and a changed row
        # then costs no extra rendering of its key.
        asked = [f for f, number in zip(fingerprints, taken, strict=True) if number is None]
        known = self.state.known_rows(asked) if asked else {}
        marker = expander.title_marker
        return [(fingerprint, number if number is not None
                 else self._unchanged(row, fingerprint, known.get(fingerprint), marker))
                for row, fingerprint, number in zip(rows, fingerprints, taken, strict=True)]

    def settle_taken(self, expander: Expanding, row: Row, taken: Taken, sink: DiagnosticSink) -> bool:
        """Admit a row taken from the last complete build (key and paths unique; each directory's
        paths checked once: the names are the last build's, from the same project and code, and
        the project's protected files are the same) and settle it into the index."""
        index = self.settling
        assert index is not None and index.last is not None
        key, output, thumbnail = index.last.names(taken)
        if not admit_taken(expander, self._directories, row.index, row.file, row.line, key, output,
                           thumbnail, sink):
            return False
        directory = output.rpartition("/")[0]
        index.settle_last(row.index, taken, key, directory,
                          thumbnail.rpartition("/")[0] if thumbnail is not None else None)
        return True

    def _unchanged(self, row: Row, fingerprint: str, known: KnownRow | None,
                   title_marker: bool) -> Job | None:
        if known is None or known.fingerprint != fingerprint \
                or (self.forcing and self.forcing.may_force(known.key, row.values)):
            return None
        # lstat: a file replaced by a link is decided in full (Expander.admit counts on it).
        stat = _lstat(self.root + known.output)
        if stat is None or (stat.st_size, stat.st_mtime_ns) != (known.size, known.mtime_ns) \
                or S_ISLNK(stat.st_mode):
            return None   # the file was touched or replaced: the full check decides
        thumbnail = known.thumbnail
        if self.thumbnails and not (thumbnail and (image := _lstat(self.root + thumbnail)) is not None
                                    and S_ISREG(image.st_mode)):
            return None   # the thumbnail asked for is missing (or a link): the full check decides
        if self.columns and not (isinstance(row.values, dict) and all(c in row.values for c in self.columns)):
            return None
        return KnownJob(key=known.key, kind=self.kind, body={}, hash=known.hash, output=known.output,
                   scenes=(), row=row, generation="v3" if known.generation == "v3" else "legacy",
                   route_reason=known.route_reason, title_marker=title_marker,
                   fingerprint=fingerprint, unchanged=True, thumbnail=known.thumbnail,
                   columns={column: row.values[column] for column in self.columns} if self.columns else {},
                   known=(known.size, known.mtime_ns, *known.listing) if known.listing else None)


def may_know_rows(state: State, project: str) -> bool:
    """Whether ``state`` may hold known rows remembered under the project fingerprint ``project``
    (a state that never listed any may: it was written before the list was kept)."""
    listed = state.get_meta(KNOWN_PROJECTS)
    return not isinstance(listed, list) or project in listed


def list_known_project(state: State, project: str) -> None:
    """List the project fingerprint ``project`` first in state's ``KNOWN_PROJECTS`` (at most
    ``KEPT_PROJECTS``, newest first)."""
    listed = state.get_meta(KNOWN_PROJECTS)
    older = [known for known in listed if known != project] if isinstance(listed, list) else []
    newest = [project, *older]
    if newest[:KEPT_PROJECTS] != listed:
        state.set_meta(KNOWN_PROJECTS, newest[:KEPT_PROJECTS])


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def remember(state: State, project: Project, entries: Iterable[IndexEntry],
             fingerprint: str | None = None) -> int:
    """After a build of ``project``: remember every row of ``entries`` (the index) that has a
    fingerprint, was not already known unchanged, and ended downloaded (see ``_known_row``).
    Returns how many were remembered. Each keeps its manifest entry as written (with the project's
    chosen data columns), so the next build lists it as is. ``fingerprint``: the project
    fingerprint the rows were fingerprinted under, listed in state before the first row is written
    (``KNOWN_PROJECTS``).

    Records are read again after the write, and rows whose record moved meanwhile (another
    build claimed the hash between the two reads) are forgotten: a claim forgets known rows
    itself, so after this, no known row can outlive its record.
    """
    root, columns = project.root, manifest_columns(project, [])
    remembered = 0
    candidates = (entry for entry in entries if entry.fingerprint and not entry.reused)
    while page := list(itertools.islice(candidates, PAGE)):
        records = state.get_many([entry.hash for entry in page])
        known = [row for row in (_known_row(root, entry, records.get(entry.hash), columns) for entry in page)
                 if row is not None]
        if known and fingerprint is not None and not remembered:
            list_known_project(state, fingerprint)
        state.remember_rows(known)
        again = state.get_many([row.hash for row in known])
        moved = [row.key for row in known if not _same(again.get(row.hash), records[row.hash])]
        state.forget_rows(moved)
        remembered += len(known) - len(moved)
    return remembered


def _known_row(root: Path, entry: IndexEntry, record: Record | None,
               columns: Sequence[str]) -> KnownRow | None:
    """The row as it ended, if downloaded: into its own output with the recorded size and mtime,
    or as a twin row's copy (another row's output in the record) holding the video's bytes."""
    from vidbuild.report.manifest import listing

    if record is None or record.status != "downloaded" or entry.fingerprint is None:
        return None
    path = os.path.join(root, entry.output)
    try:
        stat = os.stat(path)
    except OSError:
        return None
    if record.output == entry.output:
        if (stat.st_size, stat.st_mtime_ns) != (record.size, record.mtime_ns):
            return None
    elif not holds_video(Path(path), record):
        return None
    listed: dict[str, Any] = {name: getattr(record, name) for name in _LISTED}
    listed["thumbnail"] = entry.thumbnail   # the row's own: a twin row's record has its twin's
    return KnownRow(key=entry.key, fingerprint=entry.fingerprint, hash=entry.hash, output=entry.output,
                    generation=entry.generation, route_reason=entry.route_reason, size=stat.st_size,
                    mtime_ns=stat.st_mtime_ns, listing=list(listing(entry, record, columns)), **listed)


def _same(now: Record | None, before: Record) -> bool:
    return now is not None and now.status == "downloaded" and now.claimed_at == before.claimed_at \
        and now.video_id == before.video_id and (now.size, now.mtime_ns) == (before.size, before.mtime_ns)


def with_known_records(state: State, entries: Iterable[_Listed]) -> Iterator[tuple[_Listed, Record | None]]:
    """Each index entry with its record, a page at a time; a row reused as unchanged whose known
    row keeps its manifest entry (``IndexEntry.known``, read with it when planned) comes with
    None instead: it was downloaded, and a known row never outlives its record, so neither its
    record nor its known row is read again (the records of 100,000 unchanged rows are not); so
    does a run of rows copied from the last complete build (``CopiedRows``)."""
    iterator = iter(entries)
    while page := list(itertools.islice(iterator, PAGE)):
        missing = [entry.hash for entry in page
                   if isinstance(entry, IndexEntry) and not (entry.reused and entry.known)]
        records = state.get_many(missing) if missing else {}
        for entry in page:
            if isinstance(entry, CopiedRows) or (entry.reused and entry.known):
                yield entry, None
            else:
                yield entry, records.get(entry.hash)


_Listed = TypeVar("_Listed", bound=IndexEntry | CopiedRows)
# What a known row keeps of its record for the manifest (see state/known_rows.py).
_LISTED = ("video_id", "video_url", "thumbnail_url", "checksum", "title", "duration", "submitted_at",
           "created_at", "completed_at", "video_page_url", "urls_expire_at", "thumbnail", "credits_estimated")
