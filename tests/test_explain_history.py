"""Issue 15, item 6 finished: `vidbuild explain KEY` shows old -> new values with the data column or
template that produced them, and every state transition of the body with its time, on disk and on
PostgreSQL; export/import carries bodies and histories; a state made before them still opens."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from buildkit import API_KEY, LoopbackHeyGen, manifest, rows, run_vidbuild, write_project, write_rows
from pg_cluster import Cluster

from vidbuild.state.disk import DiskState
from vidbuild.state.history import HISTORY_LIMIT, History, Transition

FIELD = "video_inputs[0].voice.input_text"


@pytest.fixture
def heygen(tmp_path: Path) -> Iterator[LoopbackHeyGen]:
    server = LoopbackHeyGen(tmp_path / "heygen")
    yield server
    server.close()


def explain(project: Path, key: str, heygen: LoopbackHeyGen, *extra: str) -> dict[str, Any]:
    run = run_vidbuild("explain", key, str(project), "--json", *extra, env=heygen.env())
    assert run.code == 0, run.stderr
    report: dict[str, Any] = json.loads(run.stdout)
    return report


def steps(report: dict[str, Any]) -> list[str]:
    return [entry["step"] for entry in report["record"]["transitions"]]


def test_a_data_edit_shows_the_old_and_new_value_and_the_column(tmp_path: Path,
                                                                 heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "campaign", rows(2))
    assert run_vidbuild("build", str(project), env=heygen.env()).code == 0
    edited = rows(2)
    edited[1]["line"] = "good to see you"
    write_rows(project, edited)

    report = explain(project, "r02", heygen)

    assert report["changed"]["old_body"] == "kept"
    assert report["changed"]["fields"] == [
        {"field": FIELD, "old": "Hi Name2, welcome!", "new": "Hi Name2, good to see you",
         "from": "scenes[hello]", "columns": ["line"], "template": None,
         "row_values_in_it": ["name", "line"]}]
    text = run_vidbuild("explain", "r02", str(project), env=heygen.env()).stdout
    assert (f'  {FIELD}: "Hi Name2, welcome!" -> "Hi Name2, good to see you" '
            f'(from scenes[hello]; data column line)') in text


def test_a_template_edit_names_the_template(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "campaign", rows(1))
    assert run_vidbuild("build", str(project), env=heygen.env()).code == 0
    spec = project / "vidbuild.yaml"
    spec.write_text(spec.read_text().replace('text: "Hi {{', 'text: "Hello {{'), encoding="utf-8")

    report = explain(project, "r01", heygen)

    assert report["plan"]["action"] == "submit"
    change, = report["changed"]["fields"]
    assert (change["old"], change["new"]) == ("Hi Name1, welcome!", "Hello Name1, welcome!")
    assert (change["columns"], change["template"]) == ([], "scenes[hello] in vidbuild.yaml")
    text = run_vidbuild("explain", "r01", str(project), env=heygen.env()).stdout
    assert "(from scenes[hello]; template scenes[hello] in vidbuild.yaml)" in text


def assert_failed_then_built(report: dict[str, Any]) -> None:
    """The transitions of a body that failed to render once and was built by the next build."""
    seen = steps(report)
    failed = seen.index("failed")
    assert seen[:2] == ["claimed", "submitted"] and seen[-2:] == ["completed", "downloaded"]
    assert seen[failed + 1: failed + 3] == ["claimed", "submitted"]
    assert set(seen[2:failed]) <= {"pending", "processing"}
    entries = report["record"]["transitions"]
    assert entries[1]["detail"].startswith("video_id ")
    assert entries[failed + 2]["detail"] != entries[1]["detail"]   # the retry's own video
    assert "render" in entries[failed]["detail"].lower()
    assert entries[failed + 1]["detail"] == "attempt 2"
    assert entries[-1]["detail"] == f"out/r01.mp4 (sha256 {manifest_checksum(report)})"
    times = [entry["at"] for entry in entries]
    assert times == sorted(times) and all(at.endswith("Z") for at in times)
    assert report["record"]["history"] == "kept"


def manifest_checksum(report: dict[str, Any]) -> str:
    return str(report["_checksum"])


def build_with_a_failure_and_a_retry(project: Path, heygen: LoopbackHeyGen, *extra: str) -> dict[str, Any]:
    heygen.restart(faults={"render_fail": 1.0})
    assert run_vidbuild("build", str(project), *extra, env=heygen.env()).code == 1
    heygen.restart()
    again = run_vidbuild("build", str(project), *extra, env=heygen.env())
    assert again.code == 0, again.stderr
    report = explain(project, "r01", heygen, *extra)
    report["_checksum"] = manifest(project)["r01"]["checksum"]
    return report


def test_every_transition_in_order_after_a_failure_and_a_retry(tmp_path: Path,
                                                               heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "campaign", rows(1))
    report = build_with_a_failure_and_a_retry(project, heygen)
    assert_failed_then_built(report)
    text = run_vidbuild("explain", "r01", str(project), env=heygen.env()).stdout
    assert "  failed  " in text and "  downloaded  out/r01.mp4 (sha256 " in text


def test_the_same_on_postgresql(tmp_path: Path, heygen: LoopbackHeyGen, url: str) -> None:
    project = write_project(tmp_path / "campaign", rows(1))
    report = build_with_a_failure_and_a_retry(project, heygen, "--state-url", url)
    assert_failed_then_built(report)
    edited = rows(1)
    edited[0]["name"] = "Ada"
    write_rows(project, edited)
    changed = explain(project, "r01", heygen, "--state-url", url)["changed"]["fields"]
    found = {change["field"]: (change["old"], change["new"], change["columns"]) for change in changed}
    assert found == {"title": ("Hi Name1", "Hi Ada", ["name"]),
                     FIELD: ("Hi Name1, welcome!", "Hi Ada, welcome!", ["name"])}


def test_a_row_never_built_says_so(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "campaign", rows(1))
    report = explain(project, "r01", heygen)
    assert (report["built"], report["record"], "changed" in report) == (False, None, False)
    text = run_vidbuild("explain", "r01", str(project), env=heygen.env()).stdout
    assert "state:     never built: nothing recorded for this row" in text


def test_export_and_import_keep_bodies_and_histories(tmp_path: Path, heygen: LoopbackHeyGen,
                                                     cluster: Cluster) -> None:
    project = write_project(tmp_path / "campaign", rows(2))
    assert run_vidbuild("build", str(project), env=heygen.env()).code == 0
    before = explain(project, "r01", heygen)
    exported, url = tmp_path / "state.jsonl", cluster.new_database()
    env = heygen.env()
    for args in (("state", "export", str(project), "-o", str(exported)),
                 ("state", "import", str(exported), str(project), "--state-url", url)):
        run = run_vidbuild(*args, env=env)
        assert run.code == 0, run.stderr
    carried = {line["key"]: line for line in map(json.loads, exported.read_text().splitlines()[1:])}
    assert carried["r01"]["body"] == before["body"]

    after = explain(project, "r01", heygen, "--state-url", url)

    assert after["record"]["transitions"] == before["record"]["transitions"]
    assert after["record"]["history"] == "kept"
    again = tmp_path / "again.jsonl"
    exporting = ("state", "export", str(project), "--state-url", url, "-o", str(again))
    assert run_vidbuild(*exporting, env=env).code == 0
    assert sorted(again.read_text().splitlines()[1:]) == sorted(exported.read_text().splitlines()[1:])


def test_an_old_state_opens_and_explain_says_history_is_unavailable(tmp_path: Path,
                                                                    heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "campaign", rows(1))
    assert run_vidbuild("build", str(project), env=heygen.env()).code == 0
    forget_bodies_and_histories(project / ".vidbuild")   # as a vidbuild before them left it
    write_rows(project, [{"id": "r01", "name": "Name1", "line": "edited"}])

    report = explain(project, "r01", heygen)

    assert report["record"]["history"] == "unavailable"
    assert steps(report)[:4] == ["claimed", "submitted", "completed", "downloaded"]
    assert report["changed"]["old_body"] == "unavailable"
    assert report["changed"]["fields"][0]["old"] is None
    text = run_vidbuild("explain", "r01", str(project), env=heygen.env()).stdout
    assert "history unavailable (recorded before vidbuild kept one)" in text
    assert "its body was not kept (built before vidbuild kept bodies): no old values" in text
    assert run_vidbuild("build", str(project), env=heygen.env()).code == 0
    assert explain(project, "r01", heygen)["record"]["history"] == "kept"


def test_explain_takes_old_values_from_the_key_entry_when_the_store_lost_the_body(
        tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "campaign", rows(1))
    assert run_vidbuild("build", str(project), env=heygen.env()).code == 0
    forget_bodies_and_histories(project / ".vidbuild", key_entries_too=False)
    write_rows(project, [{"id": "r01", "name": "Name1", "line": "edited"}])

    report = explain(project, "r01", heygen)

    assert report["changed"]["old_body"] == "kept"
    assert [field["old"] is not None for field in report["changed"]["fields"]] == [True]


def forget_bodies_and_histories(state_root: Path, *, key_entries_too: bool = True) -> None:
    import diskcache

    store, = state_root.glob("*/store")
    with diskcache.Cache(str(store), disk=diskcache.JSONDisk, eviction_policy="none") as cache:
        names = [name for name in cache.iterkeys() if name.startswith(("body:", "log:"))]
        assert names
        for name in names:
            del cache[name]
    if not key_entries_too:
        return
    # Nor did it keep bodies with the key entries (it wrote digests only).
    rows, = state_root.glob("*/rows.sqlite")
    with sqlite3.connect(rows) as db:
        db.execute("UPDATE key_entries SET body = NULL")
    db.close()


def test_state_never_holds_the_api_key(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "campaign", rows(2))
    assert run_vidbuild("build", str(project), env=heygen.env()).code == 0
    exported = tmp_path / "state.jsonl"
    assert run_vidbuild("state", "export", str(project), "-o", str(exported), env=heygen.env()).code == 0
    text = exported.read_text()
    assert '"body"' in text and API_KEY not in text
    assert all(API_KEY.encode() not in path.read_bytes()
               for path in (project / ".vidbuild").rglob("*") if path.is_file())


def test_a_history_is_bounded_and_counts_what_it_dropped(tmp_path: Path) -> None:
    state = DiskState(tmp_path, "ns")
    try:
        for number in range(HISTORY_LIMIT + 5):
            state.note("a" * 64, Transition(float(number), "processing"))
        history = state.history("a" * 64)
    finally:
        state.close()
    assert (len(history.entries), history.dropped) == (HISTORY_LIMIT, 5)
    assert history.entries[0].at == 5.0
    assert History().merged(history).entries == history.entries


def test_a_schema_2_database_is_upgraded_and_its_rows_say_history_is_unavailable(
        tmp_path: Path, heygen: LoopbackHeyGen, url: str) -> None:
    import psycopg

    project = write_project(tmp_path / "campaign", rows(1))
    assert run_vidbuild("build", str(project), "--state-url", url, env=heygen.env()).code == 0
    with psycopg.connect(url, autocommit=True) as admin:   # as vidbuild's schema 2 left it
        admin.execute("DROP TABLE vidbuild_bodies; DROP TABLE vidbuild_history; "
                      "UPDATE vidbuild_schema SET version = 2")

    report = explain(project, "r01", heygen, "--state-url", url)

    assert (report["plan"]["action"], report["record"]["history"]) == ("up-to-date", "unavailable")
    with psycopg.connect(url, autocommit=True) as admin:
        assert admin.execute("SELECT version FROM vidbuild_schema").fetchone() == (3,)
    write_rows(project, [{"id": "r01", "name": "Name1", "line": "edited"}])
    assert run_vidbuild("build", str(project), "--state-url", url, env=heygen.env()).code == 0
    write_rows(project, [{"id": "r01", "name": "Name1", "line": "edited again"}])
    change, = explain(project, "r01", heygen, "--state-url", url)["changed"]["fields"]
    assert (change["old"], change["new"], change["columns"]) == ("Hi Name1, edited", "Hi Name1, edited again",
                                                                 ["line"])


def test_the_statuses_heygen_reports_while_rendering_are_noted_once_each(tmp_path: Path,
                                                                         heygen: LoopbackHeyGen) -> None:
    project = write_project(tmp_path / "campaign", rows(1))
    heygen.restart(speed=0.05)   # a render of about two seconds: polled several times
    assert run_vidbuild("build", str(project), env=heygen.env()).code == 0

    seen = steps(explain(project, "r01", heygen))

    assert seen[:2] == ["claimed", "submitted"] and seen[-2:] == ["completed", "downloaded"]
    rendering = seen[2:-2]
    assert rendering and set(rendering) <= {"pending", "processing"}
    assert all(first != second for first, second in itertools.pairwise(rendering))   # changes only
