"""Runs as processes meet them: killed mid-way, overlapping, out of time, left for dead."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest

from app.config import Settings
from app.db.connection import Database
from app.sync.runner import RunSummary
from sandbox.gmail import environment_for
from tests.conftest import Sandbox
from tests.integration.sync_helpers import add_account, assert_exact_copy, first_sync_calls, query, sync, until

ALICE = "alice@example.com"


def jessie_env(settings: Settings) -> dict[str, str]:
    """The environment a deployed `jessie` would get, pointed at this test's sandbox and database."""
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url.get_secret_value(),  # type: ignore[union-attr]
        "JESSIE_DATA_DIR": str(settings.data_dir),
        **environment_for(settings.gmail_api_endpoint),
        "JESSIE_ENCRYPTION_KEY": settings.require("jessie_encryption_key"),
        "JESSIE_QUOTA_UNITS_PER_SECOND": str(settings.quota_units_per_second),
        "VERCEL_ENV": "development",
    }


def start_sync(settings: Settings, *extra: str, lease_s: float | None = None) -> subprocess.Popen[str]:
    env = jessie_env(settings) | ({"JESSIE_LEASE_SECONDS": str(lease_s)} if lease_s else {})
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "sync", "--json", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def an_hour_passes(pool: Database) -> None:
    """What the next hourly cron finds: the dead run's deadline and leases long expired."""
    with pool.connection() as conn:
        conn.execute(
            "update jessie.accounts set lease_expires_at = now() - interval '1 hour' where lease_run_id is not null"
        )
        conn.execute(
            """update jessie.sync_runs set deadline_at = now() - interval '1 hour',
                   heartbeat_at = now() - interval '1 hour' where status = 'running'"""
        )


def kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    for stream in (process.stdout, process.stderr):  # what it wrote is of no use once it is killed
        if stream is not None:
            stream.close()


def _stall_at(sandbox: Sandbox, request: int) -> None:
    sandbox.admin("PUT", "/faults", stall_after_requests=request)


@pytest.mark.parametrize("request_number", [1, 2, 60, 180])
def test_killed_during_the_first_sync_loses_and_duplicates_nothing(
    sandbox: Sandbox, settings: Settings, pool: Database, request_number: int
) -> None:
    """Killed while the profile (1), the first page (2), or a batch (60, 180) is in flight."""
    add_account(sandbox, pool, settings, ALICE, messages=700, seed=11)
    _stall_at(sandbox, request_number)
    process = start_sync(settings)
    assert sandbox.server.stalled.wait(timeout=60), "the sync never reached the stall point"
    kill(process)
    sandbox.admin("PUT", "/faults")
    stored_before = query(pool, "select count(*) from jessie.messages")[0][0]
    assert stored_before == max(0, (request_number - 3) // 50 * 50)  # whole batches only
    an_hour_passes(pool)
    summary = sync(settings, pool)
    assert summary.status == "ok"
    assert_exact_copy(pool, sandbox, ALICE)
    assert query(pool, "select count(*) from jessie.messages")[0][0] == 700
    assert query(pool, "select status from jessie.sync_runs where id < %s", summary.run_id) == [("abandoned",)]
    # What the killed run committed is not fetched again.
    assert sandbox.stats(ALICE)["methods"]["gmail.users.messages.get"] <= 700 + 50


def test_killed_while_fetching_new_mail_from_history(sandbox: Sandbox, settings: Settings, pool: Database) -> None:
    add_account(sandbox, pool, settings, ALICE, messages=50, seed=12)
    sync(settings, pool)
    sandbox.admin("POST", f"/accounts/{ALICE}/messages", count=120)
    sandbox.admin("DELETE", "/stats")
    _stall_at(sandbox, 60)  # history.list is call 1; the second batch of new mail is held
    process = start_sync(settings)
    assert sandbox.server.stalled.wait(timeout=60)
    kill(process)
    sandbox.admin("PUT", "/faults")
    an_hour_passes(pool)
    assert sync(settings, pool).status == "ok"
    assert_exact_copy(pool, sandbox, ALICE)
    assert query(pool, "select count(*) from jessie.messages")[0][0] == 170


def test_killed_inside_a_database_transaction(sandbox: Sandbox, settings: Settings, pool: Database) -> None:
    """The batch's upsert is blocked by a lock, the process dies holding its transaction."""
    add_account(sandbox, pool, settings, ALICE, messages=200, seed=13)
    url = settings.database_url.get_secret_value()  # type: ignore[union-attr]
    with psycopg.connect(url) as blocker:
        blocker.execute("lock table jessie.messages in exclusive mode")
        process = start_sync(settings)
        until(lambda: _waiting_on_lock(url), "the sync to block on the lock", timeout_s=60)
        kill(process)
        blocker.rollback()
    an_hour_passes(pool)
    assert sync(settings, pool).status == "ok"
    assert_exact_copy(pool, sandbox, ALICE)
    assert query(pool, "select count(*) from jessie.messages")[0][0] == 200


def _waiting_on_lock(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and query ilike '%jessie.messages%'"
        ).fetchone()
        return bool(row and row[0])


@pytest.mark.parametrize("runs", [2, 10])
def test_overlapping_runs_split_the_accounts(sandbox: Sandbox, settings: Settings, pool: Database, runs: int) -> None:
    emails = [f"user{i}@example.com" for i in range(12)]
    for index, email in enumerate(emails):
        add_account(sandbox, pool, settings, email, messages=40, seed=index)
    _stall_at(sandbox, 1)  # every run starts and claims before any Gmail call answers
    started = threading.Semaphore(0)
    results = []
    each = settings.model_copy(update={"sync_concurrency": 2})

    def one_run() -> None:
        results.append(sync(each, None, on_started=lambda _run_id: started.release()))  # type: ignore[arg-type]

    threads = [threading.Thread(target=one_run) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for _ in range(runs):
        assert started.acquire(timeout=60)
    sandbox.admin("PUT", "/faults")
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == runs
    # A run that ends while another still holds accounts it owed a sync says so: 'partial'.
    assert all(result.status == "ok" or (result.status, bool(result.accounts_busy)) == ("partial", True)
               for result in results)  # fmt: skip
    per_account = query(pool, "select account_id, count(*) from jessie.sync_run_accounts group by account_id")
    assert sorted(count for _, count in per_account) == [1] * len(emails)  # each synced by exactly one run
    assert sum(result.accounts_ok for result in results) == len(emails)
    for email in emails:
        assert_exact_copy(pool, sandbox, email)
    assert query(pool, "select count(*) from jessie.messages")[0][0] == 40 * len(emails)


def test_a_spent_budget_stops_cleanly_and_the_next_run_resumes(
    sandbox: Sandbox, settings: Settings, pool: Database
) -> None:
    """The budget runs out while the third batch is held by the sandbox (no race with the
    machine's speed): that batch still commits, and nothing after it starts."""
    add_account(sandbox, pool, settings, ALICE, messages=700, seed=14)
    _stall_at(sandbox, 110)  # 1 profile, 2 list, 3-4 size census, 5-54 and 55-104 two batches
    outcome: list[RunSummary] = []
    running = threading.Thread(target=lambda: outcome.append(sync(settings, pool, budget=2)))
    running.start()
    assert sandbox.server.stalled.wait(timeout=60)
    until(lambda: query(pool, "select deadline_at < now() from jessie.sync_runs")[0][0], "the budget to end")
    sandbox.admin("PUT", "/faults")
    running.join(timeout=60)
    first = outcome[0]
    assert (first.status, first.accounts_incomplete) == ("partial", 1)
    assert query(pool, "select count(*) from jessie.messages")[0][0] == 150
    error = query(pool, "select status, error from jessie.sync_run_accounts where run_id = %s", first.run_id)[0]
    assert error[0] == "incomplete" and "resumes next run" in error[1]
    second = sync(settings, pool)
    assert second.status == "ok"
    assert second.messages_added == 700 - 150
    assert_exact_copy(pool, sandbox, ALICE)
    methods = sandbox.stats(ALICE)["methods"]  # nothing fetched twice: the plan of one uninterrupted sync
    gets = (methods["gmail.users.messages.get"], methods.get("gmail.users.threads.get", 0))
    assert gets == first_sync_calls(sandbox.truth(ALICE))


def test_runs_left_running_by_a_dead_process_are_abandoned(
    sandbox: Sandbox, settings: Settings, pool: Database
) -> None:
    with pool.connection() as conn:  # one run whose heartbeat stopped a minute ago, one beating
        conn.execute(
            """insert into jessie.sync_runs (trigger, deadline_at, heartbeat_at)
               values ('cron', now() + interval '1 hour', now() - interval '1 minute')"""
        )
        conn.execute("insert into jessie.sync_runs (trigger, deadline_at) values ('cron', now() + interval '1 hour')")
    summary = sync(settings, pool)
    statuses = query(pool, "select status from jessie.sync_runs where id <> %s order by id", summary.run_id)
    assert statuses == [("abandoned",), ("running",)]  # the second is still alive


def test_the_jessie_sync_command(sandbox: Sandbox, settings: Settings, pool: Database, tmp_path: Path) -> None:
    add_account(sandbox, pool, settings, ALICE, messages=30, seed=15)
    process = start_sync(settings)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert set(summary) == {
        "run_id",
        "status",
        "accounts_ok",
        "accounts_failed",
        "messages_added",
        "messages_updated",
        "messages_deleted",
        "quota_units",
        "http_requests",
        "duration_ms",
    }
    assert (summary["status"], summary["messages_added"], summary["accounts_ok"]) == ("ok", 30, 1)
    runs = subprocess.run(
        [sys.executable, "-m", "app.cli", "runs"], env=jessie_env(settings), capture_output=True, text=True, check=True
    )
    header, row = runs.stdout.splitlines()[:2]
    assert header.split()[:4] == ["kind", "id", "trigger", "status"]
    assert row.split()[:4] == ["run", str(summary["run_id"]), "cli", "ok"]


def test_a_dead_runs_accounts_are_free_within_its_short_lease_and_it_reports_what_it_stored(
    sandbox: Sandbox, settings: Settings, pool: Database
) -> None:
    add_account(sandbox, pool, settings, ALICE, messages=700, seed=11)
    _stall_at(sandbox, 180)  # three batches stored, the fourth held
    process = start_sync(settings, lease_s=2)
    assert sandbox.server.stalled.wait(timeout=60)
    kill(process)
    sandbox.admin("PUT", "/faults")
    # At once: the account is still held by the dead run, and the run says so.
    busy = sync(settings.model_copy(update={"lease_s": 2.0}), pool)
    assert (busy.status, busy.accounts_ok, busy.accounts_busy) == ("partial", 0, 1)
    # Within the lease (2 s here, 30 s by default) the account is free: nothing waits for a budget.
    until(lambda: query(pool, "select lease_expires_at < now() from jessie.accounts")[0][0], "the lease to lapse")
    summary = sync(settings.model_copy(update={"lease_s": 2.0}), pool)
    assert (summary.status, summary.accounts_busy) == ("ok", 0)
    assert_exact_copy(pool, sandbox, ALICE)
    dead = query(pool, "select status, messages_added from jessie.sync_runs order by id")[0]
    assert dead == ("abandoned", 150)  # the three committed batches, not 0
    assert query(pool, "select status from jessie.sync_run_accounts where run_id = 1") == [("interrupted",)]
    assert summary.messages_added == 700 - 150


def test_a_live_run_keeps_its_accounts_by_renewing_their_leases(
    sandbox: Sandbox, settings: Settings, pool: Database
) -> None:
    add_account(sandbox, pool, settings, ALICE, messages=200, seed=11)
    _stall_at(sandbox, 60)
    process = start_sync(settings, lease_s=1)
    try:
        assert sandbox.server.stalled.wait(timeout=60)
        first = query(pool, "select heartbeat_at from jessie.sync_runs")[0][0]
        until(lambda: query(pool, "select heartbeat_at from jessie.sync_runs")[0][0] > first, "a heartbeat")
        assert query(pool, "select lease_expires_at > now() from jessie.accounts") == [(True,)]
        other = sync(settings.model_copy(update={"lease_s": 1.0}), pool)
        assert (other.accounts_busy, other.accounts_ok) == (1, 0)  # still held: its run is alive
        assert query(pool, "select status from jessie.sync_runs where id = 1") == [("running",)]
    finally:
        sandbox.admin("PUT", "/faults")
        process.communicate(timeout=120)
    assert process.returncode == 0
    assert_exact_copy(pool, sandbox, ALICE)
