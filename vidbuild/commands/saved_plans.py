"""Saved plans for the plan and build commands: the digests of a project's inputs now, and a plan
view that notes every step it shows and then writes the plan (vidbuild.planner.saved has the
file and its checks)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from vidbuild.planner.decide import Step, Summary
from vidbuild.planner.saved import SavedPlan, input_digests, write_plan
from vidbuild.report.tables import PlanView
from vidbuild.spec.project import Project


def current_inputs(project: Project) -> dict[str, str]:
    """The sha256 of every file whose bytes can change what a build sends."""
    from vidbuild.planner.up_to_date import input_files
    from vidbuild.resources import templates_dir
    from vidbuild.spec.rows import data_source

    builtin = templates_dir()
    files = input_files(project.file, data_source(project), [project.templates_dir, builtin])
    return input_digests(project.root, files, builtin)


class SavingView:
    """A plan view that passes everything on to ``shown`` and writes the plan to ``path`` once
    every row has been read and found valid (``plan --out``)."""

    def __init__(self, shown: PlanView, plan: SavedPlan, path: str) -> None:
        self.shown = shown
        self.plan = plan
        self.path = path

    def steps(self, steps: Iterable[Step]) -> None:
        self.shown.steps(self._noted(steps))

    def summary(self, summary: Summary, project: Project) -> None:
        self.shown.summary(summary, project)
        write_plan(self.path, self.plan, {"summary": dict(summary.counts),
                                          "estimated_credits": summary.estimated_credits})

    def _noted(self, steps: Iterable[Step]) -> Iterator[Step]:
        for step in steps:
            self.plan.steps[step.key] = (step.action, step.job.hash)
            yield step
