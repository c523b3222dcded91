"""The project's daily Gmail threshold, and first syncs spread so sign-ups cannot pass it.

Under the 2026 model a Google Cloud project has a daily threshold (80,000,000 units; beyond
it Google announces billing, it does not refuse). Hourly incremental syncs cost little; a
first sync of a large mailbox costs 20 units a message, so a burst of sign-ups could spend
the day's units in an hour. The day is Google Cloud's: midnight to midnight Pacific time. By
each hour of it a run may have spent its share of the budget, one hour ahead: `(h + 1) / 24`
of it. Past that share a run takes no first (or full) syncs, only incremental ones; the
accounts held back wait for a later run, and the run records how many it held.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.db.connection import Connection

HOURS = 24
REFRESH_S = 60.0  # a run reads the day's units at most this often (a large fleet's day has millions of rows)


@dataclass(frozen=True)
class DailyQuota:
    used: int  # units spent today by finished account syncs
    budget: int | None  # None: no daily budget (the legacy model names none)
    hours_elapsed: float  # of today's Pacific day

    @property
    def allowance(self) -> int | None:
        """What may have been spent by now: the budget's share of the day, one hour ahead."""
        if self.budget is None:
            return None
        return round(self.budget * min(1.0, (int(self.hours_elapsed) + 1) / HOURS))

    @property
    def holds_full_syncs(self) -> bool:
        allowance = self.allowance
        return allowance is not None and self.used >= allowance


def today(conn: Connection, budget: int | None) -> DailyQuota:
    row = conn.execute(
        """with day as (
               select (date_trunc('day', now() at time zone 'America/Los_Angeles')
                       at time zone 'America/Los_Angeles') as began)
           select coalesce((select sum(quota_units) from jessie.sync_run_accounts
                            where finished_at >= day.began), 0)::bigint,
                  extract(epoch from now() - day.began)::float / 3600
           from day"""
    ).fetchone()
    assert row is not None
    return DailyQuota(int(row[0]), budget, float(row[1]))


class DayWatch:
    """A run's view of today's units, read again at most every REFRESH_S (claims are many)."""

    def __init__(self, budget: int | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = budget
        self._clock = clock
        self._lock = threading.Lock()
        self._day: DailyQuota | None = None
        self._read_at = 0.0
        self.held_by: DailyQuota | None = None  # the last reading that held first syncs back

    def now(self, conn: Connection) -> DailyQuota | None:
        """Today's quota, or None when there is no daily budget (nothing to read)."""
        if self.budget is None:
            return None
        with self._lock:
            if self._day is None or self._clock() - self._read_at >= REFRESH_S:
                self._day, self._read_at = today(conn, self.budget), self._clock()
            return self._day

    def holds_full_syncs(self, conn: Connection) -> bool:
        """Whether a claim now must pass over first and full syncs (and remember why)."""
        day = self.now(conn)
        if day is None or not day.holds_full_syncs:
            return False
        self.held_by = day
        return True
