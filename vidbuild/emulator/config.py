"""The emulator's settings: render speed, fault rates and limits, from code, a string or the environment.

A settings string is a comma-separated list of ``name=value`` items, e.g.
``"speed=0.001,rate_limit=0.2,drop_after:submit=0.05,max_concurrent=3,seed=7"``.
Fault items take a rate in [0, 1]; ``kind:scope`` limits a fault to one group of routes.
``truncate_download`` cuts a media file off mid-stream without a Content-Length (files only);
``echo_key`` echoes the request's API key in every message and detail of an API reply.
``catalogue=strict`` refuses avatar, talking photo and voice IDs the emulator doesn't know.
``previews=off`` serves the shipped clip instead of previews made from each body (see preview.py).
A bad setting raises SettingError (a UsageError and a ValueError).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Final

from vidbuild.errors import SettingError

# Faults that can strike any API request; with a scope they strike only that group of routes.
# Media downloads ("files") are hit only when named explicitly, e.g. "server_error:files=0.5".
REQUEST_FAULTS: Final = ("rate_limit", "server_error", "drop_before", "drop_after", "slow")
# Faults that only make sense for a submission (POST .../generate). ``render_stall`` picks bodies
# (by content and seed) whose renders report "processing" for as long as the fault is on;
# ``render_fail`` fails a render on a server fault, ``render_refuse`` as content checks do.
SUBMIT_FAULTS: Final = ("quota", "render_fail", "render_refuse", "render_stall")
# Faults of media downloads only: the body cut off mid-stream, with no Content-Length to tell.
FILE_FAULTS: Final = ("truncate_download",)
# Faults of API replies only: the request's X-Api-Key echoed in every message and detail text.
REPLY_FAULTS: Final = ("echo_key",)
FAULT_KINDS: Final = REQUEST_FAULTS + SUBMIT_FAULTS + FILE_FAULTS + REPLY_FAULTS
SCOPES: Final = ("submit", "status", "list", "catalogue", "files")

ENV_FAULTS: Final = "VIDBUILD_EMULATOR_FAULTS"
ENV_SPEED: Final = "VIDBUILD_EMULATOR_SPEED"
ENV_SEED: Final = "VIDBUILD_EMULATOR_SEED"
ENV_STATE_DIR: Final = "VIDBUILD_EMULATOR_STATE_DIR"
ENV_API_KEY: Final = "VIDBUILD_EMULATOR_API_KEY"
ENV_LEGACY: Final = "VIDBUILD_EMULATOR_LEGACY"
ENV_CATALOGUE: Final = "VIDBUILD_EMULATOR_CATALOGUE"
ENV_PREVIEWS: Final = "VIDBUILD_EMULATOR_PREVIEWS"

# How the emulator answers HeyGen's retired v1/v2 routes: "served" (as before November 2026),
# "gone" (404, as for a path it never had) or "410" (410 Gone).
LEGACY_MODES: Final = ("served", "gone", "410")
# "lenient": IDs outside the emulator's small catalogue are accepted (and named in a note), so a
# project written for a real account builds offline; "strict": they get HeyGen's 400.
CATALOGUE_MODES: Final = ("lenient", "strict")
# "auto": a finished video's MP4 and thumbnail are previews of its body where the preview extra
# (PyAV, Pillow) is installed, the shipped clip elsewhere; "on": previews or a SettingError;
# "off": the shipped clip.
PREVIEW_MODES: Final = ("auto", "on", "off")

_WEEK: Final = 7 * 24 * 3600.0


@dataclass(frozen=True)
class EmulatorConfig:
    """How the emulator behaves; the defaults are a well-behaved, realistically slow API.

    ``speed`` multiplies every render time (1.0: tens of seconds to minutes; tests use
    0.001). ``faults`` maps a fault kind, or ``kind:scope``, to the chance it strikes a
    request. ``max_concurrent`` caps videos rendering at once (None: no cap), answering
    extra submissions 429 as pay-as-you-go does. ``state_dir`` makes videos outlive the
    process. ``list_lag`` makes the video list leave out videos younger than that many seconds,
    as a lagging index would. ``legacy`` is one of ``LEGACY_MODES``: with "gone" or "410" the
    retired v1/v2 routes answer as HeyGen announced (see ``vidbuild.emulator.app``), the v3 routes
    are unaffected. ``catalogue`` is "lenient" (unknown avatar, talking photo and voice IDs pass)
    or "strict" (they are refused as HeyGen refuses IDs it doesn't know). ``quota_seconds``
    is the video time the account starts with (GET /v2/user/remaining_quota). ``previews`` is one
    of ``PREVIEW_MODES``.
    """

    speed: float = 1.0
    faults: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0
    slow_seconds: float = 5.0
    retry_after: float = 1.0
    max_concurrent: int | None = None
    api_key: str | None = field(default=None, repr=False)  # a key is never shown, even here
    state_dir: Path | None = None
    url_ttl: float = _WEEK
    max_video_seconds: float = 1800.0
    list_lag: float = 0.0
    legacy: str = "served"
    catalogue: str = "lenient"
    quota_seconds: float = 36000.0
    previews: str = "auto"

    def __post_init__(self) -> None:
        for name, rate in self.faults.items():
            _check_fault_name(name)
            if not 0.0 <= rate <= 1.0:
                raise SettingError(f"fault rate {name}={rate} is outside [0, 1]")
        if self.speed < 0:
            raise SettingError(f"speed must not be negative, got {self.speed}")
        if self.list_lag < 0:
            raise SettingError(f"list_lag must not be negative, got {self.list_lag}")
        if self.catalogue not in CATALOGUE_MODES:
            raise SettingError(f"catalogue must be one of {', '.join(CATALOGUE_MODES)}, "
                               f"got {self.catalogue!r}")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise SettingError(f"max_concurrent must be at least 1, got {self.max_concurrent}")
        if self.previews not in PREVIEW_MODES:
            raise SettingError(f"previews must be one of {', '.join(PREVIEW_MODES)}, got {self.previews!r}")
        if self.legacy not in LEGACY_MODES:
            raise SettingError(f"legacy must be one of {', '.join(LEGACY_MODES)}, got {self.legacy!r}")

    def fault_rate(self, kind: str, scope: str) -> float:
        """The chance that fault ``kind`` strikes a request to a route of ``scope``."""
        scoped = self.faults.get(f"{kind}:{scope}")
        if scoped is not None:
            return scoped
        if (scope == "files") != (kind in FILE_FAULTS):
            return 0.0
        return self.faults.get(kind, 0.0)

    @property
    def strict_catalogue(self) -> bool:
        return self.catalogue == "strict"

    @classmethod
    def parse(cls, text: str, base: EmulatorConfig | None = None) -> EmulatorConfig:
        """Read a settings string (see the module docstring) on top of ``base``."""
        return _apply(base or cls(), _split_items(text))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None,
                 base: EmulatorConfig | None = None) -> EmulatorConfig:
        """Read ``VIDBUILD_EMULATOR_*`` variables on top of ``base``.

        ``VIDBUILD_EMULATOR_FAULTS`` holds a settings string; ``_SPEED``, ``_SEED``,
        ``_STATE_DIR``, ``_API_KEY``, ``_LEGACY``, ``_CATALOGUE`` and ``_PREVIEWS`` set one value
        each and win over the string.
        """
        env = os.environ if environ is None else environ
        items = _split_items(env.get(ENV_FAULTS, ""))
        for variable, name in ((ENV_SPEED, "speed"), (ENV_SEED, "seed"),
                               (ENV_STATE_DIR, "state_dir"), (ENV_API_KEY, "api_key"),
                               (ENV_LEGACY, "legacy"), (ENV_CATALOGUE, "catalogue"),
                               (ENV_PREVIEWS, "previews")):
            if env.get(variable):
                items.append((name, env[variable]))
        return _apply(base or cls(), items)


def _check_fault_name(name: str) -> None:
    kind, _, scope = name.partition(":")
    if kind not in FAULT_KINDS:
        raise SettingError(f"unknown emulator fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
    if scope and scope not in SCOPES:
        raise SettingError(f"unknown fault scope {scope!r} in {name!r}; known: {', '.join(SCOPES)}")
    if scope and kind in SUBMIT_FAULTS and scope != "submit":
        raise SettingError(f"fault {kind!r} only applies to submissions, not to {scope!r}")
    if scope and kind in FILE_FAULTS and scope != "files":
        raise SettingError(f"fault {kind!r} only applies to file downloads, not to {scope!r}")
    if kind in REPLY_FAULTS and scope == "files":
        raise SettingError(f"fault {kind!r} only applies to API replies, not to file downloads")


def _split_items(text: str) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    for chunk in text.split(","):
        if not chunk.strip():
            continue
        name, equals, value = chunk.partition("=")
        if not equals:
            raise SettingError(f"emulator setting {chunk.strip()!r} is not of the form name=value")
        items.append((name.strip(), value.strip()))
    return items


_SETTINGS: Final = {f.name for f in fields(EmulatorConfig)} - {"faults"}


def _apply(base: EmulatorConfig, items: list[tuple[str, str]]) -> EmulatorConfig:
    faults = dict(base.faults)
    settings: dict[str, object] = {}
    for name, value in items:
        if name in _SETTINGS:
            settings[name] = _convert(name, value)
        else:
            _check_fault_name(name)
            faults[name] = _number(name, value)
    return replace(base, faults=faults, **settings)  # type: ignore[arg-type]


def _convert(name: str, value: str) -> object:
    if name in ("seed", "max_concurrent"):
        if name == "max_concurrent" and value.lower() in ("", "none", "0"):
            return None
        try:
            return int(value)
        except ValueError:
            raise SettingError(f"emulator setting {name} needs a whole number, got {value!r}") from None
    if name in ("catalogue", "previews"):
        return value.strip().lower()
    if name == "state_dir":
        return Path(value) if value else None
    if name == "api_key":
        return value or None
    if name == "legacy":
        return value.lower()
    return _number(name, value)


def _number(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise SettingError(f"emulator setting {name} needs a number, got {value!r}") from None
