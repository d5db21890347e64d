"""The planner looks state up a page of rows at a time (issue 13 item 3): one ``get_many`` per
``ROWS_AT_ONCE`` rows and one ``for_keys`` for the new ones among them, never a lookup per row,
with the same decisions as the row-by-row ``decide``."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from buildkit import rows, write_project

from vidbuild.planner.decide import ROWS_AT_ONCE, decide, plan_steps
from vidbuild.planner.fields import field_digests
from vidbuild.spec.expand import expand_project
from vidbuild.spec.project import load_project
from vidbuild.state.disk import DiskState
from vidbuild.state.protocol import KeyEntry, Record, with_records

ROWS = 150


class CountingState:
    """A DiskState that counts the lookups made through it."""

    def __init__(self, inner: DiskState) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        self.calls[name] += 1
        return getattr(self.inner, name)


def test_plan_steps_looks_rows_up_a_page_at_a_time(tmp_path: Path) -> None:
    project = write_project(tmp_path / "campaign", rows(ROWS))
    jobs = list(expand_project(load_project(project)))
    store = DiskState(project / ".vidbuild", "ns")
    for job in jobs[::3]:   # a third submitted, a third changed since, a third new
        store.record(Record(hash=job.hash, key=job.key, kind=job.kind, status="submitted",
                            owner=store.owner, output=job.output, video_id="v", claimed_at=time.time()))
    for job in jobs[1::3]:
        store.remember_key(job.key, KeyEntry("an-older-body", {**field_digests(job.body), "title": "x"}))
    counting = CountingState(store)

    steps = list(plan_steps(jobs, counting, project))   # type: ignore[arg-type]

    pages = math.ceil(ROWS / ROWS_AT_ONCE)
    assert counting.calls["get_many"] == pages and counting.calls["for_keys"] == pages
    assert counting.calls["get"] == 0 and counting.calls["for_key"] == 0
    one_by_one = [decide(job, store, project) for job in jobs]
    assert [(s.action, s.reason) for s in steps] == [(s.action, s.reason) for s in one_by_one]
    assert Counter(s.action for s in steps) == {"poll": 50, "submit": 100}
    assert sum(s.reason == "changed: title" for s in steps) == 50
    store.close()


def test_with_records_pairs_rows_with_their_records_in_pages(tmp_path: Path) -> None:
    store = DiskState(tmp_path / ".vidbuild", "ns")
    store.record(Record(hash="b", key="k", kind="video", status="claimed", owner=store.owner, output="o"))

    class Row:
        def __init__(self, content_hash: str) -> None:
            self.hash = content_hash

    wanted: Sequence[Row] = [Row(h) for h in ("a", "b", "c") * 400]
    paired = list(with_records(store, wanted))
    assert [row.hash for row, _ in paired] == [row.hash for row in wanted]
    assert [record.hash if record else None for _, record in paired] == [None, "b", None] * 400
    store.close()
