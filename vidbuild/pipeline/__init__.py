"""The build as a library: ``build``, ``plan``, ``status`` and ``compile`` take a project and the
state and backend to use (opened by the caller, or by the openers here the way the CLI opens
them) and return plain outcomes; every line of output goes to the reporter or view passed in.

The CLI's commands only parse their flags, call these, and map the outcome to an exit code.
"""

from __future__ import annotations

from vidbuild.pipeline.builder import build
from vidbuild.pipeline.openers import choose_backend, load_project, open_backend, open_project, open_state
from vidbuild.pipeline.options import (
    BuildOptions,
    BuildOutcome,
    PlanOptions,
    PlanOutcome,
    ProjectSource,
    StatusOutcome,
)
from vidbuild.pipeline.queries import compile, plan, status

__all__ = ["BuildOptions", "BuildOutcome", "PlanOptions", "PlanOutcome", "ProjectSource", "StatusOutcome",
           "build", "choose_backend", "compile", "load_project", "open_backend", "open_project",
           "open_state", "plan", "status"]
