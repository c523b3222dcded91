"""Time left in a run: the budget a serverless invocation has before it is killed.

Functions are killed at their max duration, so no wait (backoff, quota pacing, a place in
the memory budget) is taken if it would outlive the budget: the account stops cleanly with
its progress committed, and the next run resumes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.config import Settings

MIN_CALL_SECONDS = 1.0  # no Gmail call is started with less time than this left


def invocation_budget_s(settings: Settings) -> float:
    """What a run in this invocation may take: up to the deadline Vercel's runtime gives the
    invocation (`vercel.functions.get_deadline`, when the runtime provides one), less the margin
    the configured budget keeps; elsewhere the configured budget (`Settings.run_budget_s`)."""
    from vercel.functions import get_deadline

    deadline = get_deadline()
    if deadline is None:
        return settings.run_budget_s
    return max(0.0, (deadline - datetime.now(UTC)).total_seconds() - settings.cron_margin_s)


class BudgetExhausted(Exception):
    """Not enough time left for the next step; progress so far is committed."""


class Deadline:
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self) -> float:
        return self._end - self._clock()

    def ensure(self, seconds: float, what: str) -> None:
        """Raise BudgetExhausted unless `seconds` more fit in the budget."""
        if seconds > self.remaining():
            raise BudgetExhausted(f"{what} needs {seconds:.1f}s, {max(0.0, self.remaining()):.1f}s left")

    def sleep(self, seconds: float, what: str, sleep: Callable[[float], None] = time.sleep) -> None:
        self.ensure(seconds, what)
        if seconds > 0:
            sleep(seconds)
