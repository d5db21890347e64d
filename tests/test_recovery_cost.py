"""What recovering from the account costs (issue 13 item 1), counted in the emulator's request log.

The first build on a new state asks once per row by its title marker (``GET /v3/videos?title=``,
filtered by HeyGen: the cost doesn't grow with the account) and reads nothing more for a video
the list shows finished; later builds on that state ask nothing for rows state knows, nor for new
rows. A first build that did not take up every row (killed, stopped, or one shard) leaves the
state unsearched, so the next build still looks before paying.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from buildkit import LoopbackHeyGen, is_status_read, rows, run_vidbuild, write_project

from vidbuild.heygen import routes

ROWS = 6
KEYS = [row["id"] for row in rows(ROWS)]


def counted(heygen: LoopbackHeyGen, since: int) -> Counter[str]:
    """The requests since ``since`` by kind: lookup, status, download, submit, other."""
    kinds: Counter[str] = Counter()
    for request in heygen.requests()[since:]:
        if request.method == "POST":
            kinds["submit"] += 1
        elif request.path == routes.V3_VIDEOS_ROUTE or request.path == routes.LIST_ROUTE:
            kinds["lookup"] += 1
        elif is_status_read(request.path):
            kinds["status"] += 1
        elif request.path.startswith("/files/"):
            kinds["download"] += 1
        elif request.path == "/v3/users/me":
            continue   # the budget guard's one read of the credits left, per paying build: not recovery
        else:
            kinds[request.path] += 1
    return kinds


def test_a_fresh_runner_asks_once_per_row_then_nothing(tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    unrelated = write_project(tmp_path / "other" / "campaign", rows(ROWS * 2, line="another campaign"))
    first = write_project(tmp_path / "runner1" / "campaign", rows(ROWS))
    for project in (unrelated, first):   # the account holds three times the campaign's videos
        assert run_vidbuild("build", str(project), env=heygen.env()).code == 0
    fresh = write_project(tmp_path / "runner2" / "campaign", rows(ROWS))
    start = len(heygen.requests())

    run = run_vidbuild("build", str(fresh), env=heygen.env())

    assert run.code == 0, run.stderr
    assert counted(heygen, start) == {"lookup": ROWS, "download": ROWS}
    for request in heygen.requests()[start:]:
        if request.path == routes.V3_VIDEOS_ROUTE:
            assert request.query["title"].startswith("[vb:")   # filtered by HeyGen, not walked here
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(fresh, KEYS)

    again = len(heygen.requests())
    assert run_vidbuild("build", str(fresh), env=heygen.env()).code == 0
    assert counted(heygen, again) == {}
    write_project(fresh, rows(ROWS + 2))   # two new rows: sent without a lookup
    more = len(heygen.requests())
    assert run_vidbuild("build", str(fresh), env=heygen.env()).code == 0
    costs = counted(heygen, more)
    assert costs["submit"] == 2 and costs["lookup"] <= 1 and costs["download"] == 2, costs


def test_a_first_build_that_did_not_take_up_every_row_leaves_the_rest_to_look_up(
        tmp_path: Path, heygen: LoopbackHeyGen) -> None:
    first = write_project(tmp_path / "runner1" / "campaign", rows(ROWS))
    assert run_vidbuild("build", "--api", "legacy", str(first), env=heygen.env()).code == 0
    fresh = write_project(tmp_path / "runner2" / "campaign", rows(ROWS))
    # One shard (or a build killed half way) searches the account for some rows only.
    assert run_vidbuild("build", "--api", "legacy", "--shard", "1/2", str(fresh), env=heygen.env()).code == 0
    start = len(heygen.requests())

    run = run_vidbuild("build", "--api", "legacy", str(fresh), env=heygen.env())

    assert run.code == 0, run.stderr
    assert counted(heygen, start)["submit"] == 0, run.stderr
    assert len(heygen.submits()) == ROWS
    heygen.assert_each_body_paid_once()
    heygen.assert_all_built(fresh, KEYS)
