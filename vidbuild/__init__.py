"""vidbuild: declarative, incremental builds of personalized HeyGen videos.

The library: ``build``, ``plan``, ``status`` and ``compile`` (see ``vidbuild.pipeline``), the
openers ``load_project``, ``open_state``, ``choose_backend`` and ``open_backend``, and the option,
outcome, reporter and view types. They are imported on first use (PEP 562), so that importing
``vidbuild`` (and ``vidbuild --help``) loads no HTTP, template or schema library.

The packages, in the order a build goes through them: ``spec`` (read the project and its rows,
render each into a request body, hash it) → ``planner`` (decide per row: submit, poll, download,
up-to-date) → ``run`` (submit, poll, reconcile, download within a bounded window) → ``report``
(progress, tables, manifest, review page). Beside them: ``state`` (what was paid for, on disk or in
PostgreSQL), ``heygen`` (the client, HeyGen's routes, the backend choice), ``emulator``;
``pipeline`` strings the stages into the functions above, and ``cli``/``commands`` parse argv.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from vidbuild.version import __version__

if TYPE_CHECKING:
    from vidbuild.heygen.choice import BackendChoice
    from vidbuild.pipeline import (
        BuildOptions,
        BuildOutcome,
        PlanOptions,
        PlanOutcome,
        StatusOutcome,
        build,
        choose_backend,
        compile,
        load_project,
        open_backend,
        open_state,
        plan,
        status,
    )
    from vidbuild.report.progress import JsonReporter, PlainReporter
    from vidbuild.report.tables import PlanTable, StatusTable
    from vidbuild.run.outcome import Reporter

# Each public name, and the module it comes from.
_HOMES = {
    **dict.fromkeys(["BuildOptions", "BuildOutcome", "PlanOptions", "PlanOutcome", "StatusOutcome",
                     "build", "choose_backend", "compile", "load_project", "open_backend",
                     "open_state", "plan", "status"], "vidbuild.pipeline"),
    "BackendChoice": "vidbuild.heygen.choice",
    **dict.fromkeys(["JsonReporter", "PlainReporter"], "vidbuild.report.progress"),
    "Reporter": "vidbuild.run.outcome",
    **dict.fromkeys(["PlanTable", "StatusTable"], "vidbuild.report.tables"),
}

__all__ = ["BackendChoice", "BuildOptions", "BuildOutcome", "JsonReporter", "PlainReporter", "PlanOptions",
           "PlanOutcome", "PlanTable", "Reporter", "StatusOutcome", "StatusTable", "__version__", "build",
           "choose_backend", "compile", "load_project", "open_backend", "open_state", "plan", "status"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'vidbuild' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value   # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
