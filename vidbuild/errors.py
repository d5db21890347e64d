"""The exception tree every stage raises, and the exit code each branch maps to.

    VidbuildError                      root; never raised itself
    ├── UserError                      the user's mistake: nothing was sent (exit 2)
    │   ├── UsageError                 bad command line
    │   │   └── SettingError           a bad setting in the environment, e.g. VIDBUILD_EMULATOR_*
    │   ├── ProjectError               the project (spec, data, templates) is wrong; carries Diagnostics
    │   ├── TemplateError              one template can't compile or render; becomes a Diagnostic
    │   ├── RefusedValue               a template asks for a value vidbuild refuses (raised inside Jinja)
    │   └── SpendingRefused            the plan's spending is over the credit limit, or was declined
    ├── LocalError                     this machine stopped the build: state kept, a rerun resumes (exit 3)
    │   ├── StateError                 the local state store can't be used
    │   ├── InputsChangedError         the project's files changed while a build read them
    │   └── LocalWriteError            a project file or folder can't be written, e.g. the manifest
    │       ├── ManifestChangedError   the manifest a build copies unchanged rows from was written to
    │       └── UnsafeOutputError      an output now leads outside the project or onto its own files
    ├── BuildStopped                   the engine stops the build, rows kept unfinished (caught in run/)
    ├── ApiError                       HeyGen (or the emulator) said no, or couldn't be reached (exit 3)
    │   ├── InvalidRequestError        400: the body was rejected
    │   ├── AuthError                  401 / 403: missing or bad key
    │   ├── NotFoundError              404: unknown video or path
    │   │   ├── RouteGoneError         410, or a 404 confirmed as the route itself being retired
    │   │   └── ExpiredUrlError        403 / 404 from a signed file URL: ask the status for a fresh one
    │   ├── QuotaError                 402, or 429 quota exhaustion: stop for today
    │   ├── RateLimitError             429 rate_limit_exceeded: wait Retry-After and go on
    │   ├── RequestInProgressError     409 request_in_progress: a twin with this Idempotency-Key runs
    │   ├── ServerError                5xx
    │   └── TransportError             no usable reply: connect failure, timeout, dropped connection
    │       ├── UncertainSubmitError   a POST that may have reached the server: never resend blindly
    │       └── DamagedDownloadError   a downloaded file is not whole: fetch it again from a fresh URL
    └── EmulatorRefusal                the embedded emulator refuses a body as HeyGen would; it
                                       becomes the emulator's HTTP reply and never leaves it

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
EXIT_TERMINATED = 143   # 128 + SIGTERM, what a shell reports for a process SIGTERM ended
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of stdout went away



class VidbuildError(Exception):
    """Root of every error vidbuild raises on purpose."""

    exit_code = EXIT_UNFINISHED


class UserError(VidbuildError):
    """The user's mistake (the command line, a setting, the project, its data or templates):
    nothing was sent, and the same command fails the same way until the input is fixed."""

    exit_code = EXIT_INVALID


class UsageError(UserError):
    """The command line asks for something that can't be done."""


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


class ProjectError(UserError):
    """The project (spec, data or templates) is invalid; nothing was sent."""

    def __init__(self, diagnostics: Iterable[Diagnostic], *, not_shown: int = 0) -> None:
        # Sorted by place only: messages at one place keep the order they were found in, so
        # rows stay in data order (r2 before r10) and a "... and N more" summary stays last.
        unique = dict.fromkeys(diagnostics)
        self.diagnostics = sorted(unique, key=lambda d: (d.file, d.line, d.column, d.where))
        # Repeats summarised as "... and N more rows" count as errors too.
        self.count = len(self.diagnostics) + not_shown
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class TemplateError(UserError):
    """A template could not be compiled or rendered; ``file``/``line`` name the template file
    and its 1-based line when the failure is in one (None and 0 for a string of the spec).

    Expansion turns it into a located Diagnostic of a ProjectError; it is not shown on its own.
    """

    def __init__(self, message: str, file: str | None = None, line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line


class RefusedValue(UserError, ValueError):
    """A template asked for something vidbuild refuses (a null printed, ``"fast" | float``); the
    message says what and why. Raised inside Jinja, then reported as a TemplateError at the
    template's file and line. Also a ValueError, as Jinja's own filters raise for bad values."""


class SpendingRefused(UserError):
    """The plan's spending was not approved: over ``--max-credits``/``max_credits:``, or declined
    at the terminal's prompt. Nothing was sent; the same command asks again."""


class LocalError(VidbuildError):
    """Something on this machine stopped the build (state, the project's files): what was done
    is in state, so a rerun resumes once it is fixed."""

    exit_code = EXIT_UNFINISHED


class StateError(LocalError):
    """The state store can't be opened or is inconsistent."""


class InputsChangedError(LocalError):
    """The second read of the rows differs from the validated first: the files changed mid-build.

    Nothing of the changed rows was sent; what was sent is in state, so a rerun resumes it.
    """


class LocalWriteError(LocalError):
    """A file or folder in the project can't be written (a file where a folder should be, a full
    disk, no permission). What was built is in state, so a rerun resumes once the path is fixed."""


class ManifestChangedError(LocalWriteError):
    """A manifest file a build copies unchanged rows' entries from (planner/last_build.py) was
    written to in place meanwhile: the new manifest is not written; what was built is in state."""


class UnsafeOutputError(LocalWriteError):
    """At write time, an output (or the manifest) leads outside the project directory or onto one
    of the project's own files: a symlink changed since validation. Nothing is written there."""


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


class ExpiredUrlError(NotFoundError):
    """A signed file URL answered 403 or 404: ask the status again for a fresh URL."""


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


class DamagedDownloadError(TransportError):
    """A downloaded file is not whole (cut short, or not the format expected); nothing was kept.
    Fetch it again from a fresh URL (ask the status), a bounded number of times."""


class EmulatorRefusal(VidbuildError):
    """The embedded emulator's refusal of a request, as HeyGen answers it: ``status`` (400),
    ``code``, ``message`` and ``param`` (the field it is about). The emulator turns it into its
    HTTP error reply; it never reaches vidbuild's client as an exception."""

    def __init__(self, message: str, *, param: str | None = None,
                 code: str = "invalid_parameter", status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.status = status
