"""A run's counts are defined once: adding an account's to a run's sums every counter."""

from __future__ import annotations

from dataclasses import replace

from app.counters import COUNTERS, Counters
from app.statuses import RunStatus
from app.sync.engine import AccountResult
from app.sync.runner import RunSummary


def test_adding_sums_every_counter_and_nothing_else() -> None:
    summary = RunSummary(run_id=1, status=RunStatus.RUNNING, accounts_ok=2, messages_added=1)
    account = AccountResult(account_id=7, email="a@example.com", duration_ms=900)
    for number, name in enumerate(COUNTERS, start=1):
        setattr(account, name, number * 10)
    before = replace(summary)
    summary += account
    assert summary.counts() == {name: getattr(before, name) + number * 10 for number, name in enumerate(COUNTERS, 1)}
    assert (summary.run_id, summary.accounts_ok, summary.duration_ms) == (1, 2, 0)  # not counters: untouched


def test_an_account_row_and_a_log_line_carry_every_counter() -> None:
    account = AccountResult(account_id=7, email="a@example.com", quota_units=40, retries=2)
    assert set(COUNTERS) <= set(account.record())
    assert Counters(quota_units=40, retries=2).counts() == account.counts()
