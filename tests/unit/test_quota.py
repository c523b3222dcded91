"""Gmail quota: the two models' costs, the meter, and the pacers, on a fake clock."""

from __future__ import annotations

import math
from typing import cast

import pytest

from app.config import Settings
from app.db.connection import Connection
from app.deadline import BudgetExhausted, Deadline
from app.gmail.client import pacer_for
from app.gmail.quota import MODELS, MinutePacer, QuotaMeter, RatePacer, method_for, methods_in_batch
from app.sync import daily_quota
from tests.fakes import FakeClock

BATCH_OF_TWO_GETS = (
    "--b\nContent-Type: application/http\n\nGET /gmail/v1/users/me/messages/1?format=full&alt=json HTTP/1.1\n"
    "authorization: Bearer x\n\n\n--b\nContent-Type: application/http\n\n"
    "GET /gmail/v1/users/me/threads/2?format=full&alt=json HTTP/1.1\n\n\n--b--"
)


def test_paths_map_to_methods_and_units_under_each_model() -> None:
    assert method_for("/gmail/v1/users/me/history?startHistoryId=1") == "gmail.users.history.list"
    assert method_for("/gmail/v1/users/me/messages/abc/attachments/x") == "gmail.users.messages.attachments.get"
    assert methods_in_batch(BATCH_OF_TWO_GETS) == ["gmail.users.messages.get", "gmail.users.threads.get"]
    units = {}
    for name, model in MODELS.items():
        meter = QuotaMeter(model)
        meter.record(methods_in_batch(BATCH_OF_TWO_GETS))
        meter.record(["gmail.users.history.list"])
        units[name] = (meter.units, meter.requests, meter.http_requests)
    # 2026: a get 20, a thread 40, history 2; legacy: 5, 10, 2.
    assert units == {"2026": (62, 3, 2), "legacy": (17, 3, 2)}
    with pytest.raises(ValueError, match="not a Gmail API path"):
        method_for("/gmail/v1/users/me/drafts")


def test_the_models_limits_are_googles() -> None:
    new, legacy = MODELS["2026"], MODELS["legacy"]
    assert (new.per_user_per_minute, new.per_project_per_minute, new.daily_threshold) == (6_000, 1_200_000, 80_000_000)
    assert (legacy.per_user_per_minute, legacy.per_project_per_minute, legacy.daily_threshold) == (
        15_000,
        1_200_000,
        None,
    )
    assert new.costs["gmail.users.messages.list"] == legacy.costs["gmail.users.messages.list"] == 5


def test_the_minute_pacer_never_spends_more_than_a_wall_clock_minute_allows() -> None:
    clock = FakeClock()
    clock.now = 1_000_040.0  # 20 s into a minute
    pacer = MinutePacer(6_000, clock=clock, sleep=clock.sleep)
    deadline = Deadline(10_000, clock)
    spent: dict[int, int] = {}
    for _ in range(40):  # 40 batches of 50 gets at 20 units = 40,000 units
        pacer.acquire(1_000, deadline)
        minute = math.floor(clock.now / 60)
        spent[minute] = spent.get(minute, 0) + 1_000
    assert max(spent.values()) == 6_000  # each minute used to its last unit, never beyond
    assert len(spent) == 7  # 40,000 units take seven minutes, not more
    # Each wait ends just after a minute begins, never inside one.
    assert all((clock_at % 60) == pytest.approx(MinutePacer.EDGE_S) for clock_at in _wake_times(clock, 1_000_040.0))


def _wake_times(clock: FakeClock, start: float) -> list[float]:
    moments, now = [], start
    for waited in clock.slept:
        now += waited
        moments.append(now)
    return moments


def test_a_call_at_the_end_of_a_minute_counts_in_the_next_one_too() -> None:
    clock = FakeClock()
    clock.now = 60 * 100 + 59.8  # 0.2 s before the minute turns
    pacer = MinutePacer(6_000, clock=clock, sleep=clock.sleep)
    deadline = Deadline(1_000, clock)
    pacer.acquire(1_000, deadline)
    clock.now += 0.5  # now in the next minute
    for _ in range(5):
        pacer.acquire(1_000, deadline)
    assert clock.slept == []
    pacer.acquire(1_000, deadline)  # the sixth would be the seventh thousand if Google counted the first here
    assert clock.slept == [pytest.approx(60 - 0.3 + MinutePacer.EDGE_S)]


def test_small_calls_interleave_without_waiting_while_the_minute_has_room() -> None:
    clock = FakeClock()
    pacer = MinutePacer(6_000, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        pacer.acquire(2, Deadline(10, clock))
    assert clock.slept == []


def test_a_hold_stops_spending_until_gmails_time() -> None:
    clock = FakeClock()
    pacer = MinutePacer(6_000, clock=clock, sleep=clock.sleep)
    pacer.hold(7.5)
    pacer.acquire(20, Deadline(100, clock))
    assert clock.slept == [7.5]


def test_pacing_that_would_outlive_the_budget_is_refused() -> None:
    clock = FakeClock()
    pacer = MinutePacer(100, clock=clock, sleep=clock.sleep)
    pacer.acquire(100, Deadline(100, clock))
    with pytest.raises(BudgetExhausted):
        pacer.acquire(10, Deadline(30, clock))
    assert clock.slept == []


def test_the_rate_pacer_holds_a_per_second_rate() -> None:
    clock = FakeClock()
    pacer = RatePacer(250, clock=clock, sleep=clock.sleep)
    deadline = Deadline(1000, clock)
    sent = []
    for _ in range(40):  # 40 batches of 50 legacy gets = 10,000 units
        pacer.acquire(250, deadline)
        sent.append(clock.now)
    assert sent[0] == 0 and sent[-1] == pytest.approx(39)
    zero = RatePacer(0, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        zero.acquire(10_000, Deadline(1, clock))
    assert len(clock.slept) == 39  # the zero-rate pacer never waited


def test_the_setting_picks_the_pacer() -> None:
    assert isinstance(pacer_for(Settings()), MinutePacer)
    assert pacer_for(Settings()).limit == 6_000  # type: ignore[attr-defined]
    assert pacer_for(Settings(JESSIE_GMAIL_QUOTA_MODEL="legacy")).limit == 15_000  # type: ignore[attr-defined]
    assert isinstance(pacer_for(Settings(JESSIE_QUOTA_UNITS_PER_SECOND="0")), RatePacer)


@pytest.mark.parametrize(
    ("used", "hours", "holds"),
    [
        (0, 0.0, False),
        (3_333_332, 0.5, False),  # the first hour's share: 80,000,000 / 24
        (3_333_333, 0.5, True),
        (79_999_999, 23.9, False),
        (80_000_000, 23.9, True),
    ],
)
def test_each_hour_may_spend_its_share_one_hour_ahead(used: int, hours: float, holds: bool) -> None:
    assert daily_quota.DailyQuota(used, 80_000_000, hours).holds_full_syncs is holds
    assert daily_quota.DailyQuota(used, None, hours).holds_full_syncs is False


def test_a_run_reads_the_days_units_at_most_once_a_minute() -> None:
    class Counted:  # stands in for the connection: counts the reads of today's units
        reads = 0

        def execute(self, _sql: str) -> Counted:
            Counted.reads += 1
            return self

        def fetchone(self) -> tuple[int, float]:
            return (1_000 * Counted.reads, 5.0)

    now = [0.0]
    watch = daily_quota.DayWatch(80_000_000, clock=lambda: now[0])
    conn = cast("Connection", Counted())  # what DayWatch asks of a connection, counting the asks

    def used() -> int:
        reading = watch.now(conn)
        assert reading is not None
        return reading.used

    assert used() == 1_000
    now[0] = daily_quota.REFRESH_S - 1
    assert used() == 1_000
    now[0] = daily_quota.REFRESH_S
    assert used() == 2_000
    assert daily_quota.DayWatch(None).now(conn) is None
