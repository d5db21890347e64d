"""The pacer: one scout until the pace is known, then first polls just before each expected finish."""

from __future__ import annotations

import pytest

from vidbuild.heygen.backend import Timing
from vidbuild.run.pacing import EARLY, STEP, Pacer

TIMING = Timing(render_overhead=10.0, render_per_second=1.0, poll_min=1.0, poll_max=30.0)


def test_without_a_known_pace_one_scout_is_polled_often_and_the_others_wait() -> None:
    pacer = Pacer(TIMING)
    assert pacer.start("scout", 10.0, submitted_at=0.0, now=0.0) == TIMING.poll_min
    # Others wait for the prior's guess: 90% of 1 x (10 + 10) seconds.
    assert pacer.start("other", 10.0, submitted_at=0.0, now=0.0) == pytest.approx(EARLY * 20.0)
    assert pacer.unfinished("scout", now=1.0) == TIMING.poll_min
    assert pacer.unfinished("scout", now=40.0) == pytest.approx(10.0)   # 25% of its age
    assert pacer.waiting_first_poll() == ["other"]


def test_the_first_finish_sets_the_pace_and_asks_for_a_replan() -> None:
    pacer = Pacer(TIMING)
    pacer.start("scout", 10.0, submitted_at=0.0, now=0.0)
    pacer.start("other", 30.0, submitted_at=0.0, now=0.0)
    pacer.unfinished("scout", now=38.0)
    assert pacer.finished("scout", now=42.0) is True          # finished around t=40: twice the model
    assert pacer.ratio == pytest.approx(2.0)
    assert pacer.first_due("other") == pytest.approx(EARLY * 2.0 * 40.0)
    assert pacer.finished("unknown", now=50.0) is False


def test_a_learned_pace_moves_with_each_finish_and_is_never_a_scout() -> None:
    pacer = Pacer(TIMING, ratio=2.0)
    assert pacer.learned
    delay = pacer.start("a", 10.0, submitted_at=100.0, now=100.0)
    assert delay == pytest.approx(EARLY * 40.0)
    assert pacer.unfinished("a", now=136.0) == pytest.approx(STEP * 40.0)
    assert pacer.finished("a", now=138.0) is False             # done between 136 and 138: 37 s
    assert pacer.ratio == pytest.approx(0.5 * 2.0 + 0.5 * (37.0 / 20.0))


def test_a_video_found_done_at_its_first_poll_pulls_the_pace_down() -> None:
    pacer = Pacer(TIMING, ratio=2.0)
    pacer.start("a", 10.0, submitted_at=0.0, now=0.0)
    pacer.finished("a", now=36.0)                               # first poll, at 90%: already done
    assert pacer.ratio < 2.0


def test_a_video_sent_long_before_and_found_done_at_once_teaches_no_pace() -> None:
    # A build interrupted, resumed a day later: the video may have finished any time that day.
    pacer = Pacer(TIMING, ratio=2.0)
    pacer.start("resumed", 10.0, submitted_at=0.0, now=86_400.0, sent_here=False)
    assert pacer.finished("resumed", now=86_400.5) is False
    assert pacer.ratio == 2.0 and pacer.tracked == set()
    unknown = Pacer(TIMING)                                     # no pace yet: it was the scout ...
    unknown.start("resumed", 10.0, submitted_at=0.0, now=86_400.0, sent_here=False)
    assert unknown.finished("resumed", now=86_400.5) is False and not unknown.learned
    # ... and the next video started scouts.
    assert unknown.start("new", 10.0, submitted_at=86_401.0, now=86_401.0) == TIMING.poll_min


def test_a_video_sent_before_and_seen_rendering_teaches_its_pace() -> None:
    pacer = Pacer(TIMING, ratio=2.0)
    pacer.start("resumed", 10.0, submitted_at=0.0, now=30.0, sent_here=False)
    pacer.unfinished("resumed", now=30.0)                      # still rendering: its finish is seen
    pacer.finished("resumed", now=50.0)                        # ~40 s after it was sent: ratio 2
    assert pacer.ratio == pytest.approx(2.0)
    pacer.start("again", 10.0, submitted_at=0.0, now=60.0, sent_here=False)
    pacer.unfinished("again", now=60.0)
    pacer.finished("again", now=100.0)                         # ~80 s: the pace moves up
    assert pacer.ratio == pytest.approx(0.5 * 2.0 + 0.5 * 4.0)


def test_a_failed_render_teaches_no_pace_and_a_forgotten_scout_is_replaced() -> None:
    pacer = Pacer(TIMING)
    pacer.start("fails", 10.0, submitted_at=0.0, now=0.0)       # the scout
    pacer.unfinished("fails", now=1.0)
    assert pacer.finished("fails", now=2.0, completed=False) is False   # failed at once: no pace
    assert not pacer.learned
    assert pacer.start("next", 10.0, submitted_at=3.0, now=3.0) == TIMING.poll_min   # scouts now
    pacer.forget("next")                                        # given up on (its deadline passed)
    assert pacer.start("then", 10.0, submitted_at=4.0, now=4.0) == TIMING.poll_min


def test_polls_stay_between_the_apis_bounds() -> None:
    pacer = Pacer(TIMING, ratio=100.0)
    pacer.start("a", 100.0, submitted_at=0.0, now=0.0)
    assert all(pacer.unfinished("a", now=float(t)) <= TIMING.poll_max for t in range(5))


def test_a_video_polled_thousands_of_times_waits_poll_max_not_an_overflow() -> None:
    pacer = Pacer(TIMING, ratio=1e-6)       # a pace learned against a far faster server
    pacer.start("a", 10.0, submitted_at=0.0, now=0.0)
    delays = [pacer.unfinished("a", now=float(n)) for n in range(3000)]
    assert delays[-1] == TIMING.poll_max and max(delays) == TIMING.poll_max
