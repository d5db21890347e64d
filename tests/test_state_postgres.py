"""State on PostgreSQL (issue 13 items 3 and 6): a real server on loopback, started by the suite.

Runners on separate disks share one database: each body is paid for once, a runner killed -9
leaves claims the next one reconciles, a database restart stops a build (exit 3) with nothing
lost, and a newer schema or a bad URL is refused before anything is sent. The password in a
URL never shows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from buildkit import LoopbackHeyGen, manifest, rows, run_vidbuild, start_vidbuild, write_project
from pg_cluster import PASSWORD, Cluster, running_cluster

from vidbuild.errors import StateError
from vidbuild.state.postgres import SCHEMA_VERSION, PostgresState
from vidbuild.state.postgres_url import scrub_url
from vidbuild.state.protocol import KeyEntry, Record

ROWS = 12
KEYS = [row["id"] for row in rows(ROWS)]
SPEED = 0.005                      # a render takes ~0.2 s: a build can be caught in the middle
PACE = {"VIDBUILD_TIMING_SCALE": "0.005"}


@pytest.fixture
def heygen(tmp_path: Path) -> Iterator[LoopbackHeyGen]:
    server = LoopbackHeyGen(tmp_path / "heygen", speed=SPEED)
    yield server
    server.close()


def copies(tmp_path: Path, count: int) -> list[Path]:
    """``count`` copies of one project, as separate CI checkouts would have them."""
    return [write_project(tmp_path / f"runner{n}" / "campaign", rows(ROWS)) for n in range(count)]


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], limit: float = 60.0) -> None:
    """Wait until ``condition`` holds while ``process`` runs (synchronisation, not timing)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return
        assert process.poll() is None, f"the build ended first: {process.communicate()}"
        time.sleep(0.002)
    raise AssertionError("the build never got there")


def table_text(url: str) -> str:
    """Every row of every vidbuild table as text."""
    with psycopg.connect(url) as connection:
        return "\n".join(str(row) for table in ("vidbuild_schema", "vidbuild_jobs", "vidbuild_keys",
                                                  "vidbuild_meta")
                         for row in connection.execute(f"SELECT * FROM {table}").fetchall())


# -- the store on its own -----------------------------------------------------------------------

def test_one_claim_per_hash_among_racing_processes(url: str) -> None:
    stores = [PostgresState(url, "campaign/ns") for _ in range(3)]
    won: dict[str, list[str]] = {}
    lock = threading.Lock()
    start = threading.Barrier(len(stores))

    def claim_all(state: PostgresState) -> None:
        start.wait()
        for n in range(40):
            outcome, _ = state.claim(f"h{n}", f"k{n}", "video", title=None, output=f"out/{n}.mp4")
            if outcome == "claimed":
                with lock:
                    won.setdefault(f"h{n}", []).append(state.owner)

    threads = [threading.Thread(target=claim_all, args=(state,)) for state in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for state in stores:
        state.close()
    assert sorted(won) == sorted(f"h{n}" for n in range(40))
    assert all(len(owners) == 1 for owners in won.values()), won


def test_a_closed_session_leaves_an_orphan_one_process_takes_over(url: str) -> None:
    first, second, third = (PostgresState(url, "campaign/ns") for _ in range(3))
    first.claim("h", "k", "video", title=None, output="out/k.mp4")
    assert second.claim("h", "k", "video", title=None, output="out/k.mp4")[0] == "busy"
    first.close()   # its advisory lock goes with the session, as on kill -9
    # The server ends the session (and frees its lock) just after the client has gone: wait for it.
    deadline = time.monotonic() + 10
    outcome, record = second.claim("h", "k", "video", title=None, output="out/k.mp4")
    while outcome == "busy" and time.monotonic() < deadline:
        time.sleep(0.05)
        outcome, record = second.claim("h", "k", "video", title=None, output="out/k.mp4")
    assert outcome == "orphaned" and record is not None
    other_copy = Record.from_json(record.to_json())
    assert second.take_over(record) is True
    assert third.take_over(other_copy) is False
    assert third.get("h") is not None and third.get("h").owner == second.owner  # type: ignore[union-attr]
    second.close()
    third.close()


def test_record_refuses_to_move_back_and_installs_only_when_it_writes(url: str) -> None:
    state = PostgresState(url, "campaign/ns")
    _, claim = state.claim("h", "k", "video", title=None, output="out/k.mp4")
    assert claim is not None
    stale = Record.from_json(claim.to_json())
    claim.status, claim.video_id = "downloaded", "v1"
    installed: list[str] = []
    assert state.record(claim, install=lambda: installed.append("first")) is True
    stale.status, stale.video_id = "submitted", "v1"
    assert state.record(stale, install=lambda: installed.append("stale")) is False
    assert installed == ["first"]
    assert state.get("h").status == "downloaded"  # type: ignore[union-attr]
    state.close()


def test_namespaces_keep_projects_and_apis_apart(url: str) -> None:
    one, other = PostgresState(url, "campaign/api-a"), PostgresState(url, "campaign/api-b")
    one.claim("h", "k", "video", title=None, output="out/k.mp4")
    one.remember_key("k", KeyEntry("h", {"a": "1"}))
    one.set_meta("render_ratio", 1.5)
    assert other.holds_no_jobs() and other.get("h") is None and other.get_meta("render_ratio") is None
    assert not one.holds_no_jobs()
    assert one.for_keys(["k", "missing"]) == {"k": KeyEntry("h", {"a": "1"})}
    assert set(one.get_many(["h", "missing"])) == {"h"}
    one.close()
    other.close()


def test_key_entries_keep_the_body_and_entries_without_one_read_their_digests(url: str) -> None:
    from psycopg.types.json import Jsonb

    from vidbuild.planner.fields import changed_since, key_entry

    state = PostgresState(url, "campaign/key-bodies")
    # 1e23 and 1.5e300: jsonb keeps decimals and would hand back ints Python holds unequal.
    body = {"title": "Chloé", "video_inputs": [{"voice": {"speed": 1.5, "flag": True, "none": None,
                                                          "big": 1e23, "huge": 1.5e300, "zero": -0.0}}]}
    state.remember_key("new", key_entry("h-new", body))
    with state._connection.transaction():   # as an older vidbuild writes an entry: no body
        state._connection.execute("INSERT INTO vidbuild_keys (namespace, key, data) VALUES (%s, %s, %s)",
                                  (state.namespace, "old", Jsonb({"hash": "h-old", "fields": {"a": "1"}})))
    assert state.for_keys(["new", "old"]) == {"new": KeyEntry("h-new", None, body),
                                             "old": KeyEntry("h-old", {"a": "1"})}
    with pytest.raises(ValueError):
        state.remember_key("bodiless", KeyEntry("h", None, body))
    stored = state._connection.execute("SELECT data FROM vidbuild_keys WHERE namespace = %s AND key = 'new'",
                                       (state.namespace,)).fetchone()[0]
    assert stored["fields"] == key_entry("h-new", body).fields   # what older versions read
    assert changed_since(state.for_key("new"), body) == []   # read back, nothing changed
    state.close()


def test_a_lost_connection_is_a_state_error_with_the_password_scrubbed(url: str) -> None:
    state = PostgresState(url, "campaign/ns")
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE application_name = 'vidbuild'")
    with pytest.raises(StateError) as caught:
        state.claim("h", "k", "video", title=None, output="out/k.mp4")
    assert PASSWORD not in str(caught.value)
    assert scrub_url(url) in str(caught.value)
    state.close()


def test_scrub_url_hides_the_password_wherever_the_url_puts_it() -> None:
    assert scrub_url("postgresql://u:p%40ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert scrub_url("postgresql://u@h/db?password=hunter22&sslmode=off") == \
        "postgresql://u@h/db?password=***&sslmode=off"
    assert scrub_url("postgresql://h/db") == "postgresql://h/db"
    assert scrub_url("postgresql://u:pw@[bad/db") == "postgresql://u:***@[bad/db"


# -- the command line ---------------------------------------------------------------------------

def test_a_newer_schema_is_refused_before_anything_is_sent(tmp_path: Path, url: str,
                                                           heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "campaign", rows(2))
    PostgresState(url, "campaign/ns").close()   # creates the schema
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("UPDATE vidbuild_schema SET version = version + 1")
    run = run_vidbuild("build", str(project), "--state-url", url, env=heygen.env())
    assert run.code == 2, run.stderr
    assert (f"has schema version {SCHEMA_VERSION + 1}, newer than this vidbuild's ({SCHEMA_VERSION}): "
            "upgrade vidbuild") in run.stderr
    assert "Traceback" not in run.stderr and PASSWORD not in run.stderr
    assert heygen.submits() == []


@pytest.mark.parametrize("how", ["wrong password", "server down"])
def test_an_unreachable_database_never_shows_the_password(tmp_path: Path, cluster: Cluster,
                                                          heygen: LoopbackHeyGen, how: str) -> None:
    project = write_project(tmp_path / "campaign", rows(2))
    url = cluster.url().replace(PASSWORD, PASSWORD + "-wrong") if how == "wrong password" else \
        f"postgresql://u:{PASSWORD}@127.0.0.1:1/db"
    run = run_vidbuild("build", str(project), env=heygen.env(VIDBUILD_STATE_URL=url))
    assert run.code == 3, run.stderr
    assert "cannot connect to the state database postgresql://" in run.stderr
    assert PASSWORD not in run.stdout + run.stderr
    assert heygen.submits() == []


@pytest.mark.parametrize("args", [["--state-url", "sqlite:///x.db"],
                                  ["--state-url", "postgresql://h/d", "--state-dir", "st"],
                                  ["--state-url", f"postgresql://u:{PASSWORD}@[::1/db"],
                                  ["--state-url", f"postgresql://u:{PASSWORD}@h/db?nonsense=1"]])
def test_a_bad_state_option_is_a_usage_error(tmp_path: Path, heygen: LoopbackHeyGen,
                                             args: list[str]) -> None:
    project = write_project(tmp_path / "campaign", rows(2))
    run = run_vidbuild("plan", str(project), *args, env=heygen.env())
    assert run.code == 2, run.stderr
    assert "Traceback" not in run.stderr and "--state-url" in run.stderr
    assert PASSWORD not in run.stderr
    assert heygen.submits() == []


def test_plan_status_and_clean_read_the_database(tmp_path: Path, url: str, heygen: LoopbackHeyGen) -> None:
    first, second = copies(tmp_path, 2)
    env = heygen.env(VIDBUILD_STATE_URL=url, **PACE)
    assert run_vidbuild("build", str(first), env=env).code == 0
    plan = run_vidbuild("plan", str(second), env=env)   # another checkout: nothing to pay for
    assert plan.code == 0, plan.stderr
    assert f"{ROWS} download" in plan.stdout and "submit" not in plan.stdout
    status = run_vidbuild("status", str(second), "--json", env=env)
    assert status.stdout.count('"status": "done"') == ROWS
    assert not (second / ".vidbuild").exists() or not any((second / ".vidbuild").glob("*/store"))
    assert PASSWORD not in table_text(url)
    r02_video = manifest(first)["r02"]["video_id"]
    adopted = run_vidbuild("adopt", "r01", r02_video, str(second), "--state-url", url, env=heygen.env())
    assert adopted.code == 2 and f"adopt: video {r02_video} is already the video of row r02" in adopted.stderr
    cleaned = run_vidbuild("clean", str(second), "--yes", env=env)
    assert cleaned.code == 0 and f"({ROWS} records)" in cleaned.stderr, cleaned.stderr
    assert PASSWORD not in cleaned.stderr
    replanned = run_vidbuild("plan", str(second), env=env)
    assert f"{ROWS} submit" in replanned.stdout


def test_clean_refuses_while_a_build_holds_the_namespace(tmp_path: Path, url: str) -> None:
    project = write_project(tmp_path / "campaign", rows(ROWS))
    # Renders of ~40 s (the build's polls at 0.005 of that): the build is still running when clean
    # starts, however loaded the machine.
    heygen = LoopbackHeyGen(tmp_path / "slow-heygen", speed=1.0)
    env = heygen.env(VIDBUILD_STATE_URL=url, **PACE)
    build = start_vidbuild("build", str(project), env=env)
    wait_for(lambda: len(heygen.submits()) >= 1, build)
    cleaned = run_vidbuild("clean", str(project), "--yes", env=env)
    build.kill()
    build.communicate(timeout=120)
    heygen.close()
    assert cleaned.code == 2 and "a vidbuild build is using the state of campaign/" in cleaned.stderr


# -- runners on separate disks ------------------------------------------------------------------

def test_three_runners_on_separate_disks_pay_once_for_each_body(tmp_path: Path, url: str,
                                                                heygen: LoopbackHeyGen) -> None:
    projects = copies(tmp_path, 3)
    env = heygen.env(VIDBUILD_STATE_URL=url, **PACE)
    builds = [start_vidbuild("build", "-j", "3", str(project), env=env) for project in projects]
    results = [process.communicate(timeout=180) for process in builds]

    assert [process.returncode for process in builds] == [0, 0, 0], results
    assert len(heygen.submits()) == ROWS
    heygen.assert_each_body_paid_once()
    for project in projects:
        heygen.assert_all_built(project, KEYS)   # every output byte for byte the served video
        assert run_vidbuild("build", "-q", str(project), env=env).code == 0


def test_a_runner_killed_9_mid_build_is_taken_over_by_another(tmp_path: Path, url: str,
                                                              heygen: LoopbackHeyGen) -> None:
    doomed, survivor = copies(tmp_path, 2)
    env = heygen.env(VIDBUILD_STATE_URL=url, **PACE)
    build = start_vidbuild("build", "-j", "4", str(doomed), env=env)
    wait_for(lambda: len(heygen.submits()) >= 3, build)
    os.kill(build.pid, signal.SIGKILL)
    build.communicate(timeout=30)

    run = run_vidbuild("build", str(survivor), env=env, timeout=180)
    assert run.code == 0, run.stderr
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(survivor, KEYS)


def test_a_database_restart_mid_build_stops_it_and_a_rerun_pays_nothing_twice(
        tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    with running_cluster() as own:   # its own server: the others' tests keep theirs
        url = own.new_database()
        project = write_project(tmp_path / "campaign", rows(ROWS))
        env = heygen.env(VIDBUILD_STATE_URL=url, **PACE)
        build = start_vidbuild("build", "-j", "4", str(project), env=env)
        wait_for(lambda: len(heygen.submits()) >= 3, build)
        own.stop()
        _, stderr = build.communicate(timeout=120)
        own.start()

        assert build.returncode == 3, stderr
        assert "state database" in stderr and "Traceback" not in stderr and PASSWORD not in stderr
        run = run_vidbuild("build", str(project), env=env, timeout=180)
        assert run.code == 0, run.stderr
        heygen.assert_each_body_paid_once()
        heygen.assert_all_built(project, KEYS)


def test_the_cluster_fixture_never_skips_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    import pg_cluster

    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(pg_cluster, "server_binaries", lambda: None)
    with pytest.raises(pytest.fail.Exception, match="PostgreSQL server binaries not found"):
        pg_cluster.require_binaries()
