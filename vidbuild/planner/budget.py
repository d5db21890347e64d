"""Plan stage, the spending guard: what a build may spend, checked before anything is sent.

Three checks, in the order a build meets them: a credit limit (``--max-credits`` or the project's
``max_credits:``) refuses a plan that would spend more; the account's remaining quota (HeyGen's
``GET /v2/user/remaining_quota``, seconds of video, 1 credit = 1 minute, see
/work/shared/heygen-api.md) warns when the build can't finish; and a person at a terminal is
asked before a paying build starts (``--yes`` skips the question; without a terminal nobody is
asked, as in CI, where ``max_credits`` is the guard).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from vidbuild.errors import SpendingRefused, UsageError
from vidbuild.planner.decide import Summary

if TYPE_CHECKING:
    from vidbuild.heygen.client import HeyGenClient


@dataclass(frozen=True)
class CreditLimit:
    """The most credits a build may spend, and where that number was written (for messages)."""

    credits: float
    source: str   # "--max-credits" or "vidbuild.yaml: max_credits"


def credit_limit(option: float | None, spec: Mapping[str, Any], project_file: str) -> CreditLimit | None:
    """``--max-credits`` when given, else the project's ``max_credits:``, else no limit.

    UsageError for a negative or non-finite option (the schema checks the project's value).
    """
    if option is not None:
        if not (math.isfinite(option) and option >= 0):
            raise UsageError(f"--max-credits must be a number of credits, 0 or more, got {option}")
        return CreditLimit(option, "--max-credits")
    value = spec.get("max_credits")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return CreditLimit(float(value), f"{project_file}: max_credits")
    return None


def plan_numbers(summary: Summary) -> str:
    """The plan's spending in one phrase: 'N videos to pay for (M rows: 2 submit, 1 retry), ~X credits'."""
    rows = ", ".join(f"{summary.counts[action]} {action}" for action in ("submit", "retry")
                     if summary.counts[action])
    bodies = summary.paying_bodies
    return (f"{bodies} video{'s' if bodies != 1 else ''} to pay for ({rows or 'no rows'}), "
            f"estimated {summary.estimated_credits} credits")


def check_limit(summary: Summary, limit: CreditLimit | None) -> None:
    """SpendingRefused (exit 2, nothing sent) when the plan's new spending exceeds the limit."""
    if limit is None or summary.estimated_credits <= limit.credits:
        return
    raise SpendingRefused(f"the plan exceeds the credit limit: {plan_numbers(summary)}, over "
                     f"{limit.source} {limit.credits:g}; nothing sent (raise the limit, or build "
                     f"fewer rows with --select)")


def quota_shortfall(summary: Summary, remaining_credits: float) -> str | None:
    """A warning when the account's remaining credits can't pay for the plan, else None."""
    if summary.estimated_credits <= remaining_credits:
        return None
    return (f"this build can't finish: {plan_numbers(summary)}, and the account has "
            f"{remaining_credits:.2f} credits left; it will stop when they run out (exit 3, "
            f"a rerun resumes)")


def account_credits(client: HeyGenClient) -> tuple[float | None, str]:
    """The account's remaining credits: v3's ``GET /v3/users/me`` (today's API), else the legacy
    ``GET /v2/user/remaining_quota`` (seconds of video / 60). (None, why) when neither says:
    a route retired or unknown here, or an account that counts in money. AuthError propagates.
    """
    from vidbuild.errors import ApiError, AuthError

    readers: tuple[Callable[[], float | None], ...] = (lambda: client.v3.me().remaining_credits,
                                                      lambda: client.remaining_quota().credits)
    problems = []
    for read in readers:
        try:
            credits = read()
        except AuthError:
            raise
        except ApiError as exc:
            problems.append(str(exc))
            continue
        if credits is not None:
            return credits, ""
        problems.append("the account counts in money, not credits")
    return None, "; ".join(problems)


def confirmed(summary: Summary, warning: str | None, stdin: TextIO, stderr: TextIO) -> bool:
    """Ask a person at a terminal whether to spend; True for yes. Never called without a terminal.
    The question starts on a cleared line (a live status line may be drawn there)."""
    stderr.write(f"\r\x1b[2Kthis build spends credits: {plan_numbers(summary)}\n"
                 f"estimate: {summary.assumptions}\n")
    if warning:
        stderr.write(f"warning: {warning}\n")
    stderr.write("send them? [y/N] ")
    stderr.flush()
    return stdin.readline().strip().lower() in ("y", "yes")

