"""One account's SQL during a sync: its progress (page token, checkpoint, generation) and
its messages (upserts, labels, deletions, refused ids kept for retry).

Every function runs inside the caller's transaction; none commits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from app.db.connection import Connection

HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass
class MessageRow:
    gmail_id: str
    thread_id: str
    label_ids: list[str]
    internal_date: datetime | None
    history_id: int | None
    size_estimate: int | None
    subject: str | None
    sender: str | None
    recipients: str | None
    snippet: str | None
    body_text: str
    body_html: str | None
    body_truncated: bool
    attachments: list[dict[str, object]]
    parse_error: str | None


def begin_full_sync(conn: Connection, account_id: int, start_history_id: int) -> tuple[int, bool]:
    """Start a full listing: (generation, reconcile). A resync reconciles deletions at its end."""
    row = conn.execute(
        """update jessie.accounts set sync_state = 'full', full_sync_history_id = %(start)s,
               full_sync_page_token = null, full_sync_generation = full_sync_generation + 1,
               full_sync_reconcile = exists (select 1 from jessie.messages where account_id = %(id)s),
               updated_at = now()
           where id = %(id)s returning full_sync_generation, full_sync_reconcile""",
        {"id": account_id, "start": start_history_id},
    ).fetchone()
    assert row is not None
    return int(row[0]), bool(row[1])


def set_page_token(conn: Connection, account_id: int, token: str | None) -> None:
    conn.execute("update jessie.accounts set full_sync_page_token = %s where id = %s", [token, account_id])


def finish_full_sync(conn: Connection, account_id: int, generation: int, reconcile: bool, history_id: int) -> int:
    """The listing is complete: unseen messages are gone (on a resync), and history takes over."""
    deleted = 0
    if reconcile:  # unseen means gone, unless Gmail only refused it for now (message_retries)
        deleted = conn.execute(
            """update jessie.messages m set deleted_at = now()
               where m.account_id = %(id)s and m.seen_generation < %(generation)s and m.deleted_at is null
                 and not exists (select 1 from jessie.message_retries r
                                 where r.account_id = m.account_id and r.gmail_id = m.gmail_id)""",
            {"id": account_id, "generation": generation},
        ).rowcount
    conn.execute(
        """update jessie.accounts set sync_state = 'incremental', history_id = %s, full_sync_page_token = null,
               full_sync_reconcile = false, updated_at = now()
           where id = %s""",
        [history_id, account_id],
    )
    return deleted


def restart_full_sync(conn: Connection, account_id: int) -> None:
    """History expired (404): list everything again and reconcile."""
    conn.execute("update jessie.accounts set sync_state = 'new', updated_at = now() where id = %s", [account_id])


def set_checkpoint(conn: Connection, account_id: int, history_id: int) -> None:
    conn.execute(
        "update jessie.accounts set history_id = %s, updated_at = now() where id = %s", [history_id, account_id]
    )


def seen_in_generation(conn: Connection, account_id: int, ids: list[str], generation: int) -> set[str]:
    rows = conn.execute(
        """select gmail_id from jessie.messages
           where account_id = %s and gmail_id = any(%s) and seen_generation = %s and deleted_at is null""",
        [account_id, ids, generation],
    )
    return {row[0] for row in rows}


def stored_labels(conn: Connection, account_id: int, ids: list[str]) -> dict[str, list[str]]:
    """Labels of the stored, not deleted, messages among `ids`."""
    rows = conn.execute(
        """select gmail_id, label_ids from jessie.messages
           where account_id = %s and gmail_id = any(%s) and deleted_at is null""",
        [account_id, ids],
    )
    return {row[0]: list(row[1]) for row in rows}


def save_messages(conn: Connection, account_id: int, rows: list[MessageRow], generation: int) -> tuple[int, int]:
    """Upsert full messages; returns (added, updated) where updated means labels changed or undeleted."""
    if not rows:
        return 0, 0
    before = {
        row[0]: (list(row[1]), row[2])
        for row in conn.execute(
            """select gmail_id, label_ids, deleted_at is not null from jessie.messages
               where account_id = %s and gmail_id = any(%s)""",
            [account_id, [row.gmail_id for row in rows]],
        )
    }
    with conn.cursor() as cursor:
        cursor.executemany(
            """insert into jessie.messages (account_id, gmail_id, thread_id, label_ids, internal_date, history_id,
                   size_estimate, subject, sender, recipients, snippet, body_text, body_html, body_truncated,
                   attachments, parse_error, seen_generation, deleted_at, synced_at)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, null, now())
               on conflict (account_id, gmail_id) do update set thread_id = excluded.thread_id,
                   label_ids = excluded.label_ids, internal_date = excluded.internal_date,
                   history_id = excluded.history_id, size_estimate = excluded.size_estimate,
                   subject = excluded.subject, sender = excluded.sender, recipients = excluded.recipients,
                   snippet = excluded.snippet, body_text = excluded.body_text, body_html = excluded.body_html,
                   body_truncated = excluded.body_truncated, attachments = excluded.attachments,
                   parse_error = excluded.parse_error, seen_generation = excluded.seen_generation,
                   deleted_at = null, synced_at = now()""",
            [_message_values(account_id, row, generation) for row in rows],
        )
    added = sum(1 for row in rows if row.gmail_id not in before)
    updated = sum(
        1
        for row in rows
        if row.gmail_id in before and (before[row.gmail_id][1] or set(before[row.gmail_id][0]) != set(row.label_ids))
    )
    return added, updated


def _message_values(account_id: int, row: MessageRow, generation: int) -> tuple[object, ...]:
    """The insert's parameters, in its column order."""
    return (
        account_id, row.gmail_id, row.thread_id, row.label_ids, row.internal_date, row.history_id,
        row.size_estimate, row.subject, row.sender, row.recipients, row.snippet, row.body_text,
        row.body_html, row.body_truncated, Jsonb(row.attachments), row.parse_error, generation,
    )  # fmt: skip


def save_labels(
    conn: Connection,
    account_id: int,
    labels: dict[str, list[str]],
    generation: int | None,
    before: dict[str, list[str]],
) -> int:
    """Set labels (and, during a full sync, the seen generation) of stored messages.

    Returns how many changed; `before` holds their labels as stored.
    """
    if not labels:
        return 0
    with conn.cursor() as cursor:
        cursor.executemany(
            """update jessie.messages set label_ids = %s,
                   seen_generation = coalesce(%s, seen_generation), synced_at = now()
               where account_id = %s and gmail_id = %s""",
            [(value, generation, account_id, gmail_id) for gmail_id, value in labels.items()],
        )
    return sum(1 for gmail_id, value in labels.items() if set(before.get(gmail_id, [None])) != set(value))


def label_totals(conn: Connection, account_id: int) -> dict[str, int]:
    """Each of the account's labels (as last listed) with the stored messages that carry it."""
    rows = conn.execute(
        "select label_id, messages_total from jessie.labels where account_id = %s order by label_id", [account_id]
    )
    return {row[0]: int(row[1]) for row in rows}


def thread_sizes(conn: Connection, account_id: int) -> list[int]:
    """How many stored messages each of the account's threads has."""
    rows = conn.execute(
        """select count(*) from jessie.messages where account_id = %s and deleted_at is null
           group by thread_id""",
        [account_id],
    )
    return [int(row[0]) for row in rows]


def keep_for_retry(conn: Connection, account_id: int, refused: dict[str, str]) -> None:
    """Messages Gmail refused for now (id → reason): fetched again on later runs."""
    if not refused:
        return
    with conn.cursor() as cursor:
        cursor.executemany(
            """insert into jessie.message_retries (account_id, gmail_id, reason) values (%s, %s, %s)
               on conflict (account_id, gmail_id) do update set reason = excluded.reason,
                   attempts = jessie.message_retries.attempts + 1, last_failed_at = now()""",
            [(account_id, gmail_id, reason) for gmail_id, reason in refused.items()],
        )


def settle_retries(conn: Connection, account_id: int, ids: list[str]) -> None:
    """These arrived, or Gmail says they are gone: nothing to retry."""
    if ids:
        conn.execute(
            "delete from jessie.message_retries where account_id = %s and gmail_id = any(%s)", [account_id, ids]
        )


def retry_ids(conn: Connection, account_id: int, limit: int) -> list[str]:
    rows = conn.execute(
        """select gmail_id from jessie.message_retries where account_id = %s
           order by last_failed_at, gmail_id limit %s""",
        [account_id, limit],
    )
    return [row[0] for row in rows]


def mark_deleted(conn: Connection, account_id: int, ids: list[str]) -> int:
    if not ids:
        return 0
    return conn.execute(
        """update jessie.messages set deleted_at = now()
           where account_id = %s and gmail_id = any(%s) and deleted_at is null""",
        [account_id, ids],
    ).rowcount


def set_mailbox_total(conn: Connection, account_id: int, total: int) -> None:
    """Gmail's count of the whole mailbox (getProfile), the denominator of a first sync's progress."""
    conn.execute("update jessie.accounts set mailbox_total = %s where id = %s", [total, account_id])


def _colour(value: object) -> str | None:
    """A #rrggbb colour as Gmail's palette gives them; anything else is not kept (it goes into CSS)."""
    return value if isinstance(value, str) and HEX_COLOUR.fullmatch(value) else None


def store_label_list(conn: Connection, account_id: int, labels: list[dict[str, Any]]) -> None:
    """The account's labels as Gmail lists them now; labels gone from Gmail go from here."""
    rows = [
        (
            account_id,
            str(label["id"]),
            str(label.get("name") or label["id"]),
            "user" if label.get("type") == "user" else "system",
            _colour((label.get("color") or {}).get("backgroundColor")),
            _colour((label.get("color") or {}).get("textColor")),
            label.get("labelListVisibility") == "labelHide",
        )
        for label in labels
        if label.get("id")
    ]
    conn.execute(
        "delete from jessie.labels where account_id = %s and not (label_id = any(%s))",
        [account_id, [row[1] for row in rows]],
    )
    with conn.cursor() as cur:
        cur.executemany(
            """insert into jessie.labels (account_id, label_id, name, type, color_background, color_text, hidden)
               values (%s, %s, %s, %s, %s, %s, %s)
               on conflict (account_id, label_id) do update set name = excluded.name, type = excluded.type,
                   color_background = excluded.color_background, color_text = excluded.color_text,
                   hidden = excluded.hidden""",
            rows,
        )
    conn.execute("update jessie.accounts set labels_synced_at = now() where id = %s", [account_id])


def recount_labels(conn: Connection, account_id: int) -> None:
    """Each label's total and unread count over the stored mail (what the sidebar shows)."""
    conn.execute(
        """update jessie.labels l set messages_total = coalesce(c.total, 0), messages_unread = coalesce(c.unread, 0)
           from jessie.labels l2
           left join (select label, count(*) total, count(*) filter (where 'UNREAD' = any(m.label_ids)) unread
                      from jessie.messages m, unnest(m.label_ids) label
                      where m.account_id = %(id)s and m.deleted_at is null group by label) c
             on c.label = l2.label_id
           where l.account_id = %(id)s and l2.account_id = l.account_id and l2.label_id = l.label_id""",
        {"id": account_id},
    )
