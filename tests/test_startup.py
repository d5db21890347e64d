"""Startup stays fast: --help and --version import none of the heavy libraries."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("httpx", "jinja2", "jsonschema", "jsonschema_rs", "ruamel", "diskcache")
PROBE = """
import sys
from vidbuild.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("loaded:" + ",".join(sorted({{m.split(".")[0] for m in sys.modules}} & {heavy!r})))
"""


def loaded(stdout: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith("loaded:"))[len("loaded:"):]


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["build", "--help"], ["plan", "--help"]])
def test_help_and_version_import_no_heavy_library(args: list[str]) -> None:
    result = subprocess.run([sys.executable, "-c", PROBE.format(heavy=set(HEAVY)), *args],
                            capture_output=True, text=True, check=True)
    assert loaded(result.stdout) == ""


def test_the_probe_can_see_a_heavy_import() -> None:
    probe = PROBE.format(heavy=set(HEAVY)).replace("from vidbuild.cli import main",
                                                   "import jinja2\nfrom vidbuild.cli import main")
    result = subprocess.run([sys.executable, "-c", probe, "--version"], capture_output=True, text=True,
                            check=True)
    assert loaded(result.stdout) == "jinja2"
