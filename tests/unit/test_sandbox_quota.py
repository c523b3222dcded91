"""The sandbox's quota enforcer: Google's per-minute windows per user and per project, on given clocks."""

from __future__ import annotations

import pytest

from sandbox.gmail.quota import MODELS, QuotaConfig, QuotaEnforcer

MINUTE = 60 * 29_000_000  # a wall-clock minute's start


def test_a_users_minute_is_a_wall_clock_minute_and_refills_at_the_next() -> None:
    quota = QuotaEnforcer(QuotaConfig(model="2026"))
    for second in range(30):
        assert quota.charge("a@x", 200, 0, MINUTE + second) is None  # 6,000 units over half a minute
    refusal = quota.charge("a@x", 20, 0, MINUTE + 45)
    assert refusal is not None and not refusal.per_project
    assert refusal.wait_s == pytest.approx(15)  # until the next minute starts, not a minute on
    assert quota.charge("b@x", 20, 0, MINUTE + 45) is None  # another user's minute is their own
    assert quota.charge("a@x", 20, 0, MINUTE + 60) is None


def test_a_refused_call_takes_nothing_from_the_minute() -> None:
    quota = QuotaEnforcer(QuotaConfig(model="legacy"))
    assert quota.charge("a@x", 14_990, 0, MINUTE) is None
    assert quota.charge("a@x", 20, 0, MINUTE + 1) is not None
    assert quota.charge("a@x", 10, 0, MINUTE + 2) is None  # the refused 20 left room for these 10


def test_the_projects_minute_is_shared_by_all_users() -> None:
    quota = QuotaEnforcer(QuotaConfig(model="2026"))
    users = [f"u{index}@x" for index in range(200)]
    for user in users:  # 200 users at their full minute: the project's 1,200,000
        assert quota.charge(user, 6_000, 0, MINUTE + 5) is None
    refusal = quota.charge("another@x", 20, 0, MINUTE + 10)
    assert refusal is not None and refusal.per_project
    assert refusal.wait_s == pytest.approx(50)


def test_a_per_second_rate_replaces_the_minute_and_zero_switches_limits_off() -> None:
    bucket = QuotaEnforcer(QuotaConfig(model="2026", units_per_second=100, burst_seconds=1))
    assert bucket.charge("a@x", 100, now=0, wall=MINUTE) is None
    refusal = bucket.charge("a@x", 50, now=0.25, wall=MINUTE)
    assert refusal is not None and refusal.wait_s == pytest.approx(0.25)
    off = QuotaEnforcer(QuotaConfig(model="2026", units_per_second=0))
    assert all(off.charge("a@x", 6_000, 0, MINUTE) is None for _ in range(100))


def test_each_model_has_its_own_costs_and_an_unknown_one_is_refused() -> None:
    quota = QuotaEnforcer(QuotaConfig(model="2026"))
    assert (quota.cost("gmail.users.messages.get"), quota.cost("gmail.users.threads.get")) == (20, 40)
    quota.configure(QuotaConfig(model="legacy"))
    assert (quota.cost("gmail.users.messages.get"), quota.cost("gmail.users.threads.get")) == (5, 10)
    assert MODELS["2026"].daily_threshold == 80_000_000
    with pytest.raises(ValueError, match="model must be one of"):
        QuotaConfig(model="2027")  # type: ignore[arg-type]
