"""Which API a command talks to, decided once from the environment: HeyGen (or an API server named
by HEYGEN_API_BASE) when HEYGEN_API_KEY is set, else the built-in emulator; plus the engine's pace.

This is the only module that reads ``HEYGEN_API_KEY``, ``HEYGEN_API_BASE`` and
``VIDBUILD_TIMING_SCALE``. It opens nothing and imports no HTTP library: the CLI makes one
``BackendChoice`` per command and hands it down; ``heygen.backend.open_backend`` turns it into a
client when a command is about to send something.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from vidbuild.errors import UsageError
from vidbuild.heygen.routes import DEFAULT_BASE_URL, normalize_base_url
from vidbuild.state.location import namespace_for

EMULATOR_NAMESPACE = "emulator"
# Names the backend explicitly ("emulator" or "heygen"); heygen/backend_policy.py has its rules.
BACKEND_VARIABLE = "VIDBUILD_BACKEND"
# Paces the engine for an API server that renders faster than HeyGen (a test server, `vidbuild
# emulator` at a low speed): 0.001 polls and reconciles a thousand times sooner. Never for HeyGen.
TIMING_SCALE_VARIABLE = "VIDBUILD_TIMING_SCALE"
EMULATOR_VARIABLES = "VIDBUILD_EMULATOR_"


@dataclass(frozen=True)
class Timing:
    """How the engine paces itself against a backend (seconds).

    A render is expected to take ``render_overhead + render_per_second * video_seconds``; the engine
    learns the real ratio as videos finish. Polls are spaced between ``poll_min`` and ``poll_max``
    (HeyGen's own CLI: 2 s to 30 s). A lost submission is looked up only once it is
    ``reconcile_grace`` old, so the account's video list has caught up.
    """

    render_overhead: float = 60.0
    render_per_second: float = 6.0
    poll_min: float = 2.0
    poll_max: float = 30.0
    reconcile_grace: float = 30.0

    def scaled(self, factor: float) -> Timing:
        return Timing(self.render_overhead * factor, self.render_per_second * factor,
                      max(self.poll_min * factor, 0.005), max(self.poll_max * factor, 0.02),
                      self.reconcile_grace * factor)


@dataclass(frozen=True)
class BackendChoice:
    """What the environment says about the API: the key (never shown), the base URL as written,
    the timing scale as written, and the ``VIDBUILD_EMULATOR_*`` settings.

    Reading never fails; a setting that can't be used raises UsageError where it is used, as it
    always did: a bad HEYGEN_API_BASE when the state namespace or banner is asked for, a base
    without a key or a bad VIDBUILD_TIMING_SCALE when the backend is opened.
    """

    api_key: str = field(default="", repr=False)
    api_base: str = ""
    timing_scale: str = ""
    emulator_settings: Mapping[str, str] = field(default_factory=dict)
    # VIDBUILD_BACKEND and CI as written: the rules they feed are in heygen/backend_policy.py.
    requested: str = ""
    ci: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> BackendChoice:
        """The choice ``environ`` (default: the process environment) makes."""
        return cls(api_key=environ.get("HEYGEN_API_KEY", "").strip(),
                   api_base=environ.get("HEYGEN_API_BASE", "").strip(),
                   timing_scale=environ.get(TIMING_SCALE_VARIABLE, "").strip(),
                   emulator_settings={name: value for name, value in environ.items()
                                      if name.startswith(EMULATOR_VARIABLES)},
                   requested=environ.get(BACKEND_VARIABLE, "").strip(), ci=environ.get("CI", ""))

    @classmethod
    def emulator(cls, **settings: str) -> BackendChoice:
        """The built-in emulator, with ``VIDBUILD_EMULATOR_*`` settings given by their suffix
        (``speed="0"`` for VIDBUILD_EMULATOR_SPEED=0)."""
        return cls(emulator_settings={EMULATOR_VARIABLES + name.upper(): value
                                      for name, value in settings.items()})

    @property
    def emulated(self) -> bool:
        """No key, or the emulator asked for by name (VIDBUILD_BACKEND=emulator wins over a key)."""
        return not self.api_key or self.requested == "emulator"

    @property
    def base_url(self) -> str:
        """$HEYGEN_API_BASE (default: HeyGen's) in its one normalized spelling; UsageError if not a URL."""
        return normalize_base_url(self.api_base or DEFAULT_BASE_URL)

    @property
    def namespace(self) -> str:
        """The state namespace a build would use, without opening a client (no network, no httpx)."""
        return EMULATOR_NAMESPACE if self.emulated else namespace_for(self.base_url)

    @property
    def banner(self) -> str:
        """The first line of a command that may talk to the API: which API, or the emulator."""
        if self.emulated and self.api_key:
            return ("vidbuild: VIDBUILD_BACKEND=emulator: using the built-in HeyGen emulator although "
                    "HEYGEN_API_KEY is set (nothing is sent to HeyGen, no credits are spent)")
        return banner_for(None if self.emulated else self.base_url)

    @property
    def planned_against(self) -> dict[str, str]:
        """What a plan is made against, for its summary: ``{"backend": "emulator"}``, or
        ``{"backend": "heygen", "api_base": URL}`` (the state of each is kept apart)."""
        if self.emulated:
            return {"backend": "emulator"}
        return {"backend": "heygen", "api_base": self.base_url}

    def checked(self) -> BackendChoice:
        """Itself, once HEYGEN_API_BASE is known to have a key beside it (UsageError if not)."""
        if not self.api_key and self.api_base:
            raise UsageError("HEYGEN_API_BASE is set but HEYGEN_API_KEY is not: set both to use an API "
                             "server, or neither to use the built-in emulator")
        return self

    def timing(self) -> Timing:
        """HeyGen's pace, scaled by $VIDBUILD_TIMING_SCALE when set (a number in (0, 1])."""
        text = self.timing_scale
        if not text:
            return Timing()
        try:
            factor = float(text)
        except ValueError:
            factor = 0.0
        if not 0.0 < factor <= 1.0:
            raise UsageError(f"{TIMING_SCALE_VARIABLE} must be a number above 0 and at most 1, got {text!r}")
        return Timing().scaled(factor)


def banner_for(base_url: str | None) -> str:
    """The banner for ``base_url``, or for the emulator when it is None."""
    if base_url is None:
        return ("vidbuild: HEYGEN_API_KEY is not set: using the built-in HeyGen emulator "
                "(nothing is sent to HeyGen, no credits are spent)")
    return f"vidbuild: using the HeyGen API at {base_url}"
