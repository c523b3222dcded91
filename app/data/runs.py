"""Sync runs as the dashboard, /api/runs and `jessie runs` read them, and one run's accounts."""

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
                  accounts_busy,
                  messages_added, messages_updated, messages_deleted, quota_units, requests, http_requests, retries,
                  duration_ms, error
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
                  accounts_busy, messages_added, messages_updated, messages_deleted, quota_units, duration_ms, error
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
