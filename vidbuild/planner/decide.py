"""Decides, for every job, what a build must do and why (shared by plan and build)."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from vidbuild.checksum import file_sha256
from vidbuild.heygen.routes import endpoint_id, legacy_version
from vidbuild.planner.account_search import account_searched
from vidbuild.planner.lookahead import Batch, LookAhead, Lookup, look_up, lookup_row
from vidbuild.planner.same_video import kept_video
from vidbuild.spec.expand import Job
from vidbuild.state.protocol import Record, State

Action = Literal["submit", "retry", "reconcile", "wait", "poll", "download", "up-to-date", "failed"]
# Actions that may create (and bill) a video; 'reconcile' only may, if reconciling finds nothing.
PAYING_ACTIONS = frozenset({"submit", "retry"})
WORDS_PER_SECOND = 2.5          # ~150 words a minute, a typical speaking pace
CREDITS_PER_MINUTE = 1.0        # HeyGen bills avatar videos per minute of output
UP_TO_DATE_REASON = "downloaded, file unchanged"   # of a row known unchanged (see plan_steps)
ROWS_AT_ONCE = 64               # rows expanded before they are looked up in state (see plan_steps)
# What plan says of a row whose video a build looks for in the account before paying (see recover.py).
LOOK_FIRST_NOTE = " (will look in the account first)"
# What estimate_seconds and Summary.estimated_credits assume, as plan states it.
ESTIMATE_ASSUMPTIONS = (f"{WORDS_PER_SECOND * 60:.0f} spoken words a minute at speed 1, plus written pauses "
                        "and silences; 10 s per audio scene; an agent video its duration_sec (60 s if "
                        f"unset); {CREDITS_PER_MINUTE:g} credit per minute of video; failed renders are "
                        "free; a reconcile that finds its video pays nothing")
_BREAK = re.compile(r'<break time="(?P<seconds>[\d.]+)s"\s*/>')


@dataclass
class Step:
    """One row's planned action, with the reason a person would want to read."""

    job: Job
    action: Action
    reason: str
    record: Record | None = None
    # A first submission that state can't vouch for (a new state, or the output file exists
    # while the body's hash is not in state): the build looks in the account before paying.
    look_first: bool = False
    # The hash of the key's last body, when this body renders the same video (planner/same_video.py):
    # ``record`` is that body's record under this hash, which a build records before acting on it.
    same_as: str | None = None

    @property
    def key(self) -> str:
        return self.job.key


@dataclass
class Summary:
    """What a plan comes to, kept as the steps go by: counts per action and the paying seconds."""

    counts: Counter[str] = field(default_factory=Counter)
    paying_seconds: float = 0.0
    # Rows with identical bodies share one video (the engine sends each body once), so each
    # distinct body is paid for once: the hashes already counted.
    paying_hashes: set[str] = field(default_factory=set)

    def add_up_to_date(self, rows: int) -> None:
        """Count ``rows`` more rows up to date that have no Step (see ``RowIndex.settle``)."""
        if rows:
            self.counts["up-to-date"] += rows

    def add(self, step: Step) -> None:
        self.counts[step.action] += 1
        if step.action in PAYING_ACTIONS and step.job.hash not in self.paying_hashes:
            self.paying_hashes.add(step.job.hash)
            self.paying_seconds += estimate_seconds(step.job)

    @property
    def paying_bodies(self) -> int:
        """How many distinct bodies the plan pays for (twin rows count once)."""
        return len(self.paying_hashes)

    @property
    def assumptions(self) -> str:
        """What the credit estimate assumes, in one line for people."""
        bodies = self.paying_bodies
        return (f"{bodies} distinct bod{'y' if bodies == 1 else 'ies'} to pay for (rows with identical "
                f"bodies share one video); {ESTIMATE_ASSUMPTIONS}")

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def estimated_credits(self) -> float:
        return round(self.paying_seconds / 60 * CREDITS_PER_MINUTE, 2)

    @property
    def up_to_date(self) -> bool:
        return self.counts["up-to-date"] == self.total


@runtime_checkable
class Forcer(Protocol):
    """What ``plan_steps`` asks of the ``--force`` selectors (planner/forcing.py's ``Forcing``)."""

    def __bool__(self) -> bool: ...
    def forces_job(self, job: Job) -> bool: ...
    def applied(self, step: Step) -> Step: ...


@dataclass(frozen=True)
class ForcedKeys:
    """A ``Forcer`` of plain row keys (for callers that name rows by key alone)."""

    keys: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.keys)

    def forces_job(self, job: Job) -> bool:
        return job.key in self.keys

    def applied(self, step: Step) -> Step:
        return step


def plan_steps(jobs: Iterable[Job], state: State, root: Path,
               force: Iterable[str] | Forcer = (), *, lookahead: bool = False) -> Iterator[Step]:
    """The same decision for `vidbuild plan` and `vidbuild build`, row by row: they cannot
    disagree, and no more than ``ROWS_AT_ONCE`` bodies are held here (twice that with
    ``lookahead``). ``force``: the ``--force`` selectors (a ``Forcer``, or plain keys). A row known
    unchanged since its download (``job.unchanged``, see planner/fingerprint.py) is up to date
    without a lookup. ``lookahead``: rows may be looked up on a second core a batch ahead
    (planner/lookahead.py): for a caller that acts on no step before it has them all."""
    forcing = force if isinstance(force, Forcer) else ForcedKeys(frozenset(force))
    # A state that never held a job can't know any row: every row is new, no lookups needed.
    # (Claims stay authoritative: a row submitted meanwhile by another build is caught there.)
    cold = state.holds_no_jobs()
    # Asked once, when a warm state is first looked up (see planner/account_search.py).
    searched = functools.cache(lambda: account_searched(state))
    ahead = LookAhead(state) if lookahead and not cold else None
    batches = _batches(iter(jobs), forcing)
    try:
        for batch, looked in ahead.looked_up(batches) if ahead else ((batch, None) for batch in batches):
            decided = _decide_batch(batch.pending, state, root, batch.forced, cold, searched, looked) \
                if batch.pending else iter(())
            for job in batch.jobs:
                if job.unchanged and job.key not in batch.forced:
                    yield forcing.applied(Step(job, "up-to-date", UP_TO_DATE_REASON))
                else:
                    yield forcing.applied(next(decided))
    finally:
        if ahead is not None:
            ahead.close()


def _batches(rows: Iterator[Job], forcing: Forcer) -> Iterator[Batch]:
    # Expanding a few rows, then looking them all up in state, is ~6% faster than alternating
    # row by row: each stage's code and data stay in the CPU's caches.
    while jobs := list(itertools.islice(rows, ROWS_AT_ONCE)):
        forced = {job.key for job in jobs if forcing and forcing.forces_job(job)}
        yield Batch(jobs, forced, [job for job in jobs if not (job.unchanged and job.key not in forced)])


def _decide_batch(batch: list[Job], state: State, root: Path, forced: set[str], cold: bool,
                  searched: Callable[[], bool], looked: list[Lookup] | None) -> Iterator[Step]:
    """The steps of ``batch``: what state knows of its rows is ``looked`` (by the helper, see
    planner/lookahead.py), else looked up here in one request (one round trip for a database),
    then the keys of the rows that have none, to name what changed. ``searched``: whether a
    complete build has looked for this state's rows in the account (planner/account_search.py)."""
    if cold:
        for job in batch:
            yield Step(job, "submit", "forced rebuild (--force)") if job.key in forced else \
                Step(job, "submit", f"new{LOOK_FIRST_NOTE}", look_first=True)
        return
    if looked is None:
        looked = look_up(state, [lookup_row(job) for job in batch], forced)
    for job, lookup in zip(batch, looked, strict=True):
        step = _decide(job, lookup, state, root, forced=job.key in forced)
        yield look_first_while_unsearched(step, searched())


def decide(job: Job, state: State, root: Path, *, forced: bool = False) -> Step:
    """One row's step, looked up on its own (``plan_steps`` looks rows up a batch at a time)."""
    lookup = look_up(state, [lookup_row(job)], {job.key} if forced else ())[0]
    step = _decide(job, lookup, state, root, forced=forced)
    return look_first_while_unsearched(step, account_searched(state))


def look_first_while_unsearched(step: Step, searched: bool) -> Step:
    """``step``, made to look in the account first if it would pay for a row state never saw (no
    record of its body, no body sent for its key: the planner's reason is plain "new") while the
    state is not ``searched`` (see planner/account_search.py). A row whose key state knows with
    another body was changed since this state sent it: its new body is sent as before."""
    if searched or step.look_first or step.action != "submit" or step.record is not None \
            or step.reason != "new":
        return step
    return dataclasses.replace(step, reason=step.reason + LOOK_FIRST_NOTE, look_first=True)


def _decide(job: Job, lookup: Lookup, state: State, root: Path, *, forced: bool) -> Step:
    """The step for ``job`` given what state knows of it (``lookup``).
    A row that keeps its key's last body's video (planner/same_video.py) is decided on its own:
    a row with the same body and no such earlier body (a new row) is planned as new (it may pay),
    and pays nothing in a build that recorded the kept video first."""
    record = lookup.record
    if forced:
        return Step(job, "submit", "forced rebuild (--force)", record)
    if record is None:
        entry, changed = lookup.earlier, lookup.changed
        if entry is None:
            if (root / job.output).exists():
                # State never saw this row, yet its output exists: built elsewhere, or state was lost.
                return Step(job, "submit", f"new, its output exists{LOOK_FIRST_NOTE}", look_first=True)
            return Step(job, "submit", "new")
        keeps = kept_video(job, entry, changed, state)
        if keeps is not None:
            step = _check_output(job, keeps, root)
            why = f"same video as its last body (changed only to or from HeyGen defaults: {_shown(changed)})"
            return dataclasses.replace(step, same_as=entry.hash, reason=f"{step.reason}; {why}")
        return Step(job, "submit", f"changed: {_shown(changed)}" if changed else "changed")
    if record.status == "failed":
        if record.error_permanent:   # HeyGen's verdict on this very body: sending it again can't help
            return Step(job, "failed", f"failed for good: {record.error or 'unknown error'}; not sent "
                                       f"again until its body changes (--force {job.key} sends it anyway)",
                        record)
        return Step(job, "retry", f"failed before: {record.error or 'unknown error'}", record)
    if record.status in ("claimed", "uncertain"):
        if record.owner != state.owner and state.owner_alive(record.owner):
            return Step(job, "wait", "being submitted by another vidbuild process", record)
        how = ("looking it up by callback_id before any resend" if job.callback_id else
               "nothing ties a video to it (no callback_url, so no callback_id): if candidates "
               f"exist, you decide (vidbuild adopt {job.key} VIDEO_ID, or --force {job.key})")
        return Step(job, "reconcile", "a submission may have been sent but its reply was lost; "
                                      + how, record)
    if record.status in ("submitted", "rendering"):
        return Step(job, "poll", f"submitted as {record.video_id}, not finished", record)
    if record.status == "completed":
        return Step(job, "download", "rendered, not downloaded yet", record)
    return _check_output(job, record, root)


def _check_output(job: Job, record: Record, root: Path) -> Step:
    # The record knows one path; rows with identical bodies share it, so a file elsewhere
    # counts as downloaded when its bytes are the video's.
    moved = record.output != job.output
    path = root / job.output
    try:
        stat = path.stat()
    except FileNotFoundError:
        stat = None
    if stat is not None and not moved and (stat.st_size, stat.st_mtime_ns) == (record.size, record.mtime_ns):
        return _thumbnail_check(job, root, Step(job, "up-to-date", "downloaded, file unchanged", record))
    if stat is not None and holds_video(path, record):
        detail = f"same video as {record.output}" if moved else "touched"
        return _thumbnail_check(job, root, Step(job, "up-to-date", f"downloaded, file unchanged ({detail})",
                                                record))
    if moved:
        # Rows with identical bodies share one record: its path may be a twin row's, not an older one.
        return Step(job, "download", f"its video was downloaded to {record.output}, not to this path", record)
    return Step(job, "download", "output file is missing" if stat is None else "output file was altered",
                record)


def _thumbnail_check(job: Job, root: Path, step: Step) -> Step:
    """``step`` (the video is up to date), unless the thumbnail the project asks for is missing:
    then the row is downloaded again (no credits; the video file already there is kept)."""
    if thumbnail_missing(job, root):
        return Step(job, "download", "thumbnail file is missing", step.record)
    return step


def thumbnail_missing(job: Job, root: Path) -> bool:
    """Whether the project asks for the row's thumbnail and no file is at its path."""
    return job.thumbnail is not None and not (root / job.thumbnail).is_file()


def _shown(changed: list[str]) -> str:
    return ", ".join(changed[:4]) + (f" and {len(changed) - 4} more" if len(changed) > 4 else "")


def via(job: Job) -> str:
    """The route a row is sent through, as plan shows it: 'via v3' or 'via v2: <why not v3>'."""
    if job.generation == "v3":
        return "via v3"
    return f"via {legacy_version(job.kind)}: {job.route_reason}"


def route_fields(job: Job) -> dict[str, str]:
    """The route of a row for JSON output: generation, endpoint and the reason."""
    return {"api": job.generation, "endpoint": endpoint_id(job.kind, job.generation),
            "api_reason": job.route_reason}


def holds_video(path: Path, record: Record) -> bool:
    """Whether the file at ``path`` has the bytes of the video ``record`` downloaded."""
    return (path.is_file() and path.stat().st_size == record.size
            and file_checksum(path) == record.checksum)


def file_checksum(path: Path) -> str:
    """The checksum state records for a downloaded file: the hex sha256 of its bytes."""
    return file_sha256(path)


def credits_estimate(job: Job) -> float:
    """The plan's credit estimate for ``job``'s body (``CREDITS_PER_MINUTE`` of estimated video),
    to two decimals: HeyGen reports no credits per video."""
    return round(estimate_seconds(job) / 60 * CREDITS_PER_MINUTE, 2)


def estimate_seconds(job: Job) -> float:
    """Rough length of the finished video, for credit estimates and render-time guesses."""
    if job.kind == "agent":
        return float(job.body.get("duration_sec") or 60)
    total = 0.0
    for scene in job.body.get("video_inputs", []):
        voice = scene.get("voice", {})
        if voice.get("type") == "silence":
            total += float(voice.get("duration", 1))
        elif voice.get("type") == "audio":
            total += 10.0
        else:
            text = str(voice.get("input_text", ""))
            if "<break" in text:   # most scripts have no pauses: skip the regular expression
                pauses = sum(float(m["seconds"]) for m in _BREAK.finditer(text))
                text = _BREAK.sub(" ", text)
            else:
                pauses = 0.0
            words = len(text.split())
            total += words / WORDS_PER_SECOND / float(voice.get("speed") or 1) + pauses
    return max(total, 1.0)

