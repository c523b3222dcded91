"""The dev stack's cron calls when the inbox says the next sync is: on each slot's boundary."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.config import Settings
from app.sync.sweep import next_slot
from sandbox.dev_cron import check_interval, run_cron, seconds_to_next_slot
from sandbox.local import LocalStack
from tests.fakes import FakeClock

TEN_37 = datetime(2026, 11, 26, 10, 37, 12, tzinfo=UTC).timestamp()


def calls_until(clock: FakeClock, interval_s: float, calls: int) -> list[datetime]:
    """When the local cron calls, its first `calls` times, on a clock that moves only when it waits."""
    called: list[datetime] = []

    def wait(seconds: float) -> bool:
        clock.sleep(seconds)
        return len(called) >= calls

    run_cron(lambda: called.append(datetime.fromtimestamp(clock(), UTC)), interval_s, clock, wait)
    return called


def test_hourly_calls_come_at_the_top_of_each_hour_after_the_first() -> None:
    called = calls_until(FakeClock(TEN_37), 3600, 3)
    assert [moment.strftime("%H:%M:%S") for moment in called] == ["10:37:12", "11:00:00", "12:00:00"]


def test_a_minute_interval_calls_on_each_minute_boundary() -> None:
    called = calls_until(FakeClock(TEN_37), 60, 3)
    assert [moment.strftime("%H:%M:%S") for moment in called] == ["10:37:12", "10:38:00", "10:39:00"]


@pytest.mark.parametrize("interval_s", [60, 300, 900, 3600])
def test_the_wait_ends_where_the_inbox_says_the_next_sync_is(interval_s: float) -> None:
    now = datetime.fromtimestamp(TEN_37, UTC)
    promised = next_slot(now, interval_s / 60)
    assert datetime.fromtimestamp(TEN_37 + seconds_to_next_slot(TEN_37, interval_s), UTC) == promised


@pytest.mark.parametrize("interval_s", [0, 7, 7200, 100000])
def test_an_interval_that_does_not_divide_the_hour_is_refused(interval_s: float) -> None:
    with pytest.raises(ValueError, match="does not divide an hour"):
        check_interval(interval_s)


@pytest.mark.parametrize("interval_s", [60, 3600])
def test_the_app_is_told_the_local_crons_interval(interval_s: float, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = LocalStack(Path("unused"), cron_interval_s=interval_s)
    for variable, value in stack.cron_environment().items():
        monkeypatch.setenv(variable, value)
    assert Settings().cron_interval_minutes * 60 == interval_s
