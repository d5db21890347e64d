"""Plan stage, recovery's reach: whether a state has had the account searched for every row.

A new state knows nothing, so its first build looks for each row's video in the account before
paying (vidbuild/run/recover.py). Once a build has taken up every row of the project that way,
state knows what the account held for it, and a later row state doesn't know is new (sent without
a lookup) unless its output file exists. Until then (the first build was killed, stopped, or
built one ``--shard``), every row state doesn't know is still looked up first: taking the
cheap path after a partial first build would pay again for the rows it never reached.
"""

from __future__ import annotations

import time

from vidbuild.state.protocol import State

SEARCHED = "account_searched"   # state meta: {"at": Unix seconds the searching build started}


def account_searched(state: State) -> bool:
    """Whether a build on ``state`` took up every row, each unknown one looked up first."""
    return state.get_meta(SEARCHED) is not None


def mark_account_searched(state: State, started: float | None = None) -> None:
    """Record that the build that began at ``started`` (default now) took up every row."""
    state.set_meta(SEARCHED, {"at": started if started is not None else time.time()})
