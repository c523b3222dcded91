"""The dev stack's stand-in for Vercel Cron: a call at start, then one on each slot boundary.

The inbox promises "next sync around" `app.sync.sweep.next_slot` (the top of each hour by
default): the local cron keeps that promise by waiting for exactly that moment, on the same
interval the app is given (JESSIE_CRON_INTERVAL_MINUTES), not every interval from its start.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from app.sync.sweep import next_slot

SECONDS_PER_HOUR = 3600


def check_interval(seconds: float) -> float:
    """Slots are counted from the top of each UTC hour, so an interval must divide the hour."""
    if not 0 < seconds <= SECONDS_PER_HOUR or SECONDS_PER_HOUR % seconds:
        raise ValueError(f"{seconds:g} s does not divide an hour (e.g. 60, 300, 900, 3600)")
    return seconds


def seconds_to_next_slot(now: float, interval_s: float) -> float:
    """From `now` (epoch seconds) to the start of the next slot."""
    moment = datetime.fromtimestamp(now, UTC)
    return (next_slot(moment, interval_s / 60) - moment).total_seconds()


def run_cron(
    call: Callable[[], None], interval_s: float, clock: Callable[[], float], wait: Callable[[float], bool]
) -> None:
    """`call` now, then at each slot boundary until `wait` (sleeping that long) says stop."""
    call()
    while not wait(seconds_to_next_slot(clock(), interval_s)):
        call()
