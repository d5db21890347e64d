"""Backend choice: HeyGen when HEYGEN_API_KEY is set, else the embedded emulator, plus its timing."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidbuild.errors import UsageError
from vidbuild.heygen.routes import DEFAULT_BASE_URL, EMULATOR_BASE_URL, normalize_base_url
from vidbuild.state.location import namespace_for

if TYPE_CHECKING:
    from vidbuild.heygen.client import HeyGenClient

EMULATOR_NAMESPACE = "emulator"
# Paces the engine for an API server that renders faster than HeyGen (a test server, `vidbuild
# emulator` at a low speed): 0.001 polls and reconciles a thousand times sooner. Never for HeyGen.
TIMING_SCALE_VARIABLE = "VIDBUILD_TIMING_SCALE"
LOCAL_EMULATOR_SPEED = 0.02   # the in-process emulator renders 50x faster than HeyGen unless told


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


@dataclass
class Backend:
    """An API client with the facts the engine and state need about where it points."""

    client: HeyGenClient
    base_url: str
    emulated: bool
    timing: Timing
    # Lines worth telling the user once the build is done (the emulator's accepted unknown IDs).
    notes: Callable[[], list[str]] = lambda: []
    # The emulator takes catalogue IDs it doesn't know (a real account's), naming them in a note.
    lenient_catalogue: bool = False

    @property
    def namespace(self) -> str:
        return EMULATOR_NAMESPACE if self.emulated else namespace_for(self.base_url)

    @property
    def banner(self) -> str:
        return banner_for(None if self.emulated else self.base_url)

    def close(self) -> None:
        self.client.close()


def open_backend(state_root: Path, environ: Mapping[str, str] = os.environ,
                 on_retry: Callable[[Any], None] | None = None) -> Backend:
    """HeyGen (or HEYGEN_API_BASE) with the key from the environment; without a key, the emulator,
    keeping its videos under the state directory so they outlive this process."""
    from vidbuild.heygen.client import HeyGenClient

    key = environ.get("HEYGEN_API_KEY", "").strip()
    base = environ.get("HEYGEN_API_BASE", "").strip()
    if key:
        url = api_base_url(environ)
        client = HeyGenClient(url, key, on_retry=on_retry)
        return Backend(client, url, emulated=False, timing=api_timing(environ))
    if base:
        raise UsageError("HEYGEN_API_BASE is set but HEYGEN_API_KEY is not: set both to use an API "
                         "server, or neither to use the built-in emulator")
    from dataclasses import replace

    from vidbuild.emulator import Emulator, EmulatorConfig
    from vidbuild.emulator.app import unknown_ids_note

    # Realistic renders take minutes; a newcomer's first build should take seconds, so the
    # speed defaults to LOCAL_EMULATOR_SPEED unless the environment names one.
    config = EmulatorConfig.from_env(environ, base=EmulatorConfig(speed=LOCAL_EMULATOR_SPEED))
    if config.state_dir is None:
        config = replace(config, state_dir=state_root / EMULATOR_NAMESPACE / "emulator-videos")
    emulator = Emulator(config)
    # Not a secret, but the client scrubs its key from every reply: a word such as "emulator"
    # would be cut out of the emulator's own messages.
    client = HeyGenClient(EMULATOR_BASE_URL, secrets.token_hex(16), transport=emulator.transport(),
                          on_retry=on_retry)
    # The emulator renders overhead 30 s + 4 s per video second, times its speed factor.
    timing = Timing(render_overhead=30.0, render_per_second=4.0).scaled(config.speed)
    return Backend(client, EMULATOR_BASE_URL, emulated=True, timing=timing,
                   notes=lambda: [unknown_ids_note(ids)] if (ids := emulator.unknown_ids()) else [],
                   lenient_catalogue=not config.strict_catalogue)


def api_timing(environ: Mapping[str, str] = os.environ) -> Timing:
    """HeyGen's pace, scaled by $VIDBUILD_TIMING_SCALE when set (a number in (0, 1])."""
    text = environ.get(TIMING_SCALE_VARIABLE, "").strip()
    if not text:
        return Timing()
    try:
        factor = float(text)
    except ValueError:
        factor = 0.0
    if not 0.0 < factor <= 1.0:
        raise UsageError(f"{TIMING_SCALE_VARIABLE} must be a number above 0 and at most 1, got {text!r}")
    return Timing().scaled(factor)


def api_base_url(environ: Mapping[str, str] = os.environ) -> str:
    """$HEYGEN_API_BASE (default: HeyGen's) in its one normalized spelling; UsageError if not a URL."""
    return normalize_base_url(environ.get("HEYGEN_API_BASE", "").strip() or DEFAULT_BASE_URL)


def backend_namespace(environ: Mapping[str, str] = os.environ) -> str:
    """The state namespace a build would use, without opening a client (no network, no httpx)."""
    if environ.get("HEYGEN_API_KEY", "").strip():
        return namespace_for(api_base_url(environ))
    return EMULATOR_NAMESPACE


def banner_for(base_url: str | None) -> str:
    """The first line of a command that may talk to the API: which API, or the emulator."""
    if base_url is None:
        return ("vidbuild: HEYGEN_API_KEY is not set: using the built-in HeyGen emulator "
                "(nothing is sent to HeyGen, no credits are spent)")
    return f"vidbuild: using the HeyGen API at {base_url}"


def banner(environ: Mapping[str, str] = os.environ) -> str:
    """The banner for the backend the environment selects, without opening a client."""
    if not environ.get("HEYGEN_API_KEY", "").strip():
        return banner_for(None)
    return banner_for(api_base_url(environ))
