"""The command-line options several commands share, added to each parser the same way."""

from __future__ import annotations

import argparse

from vidbuild.heygen.routes import API_CHOICES


def project_arg(parser: argparse.ArgumentParser) -> None:
    """PATH: the project directory or its vidbuild.yaml."""
    parser.add_argument("path", nargs="?", default=None, metavar="PATH",
                        help="project directory or its vidbuild.yaml (default: current directory)")


def api_arg(parser: argparse.ArgumentParser) -> None:
    """--api auto|v3|legacy: the HeyGen API generation, over the project's ``api:``."""
    parser.add_argument("--api", choices=API_CHOICES, default=None,
                        help="HeyGen API generation: v3 where it renders the same video (auto, the "
                             "default), v3 for every row (an error where it can't), or legacy; wins "
                             "over the project's api:")


def select_args(parser: argparse.ArgumentParser, *, select: bool = True) -> None:
    """--select/-s (unless ``select`` is False: retry selects for itself) and --exclude."""
    # One value per option (repeat it for more), so a PATH after them is never taken for a selector.
    if select:
        parser.add_argument("--select", action="append", metavar="SELECTOR", default=None,
                            help="only rows matching: a KEY or key GLOB, COLUMN=VALUE, or state:new|"
                                 "changed|failed|pending|built (repeat for a union)")
    parser.add_argument("--exclude", action="append", metavar="SELECTOR", default=None,
                        help="leave out rows matching this selector (repeatable)")


def emulator_arg(parser: argparse.ArgumentParser) -> None:
    """--emulator: the built-in emulator, whatever the environment says."""
    parser.add_argument("--emulator", dest="use_emulator", action="store_true",
                        help="use the built-in HeyGen emulator even where HEYGEN_API_KEY is set or CI "
                             "is (the same as VIDBUILD_BACKEND=emulator)")


def state_arg(parser: argparse.ArgumentParser) -> None:
    """--state-dir DIR."""
    parser.add_argument("--state-dir", metavar="DIR", default=None,
                        help="where state lives (default: $VIDBUILD_STATE_DIR, else PATH/.vidbuild)")


def state_url_arg(parser: argparse.ArgumentParser) -> None:
    """--state-url URL: a PostgreSQL state shared by runners."""
    parser.add_argument("--state-url", metavar="URL", default=None,
                        help="keep state in this PostgreSQL database (postgresql://…), shared by "
                             "every runner that names it (default: $VIDBUILD_STATE_URL, else --state-dir)")


def shard_arg(parser: argparse.ArgumentParser) -> None:
    """--shard K/N: one part of the rows, for N CI jobs."""
    parser.add_argument("--shard", metavar="K/N", default=None,
                        help="only part K of N (say 2/3), split by a digest of each row's key: N "
                             "jobs given 1/N … N/N cover every row once (share a --state-url)")
