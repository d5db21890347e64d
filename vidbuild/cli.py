"""Command line: parse arguments, dispatch to ``vidbuild.commands``, map errors to exit codes.

Nothing else in vidbuild parses argv, prints usage or exits. Heavy libraries (httpx, jinja2,
jsonschema) are imported by the commands that use them, so ``--help`` and ``--version`` start fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from vidbuild import __version__
from vidbuild.errors import EXIT_INTERRUPTED, EXIT_UNFINISHED, VidbuildError

EPILOG = """exit codes: 0 success; 1 some videos failed; 2 invalid project or usage, nothing sent;
3 could not finish (auth, network, quota), state kept and a rerun resumes; 130 interrupted."""


def _project_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", default=None, metavar="PATH",
                        help="project directory or its vidbuild.yaml (default: current directory)")


def _validate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("validate", help="check the project and every expanded request body",
                            description="Check the project file, its data and templates, and every "
                                        "expanded request body against the API's schema. Sends nothing.")
    _project_arg(parser)
    parser.add_argument("--online", action="store_true",
                        help="also check avatar and voice IDs against the account's catalogue")


def _compile(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("compile", help="print or write the exact request bodies with their hashes",
                            description="Expand every row into the exact request body vidbuild would "
                                        "send, with its content hash. Sends nothing.")
    _project_arg(parser)
    parser.add_argument("--row", action="append", metavar="KEY", default=None,
                        help="only this row's body (repeatable)")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="write one KEY.json per row into DIR instead of printing JSON lines")


def _init(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("init", help="scaffold a working project",
                            description="Create a small working project (vidbuild.yaml, a CSV and a "
                                        "template) in DIR.")
    parser.add_argument("directory", nargs="?", default=".", metavar="DIR",
                        help="where to create the project (default: current directory)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidbuild", epilog=EPILOG,
        description="Declarative, incremental builds of personalized HeyGen videos.")
    parser.add_argument("--version", action="version", version=f"vidbuild {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (_validate, _compile, _init):
        add(sub)
    return parser


def _dispatch(args: argparse.Namespace) -> int:
    from vidbuild import commands

    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "validate": lambda a: commands.validate(a.path, online=a.online),
        "compile": lambda a: commands.compile_bodies(a.path, rows=a.row, out=a.out),
        "init": lambda a: commands.init(a.directory),
    }
    return handlers[args.command](args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every failure becomes a message on stderr and a documented exit code."""
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except VidbuildError as exc:
        print(_error_text(exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("vidbuild: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the one place a bug becomes a short message instead of a traceback
        log = _write_crash_log()
        print(f"vidbuild: internal error: {type(exc).__name__}: {exc} (traceback in {log})",
              file=sys.stderr)
        return EXIT_UNFINISHED


def _error_text(exc: VidbuildError) -> str:
    from vidbuild.errors import ProjectError

    if isinstance(exc, ProjectError):
        count = len(exc.diagnostics)
        return f"{exc}\nvidbuild: {count} error{'s' if count != 1 else ''}, nothing sent"
    return f"vidbuild: error: {exc}"


def _write_crash_log() -> str:
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile("w", prefix="vidbuild-crash-", suffix=".log",
                                     delete=False) as handle:
        traceback.print_exc(file=handle)
    return handle.name
