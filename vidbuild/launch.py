"""The ``vidbuild`` command's entry point: sets the process up for one short command, then runs the CLI."""

from __future__ import annotations


def main() -> int:
    """Run the command line (``vidbuild.cli.main``) with the cycle collector paced for a short
    command (see ``vidbuild.collector``); returns its exit code."""
    from vidbuild import collector

    collector.for_start()
    from vidbuild.cli import main as run

    return run()
