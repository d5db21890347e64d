"""Command line: parse arguments, dispatch to ``vidbuild.commands``, map errors to exit codes.

Nothing else in vidbuild parses argv, prints usage or exits. Heavy libraries (httpx, jinja2,
jsonschema) are imported by the commands that use them, so ``--help`` and ``--version`` start fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING

from vidbuild import cli_options as options
from vidbuild.cli_exit import error_text, pipe_closed, write_crash_log
from vidbuild.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_UNFINISHED, VidbuildError
from vidbuild.version import __version__

if TYPE_CHECKING:
    from vidbuild.heygen.choice import BackendChoice

EPILOG = """exit codes: 0 success; 1 some videos failed; 2 invalid project or usage, or spending
refused (credit limit, declined), nothing sent; 3 could not finish (auth, network, quota), state
kept and a rerun resumes; 130 interrupted (Ctrl-C); 141 the output's reader went away; 143
terminated (SIGTERM, e.g. a cancelled CI job). After 130, 141 or 143 state is kept and a rerun
collects the videos still rendering without paying for them again."""


class _Terminated(KeyboardInterrupt):
    """SIGTERM arrived (a cancelled CI job, ``kill``): unwound exactly as Ctrl-C is, so state is
    kept and the engine says what still renders, but the process exits 143. Like
    KeyboardInterrupt, ``except Exception`` doesn't catch it; ``main`` does."""

    exit_code = EXIT_TERMINATED


def _validate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("validate", help="check the project and every expanded request body",
                            description="Check the project file, its data and templates, and every "
                                        "expanded request body against the API's schema. Sends nothing.")
    options.project_arg(parser)
    options.select_args(parser)
    parser.add_argument("--online", action="store_true",
                        help="also check avatar and voice IDs against the account's catalogue")
    options.api_arg(parser)


def _compile(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("compile", help="print or write the exact request bodies with their hashes",
                            description="Expand every row into the exact request body vidbuild would "
                                        "send, with its content hash. Sends nothing.")
    options.project_arg(parser)
    options.select_args(parser)
    parser.add_argument("--row", action="append", metavar="KEY", default=None,
                        help="only this row's body (repeatable)")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="write one KEY.json per row into DIR instead of printing JSON lines")
    options.api_arg(parser)


def _init(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("init", help="scaffold a working project",
                            description="Create a small working project (vidbuild.yaml, a CSV and a "
                                        "template) in DIR.")
    parser.add_argument("directory", nargs="?", default=".", metavar="DIR",
                        help="where to create the project (default: current directory)")


def _review(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("review", help="write an HTML page to review every row, before or after a build",
                            description="Write review.html beside the manifest (in the directory the "
                                        "outputs share, e.g. out/): every row's key, title, scenes "
                                        "(script, avatar, voice, background), estimated length and "
                                        "credits, the plan's action and reason, and once built its "
                                        "status, errors and video. Prints the page's path. Sends "
                                        "nothing.")
    options.project_arg(parser)
    options.state_arg(parser)
    options.state_url_arg(parser)
    parser.add_argument("--open", action="store_true", help="also open the page in the default browser")
    options.api_arg(parser)


def _schema(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("schema", help="print the project file's JSON Schema",
                            description="Print the JSON Schema of vidbuild.yaml (for editors and "
                                        "other tools), or write it to FILE.")
    parser.add_argument("--out", metavar="FILE", default=None, help="write the schema to FILE instead")


def _plan(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("plan", help="say what a build would do for each row, and why",
                            description="For each row: submit (new or changed, naming the fields), "
                                        "poll, download, retry, reconcile or up-to-date, with counts "
                                        "and a credit estimate. Sends nothing.")
    options.project_arg(parser)
    options.select_args(parser)
    options.emulator_arg(parser)
    options.state_arg(parser)
    options.state_url_arg(parser)
    parser.add_argument("--json", action="store_true", help="JSON lines for machines")
    parser.add_argument("--force", action="append", metavar="SELECTOR", default=[],
                        help="plan the rows it selects (as --select) as rebuilds; repeatable")
    parser.add_argument("--out", metavar="FILE", default=None,
                        help="also save the plan to FILE, for vidbuild build --plan FILE (a reviewer "
                             "approves exactly what will be paid for)")
    options.shard_arg(parser)
    options.api_arg(parser)


def _build(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("build", help="submit what changed, poll, download, write the manifest",
                            description="Build incrementally: only bodies whose hash is not built yet "
                                        "are submitted; finished videos are downloaded to their output "
                                        "paths and listed in out/manifest.json and out/manifest.csv.")
    _build_options(parser, select=True)


def _retry(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("retry", help="build the rows that failed (build --select state:failed)",
                            description="Build only the rows whose last render or submission failed: "
                                        "the same as vidbuild build --select state:failed. Failures "
                                        "that would fail again (content policy, invalid input) stay "
                                        "failed until their body changes or --force selects them.")
    _build_options(parser, select=False)


def _build_options(parser: argparse.ArgumentParser, *, select: bool) -> None:
    options.project_arg(parser)
    options.select_args(parser, select=select)
    options.emulator_arg(parser)
    options.state_arg(parser)
    options.state_url_arg(parser)
    parser.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                        help="videos in flight at once (default 4; shrinks on rate limits)")
    parser.add_argument("-n", "--dry-run", action="store_true", help="print the plan; send nothing")
    parser.add_argument("-q", "--question", action="store_true",
                        help="send nothing; exit 0 if up to date, 1 if work is pending")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("-k", "--keep-going", action="store_true",
                      help="go on after a video fails (the default)")
    mode.add_argument("--fail-fast", action="store_true",
                      help="submit nothing new after the first failure")
    parser.add_argument("--force", action="append", metavar="SELECTOR", default=[],
                        help="rebuild the rows it selects (a key, glob, COLUMN=VALUE or state:failed, "
                             "as --select) even if up to date or failed for good (pays again); repeatable")
    parser.add_argument("--plan", dest="plan_file", metavar="FILE", default=None,
                        help="carry out the plan vidbuild plan --out saved in FILE and nothing else; "
                             "refused (exit 2) if the project or state changed since")
    parser.add_argument("--max-credits", type=float, default=None, metavar="N",
                        help="refuse (exit 2, nothing sent) when the plan is estimated to spend more "
                             "than N credits (wins over the project's max_credits:)")
    parser.add_argument("-y", "--yes", action="store_true",
                        help="don't ask before spending credits (a build asks only on a terminal)")
    parser.add_argument("--render-timeout", type=float, default=None, metavar="SECONDS",
                        help="leave a row unfinished (exit 3; a rerun resumes it) when its video is "
                             "still rendering this long after submission (default 3600)")
    parser.add_argument("--json", action="store_true",
                        help="NDJSON events on stdout, the last one finished, interrupted or error")
    parser.add_argument("-s", "--silent", action="store_true",
                        help="print only the summary (errors still go to stderr)")
    options.shard_arg(parser)
    options.api_arg(parser)


def _status(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("status", help="every row's state, from local state only",
                            description="Show each row's last known state (no network requests).")
    options.project_arg(parser)
    options.select_args(parser)
    options.emulator_arg(parser)
    options.state_arg(parser)
    options.state_url_arg(parser)
    parser.add_argument("--json", action="store_true", help="JSON lines for machines")
    options.shard_arg(parser)


def _clean(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("clean", help="remove the state directory (asks first)",
                            description="Delete vidbuild's state for the project. Downloaded videos "
                                        "stay; the next build trusts those the manifest lists with "
                                        "their checksum, and treats every other row as new.")
    options.project_arg(parser)
    options.state_arg(parser)
    options.state_url_arg(parser)
    parser.add_argument("-y", "--yes", action="store_true", help="don't ask (for CI)")


def _adopt(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("adopt", help="record an existing video as a row's video",
                            description="Record VIDEO_ID as the video of row KEY's current body, so "
                                        "the next build polls and downloads it instead of paying for "
                                        "a new one: for a lost agent reply that vidbuild can't match "
                                        "on its own. Asks the API about the video only.")
    parser.add_argument("key", metavar="KEY", help="the row's key")
    parser.add_argument("video_id", metavar="VIDEO_ID", help="the video to record as the row's")
    options.project_arg(parser)
    options.emulator_arg(parser)
    options.state_arg(parser)
    options.state_url_arg(parser)


def _explain(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("explain", help="everything known about one row: body, hash, state, changes",
                            description="For row KEY: its body and hash, what a build would do and "
                                        "why, each recorded step of its video with its time, the "
                                        "video_id and URLs, and the fields changed since it was "
                                        "built. From the project and state alone; sends nothing.")
    parser.add_argument("key", metavar="KEY", help="the row's key")
    options.project_arg(parser)
    options.emulator_arg(parser)
    options.state_arg(parser)
    options.state_url_arg(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object for machines")
    options.api_arg(parser)


def _state(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("state", help="export or import the project's state (JSON lines)",
                            description="Move state between a laptop, a state directory and a "
                                        "database: export writes every record as JSON lines, "
                                        "import merges them, never overwriting a newer record.")
    actions = parser.add_subparsers(dest="state_command", metavar="ACTION", required=True)
    export = actions.add_parser("export", help="write every record as JSON lines",
                                description="Write the project's state for the current API as JSON "
                                            "lines (a header, then one record per content hash).")
    options.project_arg(export)
    export.add_argument("-o", "--output", metavar="FILE", default=None,
                        help="write to FILE (default: stdout)")
    options.state_arg(export)
    options.state_url_arg(export)
    imported = actions.add_parser("import", help="merge an export into this state",
                                  description="Merge an export into the project's state for the "
                                              "current API; a record already there is replaced only "
                                              "by a newer one (a later claim, or the same claim "
                                              "written later). Every line is checked first.")
    imported.add_argument("source", metavar="FILE", help="the export to read (- for stdin)")
    options.project_arg(imported)
    options.state_arg(imported)
    options.state_url_arg(imported)


def _catalogue(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, what: str) -> None:
    parser = sub.add_parser(name, help=f"list the account's {what}",
                            description=f"List the account's {what} (cached for a day in the state "
                                        "directory).")
    options.project_arg(parser)
    options.state_arg(parser)
    options.emulator_arg(parser)
    parser.add_argument("--json", action="store_true", help="JSON for scripts")
    parser.add_argument("--refresh", action="store_true", help="ignore the cached copy")


def _emulator(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("emulator", help="serve the HeyGen emulator on a local port",
                            description="Serve the built-in HeyGen-compatible emulator over HTTP, for "
                                        "other tools and tests: HeyGen's v1/v2 and v3 routes. "
                                        "Faults and speed come from VIDBUILD_EMULATOR_FAULTS and "
                                        "VIDBUILD_EMULATOR_SPEED; VIDBUILD_EMULATOR_LEGACY=gone "
                                        "retires every v1/v2 route except POST /v2/video/generate.")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidbuild", epilog=EPILOG,
        description="Declarative, incremental builds of personalized HeyGen videos.")
    parser.add_argument("--version", action="version", version=f"vidbuild {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (_validate, _compile, _plan, _build, _retry, _status, _explain, _review, _clean, _init,
                _schema, _adopt, _state):
        add(sub)
    _catalogue(sub, "avatars", "avatars and talking photos")
    _catalogue(sub, "voices", "voices")
    _emulator(sub)
    _own_usage(sub)
    return parser


def _own_usage(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Each command (``state export`` too) names itself as the parser that shows a mistake, so
    the user sees that command's usage, not vidbuild's."""
    for command in sub.choices.values():
        command.set_defaults(command_parser=command)
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                _own_usage(action)


def _dispatch(args: argparse.Namespace) -> int:
    from vidbuild import commands
    from vidbuild.heygen.choice import BackendChoice

    # The one reading of HEYGEN_API_KEY / HEYGEN_API_BASE / VIDBUILD_TIMING_SCALE per command.
    api = BackendChoice.from_env()
    if getattr(args, "use_emulator", False):   # --emulator: as VIDBUILD_BACKEND=emulator
        api = dataclasses.replace(api, requested="emulator")
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "validate": lambda a: commands.validate(a.path, online=a.online, api=a.api, backend=api,
                                                select=a.select, exclude=a.exclude),
        "compile": lambda a: commands.compile_bodies(a.path, rows=a.row, out=a.out, api=a.api,
                                                     select=a.select, exclude=a.exclude),
        "init": lambda a: commands.init(a.directory),
        "plan": lambda a: commands.plan(a.path, state_dir=a.state_dir, json_output=a.json,
                                        force=a.force, api=a.api, state_url=a.state_url, backend=api,
                                        select=a.select, exclude=a.exclude, out=a.out, shard=a.shard),
        "build": lambda a: _build_command(a, api),
        "retry": lambda a: _build_command(a, api, retry=True),
        "status": lambda a: commands.status(a.path, state_dir=a.state_dir, json_output=a.json,
                                            state_url=a.state_url, backend=api, select=a.select,
                                            exclude=a.exclude, shard=a.shard),
        "explain": lambda a: commands.explain(a.path, a.key, state_dir=a.state_dir, state_url=a.state_url,
                                              json_output=a.json, api=a.api, backend=api),
        "review": lambda a: commands.review(a.path, state_dir=a.state_dir, state_url=a.state_url,
                                            api=a.api, open_page=a.open, backend=api),
        "schema": lambda a: commands.schema(a.out),
        "clean": lambda a: commands.clean(a.path, state_dir=a.state_dir, yes=a.yes,
                                          state_url=a.state_url, backend=api),
        "adopt": lambda a: commands.adopt(a.path, a.key, a.video_id, state_dir=a.state_dir,
                                          state_url=a.state_url, backend=api),
        "avatars": lambda a: commands.show_catalogue("avatars", a.path, state_dir=a.state_dir,
                                                     json_output=a.json, refresh=a.refresh, backend=api),
        "voices": lambda a: commands.show_catalogue("voices", a.path, state_dir=a.state_dir,
                                                    json_output=a.json, refresh=a.refresh, backend=api),
        "emulator": lambda a: commands.emulator(a.host, a.port),
        "state": _state_action,
    }
    return handlers[args.command](args)


def _build_command(args: argparse.Namespace, backend: BackendChoice, retry: bool = False) -> int:
    from vidbuild import commands

    return commands.build(args.path, state_dir=args.state_dir, jobs=args.jobs, dry_run=args.dry_run,
                          question=args.question, fail_fast=args.fail_fast, force=args.force,
                          json_output=args.json, render_timeout=args.render_timeout, api=args.api,
                          state_url=args.state_url, max_credits=args.max_credits, yes=args.yes,
                          select=["state:failed"] if retry else args.select, exclude=args.exclude,
                          backend=backend, plan_file=args.plan_file, shard=args.shard,
                          silent=args.silent)


def _state_action(args: argparse.Namespace) -> int:
    from vidbuild import commands

    if args.state_command == "export":
        return commands.export_state(args.path, output=args.output, state_dir=args.state_dir,
                                     state_url=args.state_url)
    return commands.import_state(args.path, args.source, state_dir=args.state_dir, state_url=args.state_url)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every failure becomes a message on stderr and a documented exit code."""
    args, extra = build_parser().parse_known_args(argv)
    if extra:
        args.command_parser.error(f"unrecognized arguments: {' '.join(extra)}")
    previous = _catch_sigterm()
    try:
        return _dispatch(args)
    except VidbuildError as exc:
        print(error_text(exc), file=sys.stderr)
        return exc.exit_code
    except _Terminated:
        print("vidbuild: terminated (SIGTERM)", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("vidbuild: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:   # `vidbuild ... | head`: the reader went away
        return pipe_closed()
    except Exception as exc:  # the one place a bug becomes a short message instead of a traceback
        log = write_crash_log()
        print(f"vidbuild: internal error: {type(exc).__name__}: {exc} (traceback in {log})",
              file=sys.stderr)
        return EXIT_UNFINISHED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _catch_sigterm() -> signal.Handlers | Callable[[int, FrameType | None], object] | int | None:
    """Unwind on SIGTERM (a cancelled CI job, ``kill``) as on Ctrl-C, so state is kept and the
    build says what is still rendering; returns the handler it replaced (None: not installed,
    as signals can only be caught on the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _terminate)


def _terminate(signum: int, frame: FrameType | None) -> None:
    # A second SIGTERM (a runner that gives up waiting) ends the process at once.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise _Terminated()
