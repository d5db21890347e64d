"""Fetch a finished video into the row's output file (and its thumbnail, where the project asks
for one), and record it there in the same state write.

The file is fetched beside the output and renamed over it only if the row's record is still
current, so a build that another one superseded leaves no file behind. A signed URL that expired,
or a file that arrived cut short, sends the row back to be polled for a fresh URL.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from vidbuild.errors import ApiError, BuildStopped, NotFoundError, TransportError, UnsafeOutputError
from vidbuild.heygen.client import DamagedDownloadError
from vidbuild.planner.decide import credits_estimate, file_checksum
from vidbuild.run.files import check_inside, temporary_sibling
from vidbuild.run.retries import Retry

if TYPE_CHECKING:
    from vidbuild.heygen.client import DownloadResult, HeyGenClient
    from vidbuild.planner.decide import Step
    from vidbuild.run.context import RunContext
    from vidbuild.state.protocol import Record


class Downloader:
    """Handles a row's ``download`` timer: fetch, check, land the file, and count the row done."""

    def __init__(self, context: RunContext, client: HeyGenClient) -> None:
        self.context = context
        self.client = client

    def download(self, step: Step) -> None:
        """Fetch the row's video to its output. Raises BuildStopped when the output can't be written
        or its URL keeps expiring."""
        context = self.context
        if not context.window.work_on(step):
            return   # a twin row of this build fetches the video: this row waits for its copy
        record = context.window.record(step)
        destination = context.root / step.job.output
        # Fetched beside the output, then renamed over it only if the record is still current.
        staged = temporary_sibling(destination, "landing")
        thumbnail = self._thumbnail_places(step, record)
        try:
            result = self._fetch_all(record, destination, staged, thumbnail)
        except NotFoundError:   # the signed URL expired (or was never known): ask for a fresh one
            self._refresh_url(step, record)
            return
        except DamagedDownloadError as exc:   # cut short unseen: fetch again, from a fresh URL
            self._refresh_url(step, record, damaged=exc)
            return
        except (TransportError, ApiError, UnsafeOutputError) as exc:
            context.transient(step, "download", exc)
            return
        except OSError as exc:   # a local failure, say a file put where the output's folder was
            raise BuildStopped(_cannot_write(step, destination, exc)) from exc
        # A file already there with the video's bytes (recovered from the account) is kept as is.
        keep = _holds_bytes(destination, result.sha256)
        stat = (destination if keep else result.path).stat()
        record.checksum, record.size, record.mtime_ns = result.sha256, result.size, stat.st_mtime_ns
        record.output, record.downloaded_at, record.error = step.job.output, time.time(), None
        record.thumbnail = step.job.thumbnail if thumbnail is not None and record.thumbnail_url else None
        if record.credits_estimated is None and step.job.body:   # what was paid for: this body
            record.credits_estimated = credits_estimate(step.job)
        try:
            if not self._land(step, record, staged, destination, keep=keep, thumbnail=thumbnail):
                return
        except UnsafeOutputError as exc:   # the output's place changed while it downloaded (a symlink)
            context.transient(step, "download", exc)
            return
        except OSError as exc:
            raise BuildStopped(_cannot_write(step, destination, exc)) from exc
        context.retries.reset(step.job.hash, Retry.TRANSIENT, Retry.URL_REFRESH)
        context.remember_row(step)   # a row that followed a twin's claim sent nothing to remember it
        context.leave(step)
        context.window.count_done()
        context.reporter.done(step, record)

    def _fetch_all(self, record: Record, destination: Path, staged: Path,
                   thumbnail: tuple[Path, Path] | None) -> DownloadResult:
        """Fetch the video to ``staged`` and the thumbnail (if asked for and given) to its staged
        place; if either fails, neither fetched file is left behind."""
        try:
            if not record.video_url:
                raise NotFoundError("no video_url recorded")
            result = self._fetch(record.video_url, destination, staged, "mp4")
            if thumbnail is not None and record.thumbnail_url:
                self._fetch(record.thumbnail_url, *thumbnail, "jpeg")
        except BaseException:
            staged.unlink(missing_ok=True)
            if thumbnail is not None:
                thumbnail[1].unlink(missing_ok=True)
            raise
        return result

    def _fetch(self, url: str, destination: Path, staged: Path, media: Literal["mp4", "jpeg"]
               ) -> DownloadResult:
        """Fetch ``url`` to ``staged`` (beside ``destination``, checked as ``media``)."""
        root, protected = self.context.root, self.context.options.protected
        check_inside(root, destination, protected)   # before mkdir too
        destination.parent.mkdir(parents=True, exist_ok=True)
        check_inside(root, destination, protected)
        return self.client.download(url, staged, media=media)

    def _thumbnail_places(self, step: Step, record: Record) -> tuple[Path, Path] | None:
        """Where the row's thumbnail goes and where it is fetched first, if the project asks for
        one; a video HeyGen gave no thumbnail URL is noted and landed without it."""
        if step.job.thumbnail is None:
            return None
        if not record.thumbnail_url:
            self.context.reporter.note(step, "HeyGen gave no thumbnail URL; the video lands without one")
        destination = self.context.root / step.job.thumbnail
        return destination, temporary_sibling(destination, "landing")

    def _land(self, step: Step, record: Record, staged: Path, destination: Path, *, keep: bool,
              thumbnail: tuple[Path, Path] | None = None) -> bool:
        """Rename the fetched file over the output (unless ``keep``: the output is the same bytes)
        and the fetched ``thumbnail`` (destination, staged) over its place, and record it, in one
        state transaction; if another build superseded the record meanwhile, the files are
        dropped and not reported."""
        context = self.context

        def install() -> None:
            check_inside(context.root, destination, context.options.protected)   # again: time has passed
            if thumbnail is not None and record.thumbnail is not None:
                check_inside(context.root, thumbnail[0], context.options.protected)
                os.replace(thumbnail[1], thumbnail[0])
            if not keep:
                os.replace(staged, destination)

        record.status = "downloaded"
        try:
            landed = context.state.record(record, install=install)
        finally:
            staged.unlink(missing_ok=True)
            if thumbnail is not None:
                thumbnail[1].unlink(missing_ok=True)
        if not landed:
            context.follow_current(step)
        return landed

    def _refresh_url(self, step: Step, record: Record, damaged: ApiError | None = None) -> None:
        # Counted apart from transient failures: the poll that fetches a fresh URL resets those.
        context = self.context
        kind = Retry.DAMAGED_DOWNLOAD if damaged else Retry.URL_REFRESH
        if context.retries.add(step.job.hash, kind) > kind.limit:
            raise BuildStopped(f"{step.key}: {damaged}" if damaged else
                               f"{step.key}: the video's URL keeps expiring before it can be downloaded")
        if damaged:
            context.reporter.note(step, f"download not whole ({damaged}); fetching it again")
        if not context.mark(step, record, "submitted"):
            return
        context.window.take_slot(step.job.hash)
        context.window.schedule(0.0, "poll", step)


def _holds_bytes(path: Path, sha256: str) -> bool:
    """Whether ``path`` is a regular file whose bytes have this checksum."""
    try:
        return path.is_file() and not path.is_symlink() and file_checksum(path) == sha256
    except OSError:
        return False


def _cannot_write(step: Step, destination: Path, exc: OSError) -> str:
    """Why the row's video can't be put in place, naming the local path at fault."""
    where = exc.filename or destination
    return (f"{step.key}: can't write {destination}: {exc.strerror or exc} ({where}); "
            "state kept, a rerun resumes")
