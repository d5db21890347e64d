"""The test suite's own hygiene: no test touches the real home, cache or state of the machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vidbuild.commands.catalogue import catalogue_state_root


def test_the_catalogue_cache_outside_a_project_is_a_temporary_directory(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    temporary = tmp_path_factory.getbasetemp()
    cache_home = Path(os.environ.get("XDG_CACHE_HOME", "/"))

    assert cache_home.is_relative_to(temporary)
    assert catalogue_state_root(str(tmp_path), None) == cache_home / "vidbuild"
    assert Path.home().is_relative_to(temporary)
