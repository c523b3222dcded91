"""Sync runs as the dashboard, /api/runs and `jessie runs` read them: sweeps (one cron slot's
runs, one per invocation, as one thing), single runs, and one run's accounts."""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row

from app.db.connection import Connection


def recent_runs(conn: Connection, limit: int) -> list[dict[str, Any]]:
    """The newest runs first, as the dashboard and /api/runs show them."""
    return (
        conn.cursor(row_factory=dict_row)
        .execute(
            """select id, trigger, status, started_at, finished_at, accounts_ok, accounts_failed, accounts_incomplete,
                  accounts_busy, accounts_held,
                  messages_added, messages_updated, messages_deleted, quota_units, requests, http_requests, retries,
                  duration_ms, error, sweep_id
           from jessie.sync_runs order by id desc limit %s""",
            [limit],
        )
        .fetchall()
    )


def find_run(conn: Connection, run_id: int) -> dict[str, Any] | None:
    return (
        conn.cursor(row_factory=dict_row)
        .execute(
            """select id, trigger, status, started_at, finished_at, accounts_ok, accounts_failed, accounts_incomplete,
                  accounts_busy, accounts_held, messages_added, messages_updated, messages_deleted, quota_units,
                  duration_ms, error
               from jessie.sync_runs where id = %s""",
            [run_id],
        )
        .fetchone()
    )


def run_accounts(conn: Connection, run_id: int) -> list[dict[str, Any]]:
    """Each account the run took on: its outcome, mode, counts and error; failures first."""
    return (
        conn.cursor(row_factory=dict_row)
        .execute(
            """select a.email, r.status, r.mode, r.messages_added, r.messages_updated, r.messages_deleted,
                      r.quota_units, r.requests, r.retries, r.duration_ms, r.error, r.finished_at
               from jessie.sync_run_accounts r join jessie.accounts a on a.id = r.account_id
               where r.run_id = %s order by (r.status = 'ok'), a.email""",
            [run_id],
        )
        .fetchall()
    )


def sweep_runs(conn: Connection, sweep_id: int) -> list[dict[str, Any]]:
    """The runs of one sweep, one per invocation, in the order they started."""
    return (
        conn.cursor(row_factory=dict_row)
        .execute(
            """select id, trigger, status, started_at, finished_at, accounts_ok, accounts_failed, accounts_incomplete,
                  accounts_busy, accounts_held, messages_added, messages_updated, messages_deleted, quota_units,
                  requests, http_requests, retries, duration_ms, error, sweep_id
               from jessie.sync_runs where sweep_id = %s order by id""",
            [sweep_id],
        )
        .fetchall()
    )


def recent_entries(conn: Connection, limit: int) -> list[dict[str, Any]]:
    """The newest first: each sweep as one entry with its totals (wall time from its first
    invocation's start to its last one's end, and how many invocations ran), each run outside
    a sweep (Sync now, a connect) as itself."""
    return (
        conn.cursor(row_factory=dict_row)
        .execute(
            """select case when r.sweep_id is null then 'run' else 'sweep' end as kind,
                  coalesce(r.sweep_id, min(r.id)) as id, min(r.id) as first_run_id,
                  case when r.sweep_id is null then min(r.trigger) else 'sweep' end as trigger,
                  case when bool_or(r.status = 'running') then 'running'
                       when bool_and(r.status = 'failed') then 'failed'
                       when bool_or(r.status in ('failed', 'partial', 'abandoned')) then 'partial'
                       else 'ok' end as status,
                  min(r.started_at) as started_at, max(r.finished_at) as finished_at, count(*) as invocations,
                  sum(r.accounts_ok)::int as accounts_ok, sum(r.accounts_failed)::int as accounts_failed,
                  sum(r.accounts_incomplete)::int as accounts_incomplete,
                  max(r.accounts_held)::int as accounts_held,
                  sum(r.messages_added)::int as messages_added, sum(r.messages_updated)::int as messages_updated,
                  sum(r.messages_deleted)::int as messages_deleted, sum(r.quota_units)::int as quota_units,
                  case when count(*) = 1 then max(r.duration_ms)
                       else (extract(epoch from max(coalesce(r.finished_at, now())) - min(r.started_at)) * 1000)::int
                  end as duration_ms,
                  (array_remove(array_agg(r.error order by r.id), null))[1] as error
               from jessie.sync_runs r
               group by r.sweep_id, case when r.sweep_id is null then r.id end
               order by min(r.started_at) desc, min(r.id) desc limit %s""",
            [limit],
        )
        .fetchall()
    )
