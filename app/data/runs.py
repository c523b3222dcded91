"""Sync runs as the dashboard, /api/runs and `jessie runs` read them."""

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
