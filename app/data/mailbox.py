"""The signed-in user's mail, as the web pages read it."""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row

from app.db.connection import Connection


def like_pattern(text: str) -> str:
    """`text` as a literal substring for ILIKE: its % and _ match themselves."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def inbox_page(conn: Connection, account_id: int, query: str, limit: int, offset: int) -> list[dict[str, Any]]:
    """Newest first; `query` matches sender or subject, literally."""
    return (
        conn.cursor(row_factory=dict_row)
        .execute(
            """select gmail_id, internal_date, sender, subject, snippet, label_ids from jessie.messages
               where account_id = %(id)s and deleted_at is null
                 and (%(q)s = '' or sender ilike %(pattern)s or subject ilike %(pattern)s)
               order by internal_date desc nulls last, gmail_id desc
               limit %(limit)s offset %(offset)s""",
            {"id": account_id, "q": query, "pattern": like_pattern(query), "limit": limit, "offset": offset},
        )
        .fetchall()
    )


def message(conn: Connection, account_id: int, gmail_id: str) -> dict[str, Any] | None:
    return (
        conn.cursor(row_factory=dict_row)
        .execute(
            "select * from jessie.messages where account_id = %s and gmail_id = %s and deleted_at is null",
            [account_id, gmail_id],
        )
        .fetchone()
    )


def seconds_until_manual_sync(conn: Connection, account_id: int, interval_s: float) -> int:
    """How long "Sync now" must wait after the account's last sync started (0: go ahead)."""
    row = conn.execute(
        """select ceil(extract(epoch from last_sync_started_at + make_interval(secs => %s) - now()))
           from jessie.accounts where id = %s""",
        [interval_s, account_id],
    ).fetchone()
    return max(0, int(row[0])) if row and row[0] is not None else 0
