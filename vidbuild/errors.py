"""The exception tree every stage raises, and the exit code each branch maps to.

    VidbuildError                      root; never raised itself
    ├── UsageError                     bad command line (exit 2)
    │   └── SettingError               a bad setting in the environment, e.g. VIDBUILD_EMULATOR_*
    ├── ProjectError                   the user's project is wrong; carries Diagnostics (exit 2)
    ├── StateError                     the local state store can't be used (exit 3)
    ├── InputsChangedError             the project's files changed while a build read them (exit 3)
    ├── LocalWriteError                a project file or folder can't be written, e.g. the manifest (exit 3)
    ├── BuildStopped                   the engine stops the build, rows kept unfinished (caught in run/)
    └── ApiError                       HeyGen (or the emulator) said no, or couldn't be reached (exit 3)
        ├── InvalidRequestError        400: the body was rejected
        ├── AuthError                  401 / 403: missing or bad key
        ├── NotFoundError              404: unknown video or path
        │   └── RouteGoneError         410, or a 404 confirmed as the route itself being retired
        ├── QuotaError                 402, or 429 quota exhaustion: stop for today
        ├── RateLimitError             429 rate_limit_exceeded: wait Retry-After and go on
        ├── RequestInProgressError     409 request_in_progress: a twin with this Idempotency-Key runs
        ├── ServerError                5xx
        └── TransportError             no usable reply: connect failure, timeout, dropped connection
            └── UncertainSubmitError   a POST that may have reached the server: never resend blindly

Constructors only store their arguments: no I/O, no logging.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_UNFINISHED = 3
EXIT_INTERRUPTED = 130


class VidbuildError(Exception):
    """Root of every error vidbuild raises on purpose."""

    exit_code = EXIT_UNFINISHED


class UsageError(VidbuildError):
    """The command line asks for something that can't be done."""

    exit_code = EXIT_INVALID


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One located problem in the user's input, printed like a compiler error.

    ``file`` is shown as given; ``line`` and ``column`` are 1-based (0 when unknown);
    ``where`` names the spot inside the spec (``scenes[intro].voice.speed``) or the row.
    """

    file: str
    line: int
    column: int
    where: str
    message: str

    def __str__(self) -> str:
        location = self.file
        if self.line:
            location += f":{self.line}"
            if self.column:
                location += f":{self.column}"
        head = f"{location}: {self.where}: " if self.where else f"{location}: "
        return head + self.message


class SettingError(UsageError, ValueError):
    """A setting (an environment variable, an emulator settings string) can't be used.

    Also a ValueError, the error of a bad value handed to a constructor in code.
    """


class ProjectError(VidbuildError):
    """The project (spec, data or templates) is invalid; nothing was sent."""

    exit_code = EXIT_INVALID

    def __init__(self, diagnostics: Iterable[Diagnostic], *, not_shown: int = 0) -> None:
        # Sorted by place only: messages at one place keep the order they were found in, so
        # rows stay in data order (r2 before r10) and a "... and N more" summary stays last.
        unique = dict.fromkeys(diagnostics)
        self.diagnostics = sorted(unique, key=lambda d: (d.file, d.line, d.column, d.where))
        # Repeats summarised as "... and N more rows" count as errors too.
        self.count = len(self.diagnostics) + not_shown
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class StateError(VidbuildError):
    """The state store can't be opened or is inconsistent."""


class InputsChangedError(VidbuildError):
    """The second read of the rows differs from the validated first: the files changed mid-build.

    Nothing of the changed rows was sent; what was sent is in state, so a rerun resumes it.
    """


class LocalWriteError(VidbuildError):
    """A file or folder in the project can't be written (a file where a folder should be, a full
    disk, no permission). What was built is in state, so a rerun resumes once the path is fixed."""


class BuildStopped(VidbuildError):
    """Going on can't help (bad key, quota, network gone, an output that can't be written): the
    run stops, the rows it holds stay unfinished. Raised and caught inside ``run/``; the build's
    ``Outcome.stopped`` carries the message."""


class ApiError(VidbuildError):
    """A request to the HeyGen API failed; carries what the API said."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 method: str = "", path: str = "") -> None:
        self.status = status
        self.code = code
        self.api_message = message
        self.method = method
        self.path = path
        super().__init__(message)

    def __str__(self) -> str:
        parts = [f"{self.method} {self.path}".strip()]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(str(self.code))
        head = " ".join(p for p in parts if p)
        return f"{head}: {self.api_message}" if head else self.api_message


class InvalidRequestError(ApiError):
    """400: the API rejected the request body."""


class AuthError(ApiError):
    """401 or 403: the API key is missing, wrong, or not allowed to do this."""


class NotFoundError(ApiError):
    """404 (or 400 on older deployments for an unknown video id)."""


class RouteGoneError(NotFoundError):
    """The route itself is gone (HeyGen retired it), as opposed to an unknown video on it.

    Raised for a 410, and for a 404 that a probe of the same API generation's list route
    confirmed (that answered 404 or 410 too). Never means the video is lost: read it
    through the other API generation instead.
    """


class QuotaError(ApiError):
    """Out of credits or daily quota: retrying today is pointless."""


class RateLimitError(ApiError):
    """429 rate_limit_exceeded: wait and go on."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class RequestInProgressError(ApiError):
    """409 request_in_progress: a request with the same Idempotency-Key is still being processed.

    Nothing new was created by this request. Wait, then resend with the *same* key: once
    the twin has finished, HeyGen replays its response (for 24 h after the first use).
    """


class ServerError(ApiError):
    """5xx from the API."""


class TransportError(ApiError):
    """No usable reply arrived: connection refused, timeout, dropped connection."""


class UncertainSubmitError(TransportError):
    """A POST may have reached the server but its reply was lost.

    A video may or may not have been created (and billed); the build engine must
    reconcile through ``callback_id`` instead of resending.
    """
