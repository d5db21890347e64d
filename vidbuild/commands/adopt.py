"""The adopt command: the user says which existing video is a row's, where vidbuild can't tell."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from vidbuild.errors import EXIT_OK, InvalidRequestError, NotFoundError, UsageError
from vidbuild.heygen.choice import BackendChoice
from vidbuild.spec.project import Project, load_project
from vidbuild.state.location import open_state, state_root
from vidbuild.state.location import state_url as chosen_state_url
from vidbuild.state.protocol import Record, State

if TYPE_CHECKING:
    from vidbuild.heygen.client import VideoStatus
    from vidbuild.spec.expand import Job

_VIDEO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$")


def adopt(path: str | None, key: str, video_id: str, *, state_dir: str | None = None,
          stderr: TextIO | None = None, state_url: str | None = None,
          backend: BackendChoice | None = None) -> int:
    """Record ``video_id`` as the video of row ``key``'s current body, so the next build polls
    and downloads it instead of submitting (and paying for) a new one.

    Raises UsageError (exit 2) when the key is no row of the project, the video is unknown to
    the API, failed, carries another request's ``callback_id`` or is already another row's
    video, or a live build is submitting the row. The API is asked about the video (status only).
    """
    from vidbuild.heygen.backend import open_backend

    choice = backend or BackendChoice.from_env()
    if not _VIDEO_ID.match(video_id):
        raise UsageError(f"{video_id!r} is not a video ID")
    url = chosen_state_url(state_url, state_dir)
    project = load_project(path)
    root = state_root(project.root, state_dir)
    state = open_state(root, choice.namespace, url=url, project=project.name)
    err = stderr or sys.stderr
    try:
        job = _row(project, key)
        current = state.get(job.hash)
        _check_free(state, job, current, video_id)
        client = open_backend(root, choice)
        print(client.banner, file=err)
        try:
            status = _checked_status(client.client.status, job, video_id)
        finally:
            client.close()
        _record(state, job, video_id)
    finally:
        state.close()
    print(f"row {key}: video {video_id} ({status.status}) recorded as the video of its current body "
          f"{job.hash[:12]}; the next `vidbuild build` polls and downloads it", file=err)
    return EXIT_OK


def _row(project: Project, key: str) -> Job:
    """The row's Job; every row is read, so a mistake anywhere is still reported first."""
    from vidbuild.spec.expand import expand_project

    found = [job for job in expand_project(project) if job.key == key]
    if not found:
        raise UsageError(f"adopt: no row with key {key!r} in {project.name}")
    return found[0]


def _check_free(state: State, job: Job, current: Record | None, video_id: str) -> None:
    if current is not None and current.status in ("claimed", "uncertain") \
            and current.owner != state.owner and state.owner_alive(current.owner):
        raise UsageError(f"adopt: a running build is submitting row {job.key}; try again when it is done")
    for record in state.records():
        if record.video_id == video_id and record.hash != job.hash:
            raise UsageError(f"adopt: video {video_id} is already the video of row {record.key} "
                             f"(body {record.hash[:12]})")


def _checked_status(ask: Callable[[str], VideoStatus], job: Job, video_id: str) -> VideoStatus:
    """The video's status, if it can be this row's video; else why not, as a UsageError."""
    try:
        status = ask(video_id)
    except (NotFoundError, InvalidRequestError) as exc:   # 400 on older deployments
        raise UsageError(f"adopt: the API knows no video {video_id}: {exc}") from exc
    if status.callback_id and status.callback_id != job.hash:
        raise UsageError(f"adopt: video {video_id} was made for another request (its callback_id "
                         f"is {status.callback_id}, row {job.key}'s body is {job.hash})")
    if status.status == "failed":
        raise UsageError(f"adopt: video {video_id} failed to render, so there is nothing to "
                         f"download; `vidbuild build --force {job.key}` makes a new one")
    return status


def _record(state: State, job: Job, video_id: str) -> None:
    from vidbuild.planner.fields import key_entry
    from vidbuild.planner.up_to_date import forget
    from vidbuild.state.history import Transition

    # A fresh claim keeps any earlier video in earlier_video_ids, so reconciling never takes it.
    _, record = state.claim(job.hash, job.key, job.kind, title=job.body.get("title"),
                            output=job.output, force=True)
    assert record is not None
    record.video_id, record.submitted_at, record.error = video_id, time.time(), None
    record.status = "submitted"
    state.note(job.hash, Transition(time.time(), "adopted", f"video_id {video_id}"))
    state.record(record)
    state.remember_key(job.key, key_entry(job.hash, job.body))
    state.remember_body(job.hash, job.body)
    forget(state)   # the no-op shortcut must not answer "up to date" over the adopted video
