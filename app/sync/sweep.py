"""The hourly sweep: one cron slot's sync, spread over parallel invocations of the deployed
function, with Postgres as the work queue.

The cron begins the slot's sweep and plans its invocations from the due accounts and the limits;
the further ones are seats published to Vercel Queues (app/sync/fanout.py), each delivered to the
consumer function as one more invocation (app/sync/seat_consumer.py). What makes it safe is the
lease queue in Postgres, not the deliveries:
- every invocation, the cron's own included, claims due accounts under leases (`runs.claim_next`)
  until none are left or its budget ends, so any number of invocations split the work and none
  is needed for correctness;
- a cron delivered twice finds its slot's sweep already begun and joins it; its seats carry the
  same idempotency keys, which the queue keeps once;
- a seat that is lost leaves its share to the others, or to the next sweep (oldest synced first);
- an invocation killed at maxDuration stops renewing its leases: its accounts are free again
  within JESSIE_LEASE_SECONDS for the others, and the next run marks its run abandoned.
The limits hold at the start of each run: `runs.create_run` counts the live runs' connections
under a lock and refuses a seat beyond JESSIE_DB_CONNECTION_BUDGET.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.config import Settings
from app.db.connection import Connection

SECONDS_PER_MINUTE = 60


@dataclass(frozen=True)
class Sweep:
    id: int
    slot: datetime
    begun: bool  # this delivery began it (False: a repeated delivery that joins)
    due_accounts: int
    invocations_planned: int


def slot_of(now: datetime, interval_minutes: float) -> datetime:
    """The schedule slot `now` belongs to: the cron fires on the hour, then every interval."""
    interval = timedelta(minutes=interval_minutes)
    hour = now.replace(minute=0, second=0, microsecond=0)
    return hour + interval * int((now - hour) / interval)


def next_slot(now: datetime, interval_minutes: float) -> datetime:
    """When the scheduled sync runs next."""
    return slot_of(now, interval_minutes) + timedelta(minutes=interval_minutes)


def invocations_for(due_accounts: int, settings: Settings) -> int:
    """How many invocations a sweep of `due_accounts` gets: enough for its accounts, never more
    than the ceiling, the connection budget or Gmail's per-project quota allow."""
    wanted = math.ceil(due_accounts / settings.sweep_accounts_per_invocation) if due_accounts else 1
    caps = [settings.sweep_max_invocations, settings.max_live_runs]
    if settings.account_units_per_second:  # each worker paces one mailbox at the per-user rate
        per_invocation_units_s = settings.sync_concurrency * settings.account_units_per_second
        caps.append(int(settings.gmail_project_units_per_minute / SECONDS_PER_MINUTE // per_invocation_units_s))
    return max(1, min(wanted, *caps))


def due_accounts(conn: Connection) -> int:
    row = conn.execute(
        """select count(*) from jessie.accounts where status = 'active'
           and (lease_expires_at is null or lease_expires_at < now())"""
    ).fetchone()
    return int(row[0]) if row else 0


def begin(conn: Connection, slot: datetime, settings: Settings) -> Sweep:
    """The slot's sweep: begun now, or found (a repeated delivery)."""
    due = due_accounts(conn)
    planned = invocations_for(due, settings)
    row = conn.execute(
        """insert into jessie.sweeps (slot, due_accounts, invocations_planned) values (%s, %s, %s)
           on conflict (slot) do nothing returning id""",
        [slot, due, planned],
    ).fetchone()
    if row is not None:
        return Sweep(int(row[0]), slot, True, due, planned)
    found = conn.execute(
        "select id, due_accounts, invocations_planned from jessie.sweeps where slot = %s", [slot]
    ).fetchone()
    assert found is not None
    return Sweep(int(found[0]), slot, False, int(found[1]), int(found[2]))


def current(conn: Connection, sweep_id: int, slot: datetime) -> bool:
    """Whether `sweep_id` is the sweep of `slot` (a worker call for an old sweep does nothing)."""
    row = conn.execute("select 1 from jessie.sweeps where id = %s and slot = %s", [sweep_id, slot]).fetchone()
    return row is not None


def record_started(conn: Connection, sweep_id: int, invocations: int) -> None:
    """The sweep's invocations under way: the cron's own and the seats the queue holds. Every cron
    delivery publishes the same seats, so a repeated one records no more than the first."""
    conn.execute(
        "update jessie.sweeps set invocations_started = greatest(invocations_started, %s) where id = %s",
        [invocations, sweep_id],
    )
