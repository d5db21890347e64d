"""State's side of the edges: a write tells whether it landed; lost submissions outlive a retry's claim."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vidbuild.state.disk import DiskState
from vidbuild.state.protocol import Record

HASH = "b" * 64


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[DiskState, DiskState]]:
    first, second = DiskState(tmp_path / ".vidbuild", "ns"), DiskState(tmp_path / ".vidbuild", "ns")
    yield first, second
    first.close()
    second.close()


def claim(store: DiskState, *, force: bool = False) -> Record:
    outcome, record = store.claim(HASH, "r01", "video", title=None, output="out/r01.mp4", force=force)
    assert outcome == "claimed" and record is not None
    return record


def stored(store: DiskState) -> Record:
    record = store.get(HASH)
    assert record is not None
    return record


def test_a_superseded_write_is_refused_and_its_install_step_never_runs(
        stores: tuple[DiskState, DiskState]) -> None:
    first, second = stores
    mine = claim(first)
    mine.status = "submitted"
    assert first.record(mine)
    claim(second, force=True)                      # --force in another process
    installed: list[bool] = []
    mine.status = "downloaded"

    assert first.record(mine, install=lambda: installed.append(True)) is False
    assert installed == []
    assert (stored(first).status, stored(first).owner) == ("claimed", second.owner)


def test_a_current_write_runs_its_install_step_and_lands(stores: tuple[DiskState, DiskState]) -> None:
    first, _ = stores
    record = claim(first)
    installed: list[bool] = []
    record.status = "downloaded"

    assert first.record(record, install=lambda: installed.append(True)) is True
    assert installed == [True]
    assert stored(first).status == "downloaded"


def test_an_install_step_that_fails_writes_nothing(stores: tuple[DiskState, DiskState]) -> None:
    first, _ = stores
    record = claim(first)
    record.status = "downloaded"

    def broken() -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        first.record(record, install=broken)
    assert stored(first).status == "claimed"


def test_lost_submissions_outlive_a_retry_but_not_a_force(stores: tuple[DiskState, DiskState]) -> None:
    first, _ = stores
    record = claim(first)
    record.lost_at, record.status = [100.0, 160.0], "failed"
    assert first.record(record)

    retried = claim(first)
    assert retried.lost_at == [100.0, 160.0] and retried.claimed_at != record.claimed_at
    retried.status = "failed"
    assert first.record(retried)
    assert claim(first, force=True).lost_at == []
