"""The project's daily Gmail threshold: what a day has spent, and first syncs held past its share."""

from __future__ import annotations

from app.config import Settings
from app.db.connection import Database
from app.sync import daily_quota
from tests.conftest import Sandbox
from tests.integration.sync_helpers import add_account, query, sync

ALICE = "alice@example.com"
BOB = "bob@example.com"


def _finished_at(pool: Database, run_id: int, at: str) -> None:
    with pool.connection() as conn:
        conn.execute(f"update jessie.sync_run_accounts set finished_at = {at} where run_id = %s", [run_id])  # noqa: S608


def test_past_the_days_share_a_run_takes_incremental_syncs_and_holds_first_ones(
    sandbox: Sandbox, settings: Settings, pool: Database
) -> None:
    add_account(sandbox, pool, settings, ALICE, messages=30, seed=1)
    first = sync(settings, pool)
    assert (first.status, first.accounts_ok, first.accounts_held, first.quota_units > 0) == ("ok", 1, 0, True)
    bob = add_account(sandbox, pool, settings, BOB, messages=20, seed=2)
    # A budget of one unit: whatever the hour, the day's share is spent.
    tight = settings.model_copy(update={"gmail_daily_units": 1})
    held = sync(tight, pool)
    assert (held.status, held.accounts_ok, held.accounts_held) == ("ok", 1, 1)
    assert query(pool, "select sync_state, last_sync_finished_at from jessie.accounts where id = %s", bob) == [
        ("new", None)
    ]
    assert query(pool, "select accounts_held from jessie.sync_runs where id = %s", held.run_id) == [(1,)]
    assert query(pool, "select count(*) from jessie.sync_run_accounts where account_id = %s", bob) == [(0,)]
    # With no daily budget (0), the held account's first sync runs (and Alice's hourly one).
    unbounded = sync(settings.model_copy(update={"gmail_daily_units": 0}), pool)
    assert (unbounded.accounts_ok, unbounded.accounts_held, unbounded.messages_added) == (2, 0, 20)


def test_the_day_is_google_clouds_midnight_to_midnight_pacific(
    sandbox: Sandbox, settings: Settings, pool: Database
) -> None:
    add_account(sandbox, pool, settings, ALICE, messages=10, seed=1)
    yesterday, today = sync(settings, pool), sync(settings.model_copy(update={"gmail_daily_units": 0}), pool)
    midnight = "(date_trunc('day', now() at time zone 'America/Los_Angeles') at time zone 'America/Los_Angeles')"
    _finished_at(pool, yesterday.run_id, f"{midnight} - interval '1 second'")
    _finished_at(pool, today.run_id, midnight)
    with pool.connection() as conn:
        day = daily_quota.today(conn, settings.daily_units_budget)
    assert day.used == today.quota_units != yesterday.quota_units + today.quota_units
    assert 0 <= day.hours_elapsed < 25  # a day of a clock change has 23 or 25 hours
    assert day.budget == 80_000_000  # the 2026 model's threshold when JESSIE_GMAIL_DAILY_UNITS is unset
