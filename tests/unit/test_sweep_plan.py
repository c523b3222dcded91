"""How many invocations a sweep gets, and which slot a moment belongs to."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.config import Settings
from app.sync.sweep import invocations_for, next_slot, slot_of


def _settings(**overrides: object) -> Settings:
    return Settings(vercel_env="development", **overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("due", "overrides", "expected"),
    [
        (0, {}, 1),  # the cron's own invocation always runs
        (9_999, {}, 1),
        (10_001, {}, 2),
        (100_000, {}, 5),  # 60 connections / (8 workers + 2 + probe) = 5 seats
        (100_000, {"db_connection_budget": 200}, 8),  # then the ceiling
        (100_000, {"db_connection_budget": 200, "sweep_max_invocations": 50}, 10),  # then the project quota
        (100_000, {"db_connection_budget": 200, "sweep_max_invocations": 50, "quota_units_per_second": 0}, 10),
        (5, {"db_connection_budget": 2}, 1),
    ],
)
def test_invocations_follow_the_work_within_every_limit(due: int, overrides: dict[str, object], expected: int) -> None:
    assert invocations_for(due, _settings(**overrides)) == expected


@pytest.mark.parametrize(("model", "expected"), [("2026", 50), ("legacy", 20)])
def test_the_project_quota_caps_parallel_mailboxes(model: str, expected: int) -> None:
    # 1,200,000 units a minute is 20,000 a second: 200 mailboxes at the 2026 model's 100 units/s
    # each (6,000 a minute), 80 at the legacy 250 (15,000); four to an invocation.
    settings = _settings(
        db_connection_budget=10_000, sweep_max_invocations=100, sync_concurrency=4, gmail_quota_model=model
    )
    assert invocations_for(10**7, settings) == expected


def test_slots_are_the_cron_schedule() -> None:
    now = datetime(2026, 11, 28, 13, 47, 5, tzinfo=UTC)
    assert slot_of(now, 60) == datetime(2026, 11, 28, 13, 0, tzinfo=UTC)
    assert slot_of(now, 15) == datetime(2026, 11, 28, 13, 45, tzinfo=UTC)
    assert next_slot(now, 60) == datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
