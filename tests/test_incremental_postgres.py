"""Known rows (issue 14) in the PostgreSQL state: a page of keys per query, forgotten with their
hash's claim or when its record leaves 'downloaded', and a version-1 database upgraded in place.
A real server on loopback, started by the suite (see pg_cluster.py)."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
from buildkit import LoopbackHeyGen, rows, run_vidbuild, write_project, write_rows

from vidbuild.state.known_rows import KnownRow
from vidbuild.state.postgres import SCHEMA_VERSION, PostgresState
from vidbuild.state.protocol import Record


def known(key: str, content_hash: str) -> KnownRow:
    return KnownRow(key=key, fingerprint=f"fp-{key}", hash=content_hash, output=f"out/{key}.mp4",
                    generation="v3", route_reason="", size=10, mtime_ns=1, video_id=f"v-{key}")


def test_known_rows_round_trip_and_are_forgotten_with_their_hash(url: str) -> None:
    state = PostgresState(url, "campaign/ns")
    other = PostgresState(url, "campaign/other-api")
    try:
        state.remember_rows([known("a", "h1"), known("b", "h1"), known("c", "h2")])
        other.remember_rows([known("a", "h1")])
        assert state.known_rows(["fp-a", "fp-b", "fp-c", "fp-missing"]) == {
            "fp-a": known("a", "h1"), "fp-b": known("b", "h1"), "fp-c": known("c", "h2")}
        state.claim("h1", "a", "video", title=None, output="out/a.mp4")
        assert set(state.known_rows(["fp-a", "fp-b", "fp-c"])) == {"fp-c"}   # both rows of h1 went
        assert set(other.known_rows(["fp-a"])) == {"fp-a"}                  # another namespace's stay
        state.record(Record(hash="h2", key="c", kind="video", status="failed", owner=state.owner,
                            claimed_at=time.time()))
        assert state.known_rows(["fp-c"]) == {}
        state.remember_rows([known("c", "h2")])
        state.forget_rows(["c"])
        assert state.known_rows(["fp-c"]) == {}
    finally:
        state.close()
        other.close()


def test_a_version_1_database_gets_the_known_rows_table(url: str) -> None:
    PostgresState(url, "campaign/ns").close()
    with psycopg.connect(url, autocommit=True) as admin:   # as vidbuild before issue 14 left it
        admin.execute("DROP TABLE vidbuild_rows")
        admin.execute("UPDATE vidbuild_schema SET version = 1")
    state = PostgresState(url, "campaign/ns")
    try:
        state.remember_rows([known("a", "h1")])
        assert set(state.known_rows(["fp-a"])) == {"fp-a"}
    finally:
        state.close()
    with psycopg.connect(url) as admin:
        assert admin.execute("SELECT version FROM vidbuild_schema").fetchall() == [(SCHEMA_VERSION,)]


def test_one_edited_row_sends_one_video_through_the_database(tmp_path: Path, url: str) -> None:
    heygen = LoopbackHeyGen(tmp_path / "heygen", speed=0.005)
    try:
        project = write_project(tmp_path / "campaign", rows(6))
        env = {**heygen.env(), "VIDBUILD_TIMING_SCALE": "0.005"}
        assert run_vidbuild("build", str(project), "--state-url", url, env=env).code == 0
        edited = rows(6)
        edited[3]["line"] = "edited"
        write_rows(project, edited)
        assert run_vidbuild("build", str(project), "--state-url", url, env=env).code == 0
        sent = len(heygen.submits())
        edited[4]["line"] = "edited too"
        write_rows(project, edited)
        run = run_vidbuild("build", str(project), "--state-url", url, env=env)
        assert run.code == 0, run.stderr
        assert len(heygen.submits()) == sent + 1
        with psycopg.connect(url) as admin:
            assert admin.execute("SELECT count(*) FROM vidbuild_rows").fetchone() == (6,)
    finally:
        heygen.close()
