"""Whether a command may use the built-in emulator, or must be told to.

Without ``HEYGEN_API_KEY`` vidbuild falls back to its emulator, which is right on a laptop and
wrong in CI, where a missing secret would otherwise build placeholder videos, exit 0 and write
``.invalid`` URLs into the manifest a CRM reads. So in CI the emulator must be asked for by name:
``--emulator`` (the CLI passes it on as ``VIDBUILD_BACKEND=emulator``) or
``VIDBUILD_BACKEND=emulator`` in the environment. ``heygen.choice.BackendChoice`` reads both
variables with the others; the rules are here.

CI is detected the way GitHub Actions, GitLab CI, CircleCI and most others announce it: a
non-empty ``CI`` variable, other than ``false`` or ``0`` (which people set to switch it off).
"""

from __future__ import annotations

from typing import Literal

from vidbuild.errors import SettingError, UsageError
from vidbuild.heygen.choice import BACKEND_VARIABLE, BackendChoice

BackendName = Literal["emulator", "heygen"]
BACKEND_NAMES: tuple[BackendName, ...] = ("emulator", "heygen")


def requested_backend(text: str) -> BackendName | None:
    """``VIDBUILD_BACKEND`` as written: ``emulator``, ``heygen``, or None when empty.

    Raises SettingError (exit 2) for any other value.
    """
    if not text:
        return None
    for name in BACKEND_NAMES:
        if text == name:
            return name
    raise SettingError(f"{BACKEND_VARIABLE} must be 'emulator' or 'heygen', got {text!r}")


def in_ci(text: str) -> bool:
    """Whether ``CI`` as written says this is a CI job (set, and not ``false`` or ``0``)."""
    return text.strip().lower() not in ("", "false", "0")


def check_requested(choice: BackendChoice) -> None:
    """SettingError (exit 2) for a VIDBUILD_BACKEND that can't be honoured: an unknown name, or
    ``heygen`` without a key (never a quiet fallback to the emulator)."""
    if requested_backend(choice.requested) == "heygen" and not choice.api_key:
        raise SettingError(f"{BACKEND_VARIABLE}=heygen but HEYGEN_API_KEY is not set")


def check_build_backend(choice: BackendChoice) -> None:
    """Refuse (UsageError, exit 2, before anything is read or sent) a CI build that would fall
    back to the emulator only because HEYGEN_API_KEY is missing."""
    check_requested(choice)
    if in_ci(choice.ci) and choice.emulated and requested_backend(choice.requested) != "emulator":
        raise UsageError("CI is set and HEYGEN_API_KEY is not: refusing to build against the built-in "
                         "emulator by accident (its videos are placeholders). Set the HEYGEN_API_KEY "
                         f"secret, or ask for the emulator with --emulator or {BACKEND_VARIABLE}=emulator")
