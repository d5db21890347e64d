"""The render pace a build learns is kept per timing model: a ratio learned against one model
(an emulator at another speed, another VIDBUILD_TIMING_SCALE) is never applied to another.

Before, a state that had built at VIDBUILD_EMULATOR_SPEED=0 (its model near zero, the learned
ratio in the hundreds) made the next build at the default speed wait two minutes for a video
the emulator had rendered at once."""

from __future__ import annotations

import os
from pathlib import Path

from buildkit import rows, run_vidbuild, write_project

from vidbuild.heygen.backend import EMULATOR_NAMESPACE, LOCAL_EMULATOR_SPEED
from vidbuild.heygen.choice import Timing
from vidbuild.pipeline.builder import render_ratio_entry
from vidbuild.state.disk import DiskState

EMULATOR_MODEL = Timing(render_overhead=30.0, render_per_second=4.0)   # as heygen/backend.py has it


def test_each_model_has_its_own_entry() -> None:
    assert render_ratio_entry(EMULATOR_MODEL.scaled(0.002)) != render_ratio_entry(EMULATOR_MODEL.scaled(0.02))
    assert render_ratio_entry(EMULATOR_MODEL) == render_ratio_entry(Timing(30.0, 4.0))


def test_a_ratio_learned_against_another_model_is_not_applied(tmp_path: Path) -> None:
    project = write_project(tmp_path / "campaign", rows(1))
    default = render_ratio_entry(EMULATOR_MODEL.scaled(LOCAL_EMULATOR_SPEED))
    other = render_ratio_entry(EMULATOR_MODEL.scaled(0.0))
    state = DiskState(project / ".vidbuild", EMULATOR_NAMESPACE)
    state.set_meta(other, 5000.0)   # applied here, the first poll would come hours after the send
    state.close()

    run = run_vidbuild("build", str(project), env=dict(os.environ), timeout=60)

    assert run.code == 0, run.stderr
    state = DiskState(project / ".vidbuild", EMULATOR_NAMESPACE)
    learned, kept = state.get_meta(default), state.get_meta(other)
    state.close()
    assert kept == 5000.0
    assert learned is not None and 0 < learned < 100
