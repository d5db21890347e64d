"""How often this build has tried again for each job, by kind of retry, and how often it may.

Each kind has its own count and limit, so one can't use up another's: the poll that fetches a
fresh URL resets the transient failures, not the URL refreshes, and a damaged download is not an
expired URL. The counts last for one build and are dropped when the job's last row is finished with.
"""

from __future__ import annotations

import enum
from collections import Counter


class Retry(enum.Enum):
    """A kind of retry; ``limit`` is how many of them one job may have in one build."""

    TRANSIENT = "transient"               # network or API failures in a row (poll, download, lookup)
    LOST_REPLY = "lost reply"             # submissions in a row that got no reply
    URL_REFRESH = "url refresh"           # signed URLs that expired before the download
    DAMAGED_DOWNLOAD = "damaged download"  # files that arrived cut short, fetched again
    UNKNOWN_VIDEO = "unknown video"       # polls on which no API generation knew the video
    IN_FLIGHT_WAIT = "in-flight wait"     # 409 request_in_progress answers, poll_max apart

    @property
    def limit(self) -> int:
        return LIMITS[self]


LIMITS = {
    Retry.TRANSIENT: 8,
    Retry.LOST_REPLY: 5,
    Retry.URL_REFRESH: 3,
    Retry.DAMAGED_DOWNLOAD: 8,
    Retry.UNKNOWN_VIDEO: 8,
    Retry.IN_FLIGHT_WAIT: 16,
}


class Retries:
    """The retry counts of the jobs in progress, by content hash."""

    def __init__(self) -> None:
        self._counts: dict[str, Counter[Retry]] = {}

    def add(self, job_hash: str, kind: Retry) -> int:
        """Count one more retry of ``kind`` for the job; returns its count so far, this one included."""
        counts = self._counts.setdefault(job_hash, Counter())
        counts[kind] += 1
        return counts[kind]

    def count(self, job_hash: str, kind: Retry) -> int:
        counts = self._counts.get(job_hash)
        return counts[kind] if counts else 0

    def reset(self, job_hash: str, *kinds: Retry) -> None:
        """The job got past what ``kinds`` count (a poll answered, a download landed): start again."""
        counts = self._counts.get(job_hash)
        if counts is None:
            return
        for kind in kinds:
            counts.pop(kind, None)
        if not counts:
            del self._counts[job_hash]

    def forget(self, job_hash: str) -> None:
        """The job is finished with in this build: drop all its counts."""
        self._counts.pop(job_hash, None)
