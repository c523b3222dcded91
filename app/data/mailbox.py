"""The signed-in user's mail, as the web pages read it: labels with counts, keyset pages of a
label or a search, one message, and how far the account's sync has got."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from app.db.connection import Connection
from app.search import HIDDEN_UNLESS_ASKED, Search

SORT_KEY = sql.SQL("coalesce(m.internal_date, '-infinity'::timestamptz)")  # as the messages_by_date index
NO_DATE = "-infinity"
# The search vector splits addresses at @ and . (see the migration); so do the words searched for.
SPLIT_ADDRESSES = "translate({}, '@.<>', '    ')"


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: the (date, id) of the message just outside it."""

    date: str  # ISO 8601, or -infinity for a message without a date
    gmail_id: str

    def __str__(self) -> str:
        return f"{self.date}|{self.gmail_id}"

    @classmethod
    def of(cls, row: dict[str, Any]) -> Cursor:
        date = row["internal_date"]
        return cls(date.isoformat() if date else NO_DATE, row["gmail_id"])

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """ValueError unless `text` is a cursor this module wrote."""
        date, _, gmail_id = text.rpartition("|")
        if date != NO_DATE:
            datetime.fromisoformat(date)
        if not gmail_id:
            raise ValueError("no message id in the cursor")
        return cls(date, gmail_id)


@dataclass
class Page:
    messages: list[dict[str, Any]]
    older: Cursor | None  # the next page towards older mail, if there is one
    newer: Cursor | None  # the previous page, if there is one


def labels(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    return (
        conn.cursor(row_factory=dict_row)
        .execute(
            """select label_id, name, type, color_background, color_text, hidden, messages_total, messages_unread
               from jessie.labels where account_id = %s order by type, lower(name)""",
            [account_id],
        )
        .fetchall()
    )


def _conditions(account_id: int, view: str | None, search: Search) -> sql.Composed:
    parts = [sql.SQL("m.account_id = {}").format(account_id), sql.SQL("m.deleted_at is null")]
    if view is not None:
        parts.append(sql.SQL("m.label_ids @> array[{}]::text[]").format(view))
    if not (search.anywhere or view in HIDDEN_UNLESS_ASKED):
        parts.append(sql.SQL("not (m.label_ids && {}::text[])").format(list(HIDDEN_UNLESS_ASKED)))
    if search.text:
        query = sql.SQL("websearch_to_tsquery('simple', " + SPLIT_ADDRESSES + ")").format(search.text)
        parts.append(sql.SQL("m.search @@ {}").format(query))
    for match in search.fields:
        query = sql.SQL("phraseto_tsquery('simple', " + SPLIT_ADDRESSES + ")").format(match.words)
        # The index finds the word anywhere; ts_filter then keeps the field's weight only.
        found = sql.SQL('(m.search @@ {q} and ts_filter(m.search, array[{w}]::"char"[]) @@ {q})').format(
            q=query, w=match.weight
        )
        parts.append(sql.SQL("not {}").format(found) if match.negated else found)
    for label in search.labels:
        if label.by_name:
            ids = sql.SQL(
                """array(select l.label_id from jessie.labels l where l.account_id = {account}
                   and (lower(l.label_id) = lower({name}) or lower(l.name) = lower({name})
                        or lower(translate(l.name, ' /', '--')) = lower({name})))"""
            ).format(account=account_id, name=label.label)
        else:
            ids = sql.SQL("array[{}]::text[]").format(label.label)
        found = sql.SQL("m.label_ids && {}").format(ids)
        parts.append(found if label.present else sql.SQL("not {}").format(found))
    return sql.SQL(" and ").join(parts)


def page(
    conn: Connection,
    account_id: int,
    *,
    view: str | None,
    search: Search,
    size: int,
    older_than: Cursor | None = None,
    newer_than: Cursor | None = None,
) -> Page:
    """Newest first, `size` messages of a label (`view`) and/or a search, keyed on (date, id) so a
    page deep in a large mailbox costs what the first one does."""
    where = _conditions(account_id, view, search)
    cursor, towards_older = (newer_than, False) if newer_than else (older_than, True)
    if cursor is not None:
        compare = sql.SQL("<" if towards_older else ">")
        where = sql.SQL("{} and ({}, m.gmail_id) {} ({}::timestamptz, {})").format(
            where, SORT_KEY, compare, cursor.date, cursor.gmail_id
        )
    direction = sql.SQL("desc" if towards_older else "asc")
    query = sql.SQL(
        """select m.gmail_id, m.internal_date, m.sender, m.subject, m.snippet, m.label_ids,
                  'UNREAD' = any(m.label_ids) as unread
           from jessie.messages m where {where}
           order by {key} {direction}, m.gmail_id {direction} limit {limit}"""
    ).format(where=where, key=SORT_KEY, direction=direction, limit=size + 1)
    rows = conn.cursor(row_factory=dict_row).execute(query).fetchall()
    more = len(rows) > size
    rows = rows[:size]
    if not towards_older:
        rows.reverse()
    if not rows:
        return Page([], None, None)
    older = Cursor.of(rows[-1]) if (more if towards_older else True) else None
    newer = Cursor.of(rows[0]) if (cursor is not None if towards_older else more) else None
    return Page(rows, older, newer)


def message(conn: Connection, account_id: int, gmail_id: str) -> dict[str, Any] | None:
    return (
        conn.cursor(row_factory=dict_row)
        .execute(
            "select * from jessie.messages where account_id = %s and gmail_id = %s and deleted_at is null",
            [account_id, gmail_id],
        )
        .fetchone()
    )


def stored_count(conn: Connection, account_id: int) -> int:
    row = conn.execute(
        "select count(*) from jessie.messages where account_id = %s and deleted_at is null", [account_id]
    ).fetchone()
    return int(row[0]) if row else 0


def seconds_until_manual_sync(conn: Connection, account_id: int, interval_s: float) -> int:
    """How long "Sync now" must wait after the account's last sync started (0: go ahead)."""
    row = conn.execute(
        """select ceil(extract(epoch from last_sync_started_at + make_interval(secs => %s) - now()))
           from jessie.accounts where id = %s""",
        [interval_s, account_id],
    ).fetchone()
    return max(0, int(row[0])) if row and row[0] is not None else 0
