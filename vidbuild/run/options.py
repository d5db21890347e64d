"""How a build runs: how many videos in flight, fail-fast, the render pace and deadline, protected files."""

from __future__ import annotations

from dataclasses import dataclass

from vidbuild.spec.protected import ProtectedFiles

DEFAULT_JOBS = 4            # a handful in flight: HeyGen plans render 1 to 10 at once
DEFAULT_RENDER_TIMEOUT = 3600.0   # seconds a render may take before its row is left unfinished


@dataclass
class Options:
    """``jobs``: videos in flight at most (``-j``); ``fail_fast``: send nothing more after a
    failure; ``render_ratio``: the render pace earlier builds learned against this API (see
    pacing); ``protected``: files no output may overwrite, checked again as each file is written;
    ``render_timeout``: seconds a render may take before its row is left unfinished; ``tick``:
    seconds between progress ticks to a reporter that watches (see outcome.Watcher), which also
    bounds every idle sleep; None: no ticks, each wait lasts until the next timer."""

    jobs: int = DEFAULT_JOBS
    fail_fast: bool = False
    render_ratio: float | None = None
    protected: ProtectedFiles | None = None
    render_timeout: float = DEFAULT_RENDER_TIMEOUT
    tick: float | None = None
