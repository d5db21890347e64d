"""How commands end at the edges a user meets: a pipe closed by its reader, and `init` pointed at
a path where no project can be made (QA of issues 15/16)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from buildkit import LoopbackHeyGen, rows, run_vidbuild, write_project


def test_a_build_whose_reader_goes_away_stops_with_141_and_keeps_what_it_sent(
        tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "campaign", rows(6))
    process = subprocess.Popen([sys.executable, "-m", "vidbuild", "build", "-j", "1", "--json", str(project)],
                               env=heygen.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    assert process.stdout is not None
    first = json.loads(process.stdout.readline())
    assert first["event"] == "banner"
    process.stdout.close()   # `| head -1`
    _, err = process.communicate(timeout=120)

    assert process.returncode == 141, err
    assert b"Traceback" not in err and b"internal error" not in err
    again = run_vidbuild("build", "-s", str(project), env=heygen.env())
    assert again.code == 0, again.stderr
    assert len(heygen.submits()) == 6   # the rerun collected what the first one paid for


def test_init_on_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    run = run_vidbuild("init", str(tmp_path / "afile"), env={"PATH": "/usr/bin:/bin"})
    assert (run.code, run.stderr) == (
        2, f"vidbuild: error: can't make a project in {tmp_path / 'afile'}: it is a file, not a folder\n")


def test_init_below_a_file_or_in_proc_is_a_local_write_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    for target, reason in ((tmp_path / "afile" / "sub", "Not a directory"),
                           (Path("/proc/vidbuild-test"), "No such file or directory")):
        run = run_vidbuild("init", str(target), env={"PATH": "/usr/bin:/bin"})
        assert run.code == 3, run.stderr
        assert run.stderr.startswith(f"vidbuild: error: can't make a project in {target}: {reason}")
        assert "internal error" not in run.stderr


def test_a_stray_argument_is_shown_with_the_commands_own_usage(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin"}
    for args, usage in ((["retry", "p", "--select", "r01"], "usage: vidbuild retry "),
                        (["build", "--force", "r01", "r02", "p"], "usage: vidbuild build "),
                        (["state", "export", "p", "--bogus"], "usage: vidbuild state export ")):
        run = run_vidbuild(*args, env=env)
        assert run.code == 2 and run.stderr.startswith(usage), run.stderr
        assert f"vidbuild {usage.split()[-1] if args[0] != 'state' else 'state export'}: error: " \
               f"unrecognized arguments: " in run.stderr


def test_explain_with_its_key_and_path_swapped_says_the_order(tmp_path: Path) -> None:
    project = write_project(tmp_path / "campaign", rows(2))
    run = run_vidbuild("explain", str(project), "r01", env={"PATH": "/usr/bin:/bin"})
    assert (run.code, run.stderr) == (
        2, f"vidbuild: error: vidbuild explain takes the row's key first, then the project: "
           f"vidbuild explain r01 {project}\n")
