"""A run's SQL: its record, its heartbeat, and the leases on the accounts it syncs.

Every function runs inside the caller's transaction; none commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from app import counters
from app.db.connection import Connection
from app.statuses import SyncMode, SyncState


@dataclass
class AccountRow:
    id: int
    email: str
    refresh_token_encrypted: str
    history_id: int | None
    sync_state: str
    full_sync_history_id: int | None
    full_sync_page_token: str | None
    full_sync_generation: int
    full_sync_reconcile: bool
    labels_synced_at: datetime | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AccountRow:
        return cls(
            id=row["id"],
            email=row["email"],
            refresh_token_encrypted=row["refresh_token_encrypted"],
            history_id=int(row["history_id"]) if row["history_id"] is not None else None,
            sync_state=row["sync_state"],
            full_sync_history_id=int(row["full_sync_history_id"]) if row["full_sync_history_id"] is not None else None,
            full_sync_page_token=row["full_sync_page_token"],
            full_sync_generation=row["full_sync_generation"],
            full_sync_reconcile=row["full_sync_reconcile"],
            labels_synced_at=row.get("labels_synced_at"),
        )


def abandon_stale_runs(conn: Connection, silent_s: float) -> int:
    """Runs whose heartbeat stopped `silent_s` ago belong to a process that died or lost the
    database (which one cannot be seen from here; a process that lived records its own failure
    when the database answers again): closed with what their committed batches stored."""
    dead = [
        row[0]
        for row in conn.execute(
            """update jessie.sync_runs set status = 'abandoned', finished_at = now(),
                   error = 'no heartbeat since ' || to_char(heartbeat_at at time zone 'UTC', 'HH24:MI:SS')
                           || ' UTC: its process stopped, or lost the database, before finishing'
               where status = 'running' and heartbeat_at < now() - make_interval(secs => %s)
               returning id""",
            [silent_s],
        )
    ]
    if dead:
        conn.execute(
            "update jessie.sync_run_accounts set status = 'interrupted' where run_id = any(%s) and status = 'running'",
            [dead],
        )
        _totals_from_accounts(conn, dead)
    return len(dead)


def _totals_from_accounts(conn: Connection, run_ids: list[int]) -> None:
    """A run that ended unfinished tells what its accounts' committed batches stored."""
    conn.execute(
        sql.SQL(
            """update jessie.sync_runs r set ({counters}) = ({totals})
               from (select run_id, {sums} from jessie.sync_run_accounts where run_id = any(%s) group by run_id) a
               where r.id = a.run_id"""
        ).format(counters=counters.columns(), totals=counters.columns("a"), sums=counters.sums("sync_run_accounts")),
        [run_ids],
    )


def settle_failed(conn: Connection, run_id: int, error: str) -> None:
    """A run that failed as a whole (the database went away mid-run): the accounts it had under
    way failed with it and are free again at once, and its totals are what was committed."""
    conn.execute(
        """update jessie.sync_run_accounts set status = 'failed', error = %s, finished_at = now()
           where run_id = %s and status in ('running', 'interrupted')""",
        [error, run_id],
    )
    conn.execute(
        "update jessie.accounts set lease_run_id = null, lease_expires_at = null where lease_run_id = %s", [run_id]
    )
    _totals_from_accounts(conn, [run_id])


def heartbeat(conn: Connection, run_id: int, account_ids: list[int], lease_s: float) -> None:
    """The run is alive: its accounts' leases last `lease_s` more."""
    conn.execute("update jessie.sync_runs set heartbeat_at = now() where id = %s", [run_id])
    if account_ids:
        conn.execute(
            """update jessie.accounts set lease_expires_at = now() + make_interval(secs => %s)
               where lease_run_id = %s and id = any(%s)""",
            [lease_s, run_id, account_ids],
        )


@dataclass(frozen=True)
class Held:
    """Due accounts this run owes a sync that other runs hold under a lease, live or dead (a killed
    run's leases outlive it until they lapse), and when the first of those leases lapses."""

    count: int
    first_lapse_s: float | None  # None: nothing held


def held_elsewhere(conn: Connection, run_id: int, due_before: datetime, only: list[int] | None) -> Held:
    row = conn.execute(
        """select count(*), extract(epoch from min(a.lease_expires_at) - now())::float
           from jessie.accounts a
           where a.status = 'active' and a.lease_expires_at > now() and a.lease_run_id <> %(run)s
             and coalesce(a.last_sync_finished_at, '-infinity') < %(started)s
             and (%(only)s::bigint[] is null or a.id = any(%(only)s))""",
        {"run": run_id, "started": due_before, "only": only},
    ).fetchone()
    assert row is not None
    return Held(int(row[0]), None if row[1] is None else max(0.0, float(row[1])))


def full_syncs_due(conn: Connection, due_before: datetime, only: list[int] | None) -> int:
    """Due accounts that need a first or full sync and no run holds: what a run held back."""
    row = conn.execute(
        """select count(*) from jessie.accounts
           where status = 'active' and sync_state <> 'incremental'
             and (lease_expires_at is null or lease_expires_at < now())
             and coalesce(last_sync_finished_at, '-infinity') < %(started)s
             and (%(only)s::bigint[] is null or id = any(%(only)s))""",
        {"started": due_before, "only": only},
    ).fetchone()
    assert row is not None
    return int(row[0])


class NoSeat(Exception):
    """The live runs hold as many database connections as the budget allows."""


def sweep_started_at(conn: Connection, sweep_id: int) -> datetime:
    row = conn.execute("select started_at from jessie.sweeps where id = %s", [sweep_id]).fetchone()
    assert row is not None
    started: datetime = row[0]
    return started


def create_run(
    conn: Connection,
    trigger: str,
    budget_s: float,
    *,
    sweep_id: int | None = None,
    connections: int = 0,
    seats: tuple[int, float] | None = None,
) -> tuple[int, datetime]:
    """Record a run and the database connections it adds (`connections`). With `seats` (the
    connection budget, and how long a silent run still counts as live), the live runs'
    connections are summed under a lock first: NoSeat when this run's would pass the budget."""
    if seats is not None:
        budget, silent_s = seats
        conn.execute("select pg_advisory_xact_lock(hashtext('jessie.sync_runs: seats'))")
        live = conn.execute(
            """select coalesce(sum(connections), 0) from jessie.sync_runs
               where status = 'running' and heartbeat_at > now() - make_interval(secs => %s)""",
            [silent_s],
        ).fetchone()
        held = int(live[0]) if live else 0
        if held + connections > budget:
            raise NoSeat(
                f"the live sync runs hold {held} database connections; {connections} more would pass "
                f"JESSIE_DB_CONNECTION_BUDGET ({budget})"
            )
    row = conn.execute(
        """insert into jessie.sync_runs (trigger, deadline_at, sweep_id, connections)
           values (%s, now() + make_interval(secs => %s), %s, %s)
           returning id, started_at""",
        [trigger, budget_s, sweep_id, connections],
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def claim_next(
    conn: Connection,
    run_id: int,
    due_before: datetime,
    lease_s: float,
    only: list[int] | None,
    *,
    incremental_only: bool = False,
) -> AccountRow | None:
    """Lease the active account synced longest ago that this run still owes a sync
    (`incremental_only`: none that needs a first or full sync, the day's quota being spent).

    SKIP LOCKED and the lease let overlapping runs (Vercel may deliver a cron twice)
    split the accounts; an account finished after this run started is not due again.
    """
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(
            """with next as (
               select id from jessie.accounts
               where status = 'active'
                 and (lease_expires_at is null or lease_expires_at < now())
                 and coalesce(last_sync_finished_at, '-infinity') < %(started)s
                 and (%(only)s::bigint[] is null or id = any(%(only)s))
                 and (not %(incremental_only)s or sync_state = 'incremental')
               order by last_sync_finished_at nulls first, id
               limit 1
               for update skip locked
           )
           update jessie.accounts a
           set lease_run_id = %(run)s, lease_expires_at = now() + make_interval(secs => %(lease)s),
               last_sync_started_at = now()
           from next where a.id = next.id
           returning a.*""",
            {
                "run": run_id,
                "started": due_before,
                "lease": lease_s,
                "only": only,
                "incremental_only": incremental_only,
            },
        )
        .fetchone()
    )
    if row is None:
        return None
    conn.execute(  # the run's row for this account: committed batches add to it as they go
        "insert into jessie.sync_run_accounts (run_id, account_id, status, mode) values (%s, %s, 'running', %s)",
        [run_id, row["id"], SyncMode.INCREMENTAL if row["sync_state"] == SyncState.INCREMENTAL else SyncMode.FULL],
    )
    return AccountRow.from_row(row)


def add_progress(conn: Connection, run_id: int, account_id: int, added: int, updated: int, deleted: int) -> None:
    """What a batch stored, in the transaction that stores it (so a killed run still tells)."""
    conn.execute(
        """update jessie.sync_run_accounts set messages_added = messages_added + %s,
               messages_updated = messages_updated + %s, messages_deleted = messages_deleted + %s
           where run_id = %s and account_id = %s""",
        [added, updated, deleted, run_id, account_id],
    )


def release(conn: Connection, account_id: int, run_id: int, status: str, error: str | None, blame: bool = True) -> None:
    """End the lease with the account's outcome; a failure that is not the account's own
    (`blame=False`: Google's outage, Jessie's configuration) does not count against it."""
    conn.execute(
        """update jessie.accounts set lease_run_id = null, lease_expires_at = null,
               last_sync_finished_at = now(), last_sync_status = %(status)s, last_sync_error = %(error)s,
               consecutive_failures = case when not %(blame)s then consecutive_failures
                                           when %(status)s in ('failed', 'needs_reauth')
                                           then consecutive_failures + 1 else 0 end,
               status = case when %(status)s = 'needs_reauth' then 'needs_reauth' else status end,
               updated_at = now()
           where id = %(id)s and lease_run_id = %(run)s""",
        {"id": account_id, "run": run_id, "status": status, "error": error, "blame": blame},
    )


def record_account_result(conn: Connection, run_id: int, result: dict[str, Any]) -> None:
    """The account's final row of the run (its message counts were added batch by batch already)."""
    conn.execute(
        sql.SQL(
            """update jessie.sync_run_accounts set status = %(status)s, mode = %(mode)s, {counters},
                   duration_ms = %(duration_ms)s, error = %(error)s, finished_at = now()
               where run_id = %(run_id)s and account_id = %(account_id)s"""
        ).format(counters=counters.assignments()),
        {"run_id": run_id, **result},
    )


def finish_run(conn: Connection, run_id: int, totals: dict[str, Any]) -> None:
    conn.execute(
        sql.SQL(
            """update jessie.sync_runs set status = %(status)s, finished_at = now(), accounts_ok = %(accounts_ok)s,
                   accounts_failed = %(accounts_failed)s, accounts_incomplete = %(accounts_incomplete)s,
                   accounts_busy = %(accounts_busy)s, accounts_held = %(accounts_held)s, {counters},
                   duration_ms = %(duration_ms)s, error = %(error)s
               where id = %(run_id)s"""
        ).format(counters=counters.assignments()),
        {"run_id": run_id, **totals},
    )
