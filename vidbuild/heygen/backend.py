"""The backend a build talks to: a HeyGen client with the facts the engine and state need, opened
from a ``BackendChoice`` (HeyGen, an API server, or the embedded emulator)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidbuild.heygen.choice import EMULATOR_NAMESPACE, BackendChoice, Timing, banner_for
from vidbuild.heygen.routes import EMULATOR_BASE_URL
from vidbuild.state.location import namespace_for

if TYPE_CHECKING:
    from vidbuild.heygen.client import HeyGenClient

__all__ = ["EMULATOR_NAMESPACE", "LOCAL_EMULATOR_SPEED", "Backend", "BackendChoice", "Timing",
           "backend_namespace", "banner", "banner_for", "open_backend"]

LOCAL_EMULATOR_SPEED = 0.002   # the in-process emulator renders 500x faster than HeyGen unless told


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
    # The emulator's banner: why it was chosen (asked for by name, or no key).
    emulator_banner: str = ""

    @property
    def namespace(self) -> str:
        return EMULATOR_NAMESPACE if self.emulated else namespace_for(self.base_url)

    @property
    def banner(self) -> str:
        if self.emulated:
            return self.emulator_banner or banner_for(None)
        return banner_for(self.base_url)

    def close(self) -> None:
        self.client.close()


def open_backend(state_root: Path, choice: BackendChoice | None = None,
                 on_retry: Callable[[Any], None] | None = None) -> Backend:
    """The backend ``choice`` names (default: the process environment's): HeyGen (or
    HEYGEN_API_BASE) with its key; without a key, the emulator, keeping its videos under
    ``state_root`` so they outlive this process. UsageError for a base without a key or a bad
    VIDBUILD_TIMING_SCALE."""
    from vidbuild.heygen.client import HeyGenClient

    choice = (choice or BackendChoice.from_env()).checked()
    if not choice.emulated:
        url = choice.base_url
        client = HeyGenClient(url, choice.api_key, on_retry=on_retry)
        return Backend(client, url, emulated=False, timing=choice.timing())
    from dataclasses import replace

    from vidbuild.emulator import Emulator, EmulatorConfig
    from vidbuild.emulator.app import unknown_ids_note

    # Realistic renders take minutes; a newcomer's first build should take seconds, so the
    # speed defaults to LOCAL_EMULATOR_SPEED unless the environment names one.
    config = EmulatorConfig.from_env(choice.emulator_settings,
                                     base=EmulatorConfig(speed=LOCAL_EMULATOR_SPEED))
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
                   lenient_catalogue=not config.strict_catalogue, emulator_banner=choice.banner)


def backend_namespace(environ: Mapping[str, str] = os.environ) -> str:
    """The state namespace a build would use under ``environ``, without opening a client."""
    return BackendChoice.from_env(environ).namespace


def banner(environ: Mapping[str, str] = os.environ) -> str:
    """The banner for the backend ``environ`` selects, without opening a client."""
    return BackendChoice.from_env(environ).banner
