"""Before a build sends anything: the account's remaining credits compared with the plan, and
the caller's approval of the spending (a person at a terminal, for the CLI)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from vidbuild.planner.budget import account_credits, quota_shortfall
from vidbuild.planner.decide import Summary

if TYPE_CHECKING:
    from vidbuild.heygen.backend import Backend
    from vidbuild.run.outcome import Reporter

# Asked before a paying build sends: the plan's summary and a warning to show with the question
# (or None); False stops the build with nothing sent.
Approval = Callable[[Summary, "str | None"], bool]

EMULATED = "these are the built-in emulator's credits: nothing is paid"


def spending_approved(backend: Backend, summary: Summary, reporter: Reporter,
                      approve: Approval | None) -> bool:
    """Warn when the account can't pay for the plan, then ask ``approve`` (when given). The
    emulator is asked for as HeyGen would be (a rehearsal of the real build), saying that its
    credits are emulated; its account is not read."""
    if not summary.paying_bodies:
        return True
    warning = EMULATED if backend.emulated else _quota_warning(backend, summary, reporter)
    if approve is None:
        if warning and not backend.emulated:
            reporter.note(None, f"warning: {warning}")
        return True
    return approve(summary, warning)


def _quota_warning(backend: Backend, summary: Summary, reporter: Reporter) -> str | None:
    """quota_shortfall against the account's remaining credits; a note if they can't be read."""
    remaining, problem = account_credits(backend.client)
    if remaining is None:
        reporter.note(None, f"could not read the account's remaining credits ({problem}); not checked")
        return None
    return quota_shortfall(summary, remaining)
