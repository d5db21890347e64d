"""How the command line ends when something stops a command: the message, the crash log, the
closed pipe. ``cli.main`` calls these; nothing here parses arguments."""

from __future__ import annotations

import os
import sys

from vidbuild.errors import EXIT_BROKEN_PIPE, ProjectError, VidbuildError


def error_text(exc: VidbuildError) -> str:
    """The message for an error vidbuild raised on purpose: a ProjectError's located lines and
    their count, else ``vidbuild: error: ...``."""
    if isinstance(exc, ProjectError):
        return f"{exc}\nvidbuild: {exc.count} error{'s' if exc.count != 1 else ''}, nothing sent"
    return f"vidbuild: error: {exc}"


def write_crash_log() -> str:
    """Write the current exception's traceback to a temporary file; its path."""
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile("w", prefix="vidbuild-crash-", suffix=".log", delete=False) as handle:
        traceback.print_exc(file=handle)
    return handle.name


def pipe_closed() -> int:
    """The reader of stdout went away (``vidbuild build | head``): the command stopped where it was
    (a build's state is kept; a rerun resumes). Exit 141 (128 + SIGPIPE), what a shell reports for
    a process a closed pipe ended; stdout is pointed at /dev/null so Python's own flush at exit
    doesn't fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):   # no real stdout (a library caller's StringIO)
        pass
    return EXIT_BROKEN_PIPE
