"""The sync's SQL. Every function runs inside the caller's transaction; none commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

Connection = psycopg.Connection[Any]


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
        )


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
    body_truncated: bool
    attachments: list[dict[str, object]]
    parse_error: str | None


# ---- runs and leases --------------------------------------------------------------------


def abandon_stale_runs(conn: Connection, silent_s: float) -> int:
    """Runs whose heartbeat stopped `silent_s` ago belong to a process that died: they are
    closed with what their committed batches stored, their unfinished accounts interrupted."""
    dead = [
        row[0]
        for row in conn.execute(
            """update jessie.sync_runs set status = 'abandoned', finished_at = now(),
                   error = 'the process running it stopped before finishing'
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
        conn.execute(
            """update jessie.sync_runs r set messages_added = a.added, messages_updated = a.updated,
                   messages_deleted = a.deleted, quota_units = a.units
               from (select run_id, sum(messages_added) added, sum(messages_updated) updated,
                            sum(messages_deleted) deleted, sum(quota_units) units
                     from jessie.sync_run_accounts where run_id = any(%s) group by run_id) a
               where r.id = a.run_id""",
            [dead],
        )
    return len(dead)


def heartbeat(conn: Connection, run_id: int, account_ids: list[int], lease_s: float) -> None:
    """The run is alive: its accounts' leases last `lease_s` more."""
    conn.execute("update jessie.sync_runs set heartbeat_at = now() where id = %s", [run_id])
    if account_ids:
        conn.execute(
            """update jessie.accounts set lease_expires_at = now() + make_interval(secs => %s)
               where lease_run_id = %s and id = any(%s)""",
            [lease_s, run_id, account_ids],
        )


def busy_accounts(conn: Connection, run_id: int, run_started_at: datetime, only: list[int] | None) -> int:
    """Due accounts this run could not take because another live run holds them."""
    row = conn.execute(
        """select count(*) from jessie.accounts
           where status = 'active' and lease_expires_at > now() and lease_run_id <> %(run)s
             and coalesce(last_sync_finished_at, '-infinity') < %(started)s
             and (%(only)s::bigint[] is null or id = any(%(only)s))""",
        {"run": run_id, "started": run_started_at, "only": only},
    ).fetchone()
    return int(row[0]) if row else 0


def create_run(conn: Connection, trigger: str, budget_s: float) -> tuple[int, datetime]:
    row = conn.execute(
        """insert into jessie.sync_runs (trigger, deadline_at) values (%s, now() + make_interval(secs => %s))
           returning id, started_at""",
        [trigger, budget_s],
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def claim_next(
    conn: Connection, run_id: int, run_started_at: datetime, lease_s: float, only: list[int] | None
) -> AccountRow | None:
    """Lease the active account synced longest ago that this run still owes a sync.

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
               order by last_sync_finished_at nulls first, id
               limit 1
               for update skip locked
           )
           update jessie.accounts a
           set lease_run_id = %(run)s, lease_expires_at = now() + make_interval(secs => %(lease)s),
               last_sync_started_at = now()
           from next where a.id = next.id
           returning a.*""",
            {"run": run_id, "started": run_started_at, "lease": lease_s, "only": only},
        )
        .fetchone()
    )
    if row is None:
        return None
    conn.execute(  # the run's row for this account: committed batches add to it as they go
        "insert into jessie.sync_run_accounts (run_id, account_id, status, mode) values (%s, %s, 'running', %s)",
        [run_id, row["id"], "incremental" if row["sync_state"] == "incremental" else "full"],
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
    """The account's final row of the run (its counts were added batch by batch already)."""
    conn.execute(
        """update jessie.sync_run_accounts set status = %(status)s, mode = %(mode)s,
               messages_added = %(added)s, messages_updated = %(updated)s, messages_deleted = %(deleted)s,
               quota_units = %(quota_units)s, requests = %(requests)s, retries = %(retries)s,
               duration_ms = %(duration_ms)s, error = %(error)s, finished_at = now()
           where run_id = %(run_id)s and account_id = %(account_id)s""",
        {"run_id": run_id, **result},
    )


def finish_run(conn: Connection, run_id: int, totals: dict[str, Any]) -> None:
    conn.execute(
        """update jessie.sync_runs set status = %(status)s, finished_at = now(), accounts_ok = %(accounts_ok)s,
               accounts_failed = %(accounts_failed)s, accounts_incomplete = %(accounts_incomplete)s,
               accounts_busy = %(accounts_busy)s,
               messages_added = %(messages_added)s, messages_updated = %(messages_updated)s,
               messages_deleted = %(messages_deleted)s, quota_units = %(quota_units)s,
               http_requests = %(http_requests)s, retries = %(retries)s, duration_ms = %(duration_ms)s,
               error = %(error)s
           where id = %(run_id)s""",
        {"run_id": run_id, **totals},
    )


# ---- one account's progress -------------------------------------------------------------


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
                   size_estimate, subject, sender, recipients, snippet, body_text, body_truncated, attachments,
                   parse_error, seen_generation, deleted_at, synced_at)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, null, now())
               on conflict (account_id, gmail_id) do update set thread_id = excluded.thread_id,
                   label_ids = excluded.label_ids, internal_date = excluded.internal_date,
                   history_id = excluded.history_id, size_estimate = excluded.size_estimate,
                   subject = excluded.subject, sender = excluded.sender, recipients = excluded.recipients,
                   snippet = excluded.snippet, body_text = excluded.body_text,
                   body_truncated = excluded.body_truncated, attachments = excluded.attachments,
                   parse_error = excluded.parse_error, seen_generation = excluded.seen_generation,
                   deleted_at = null, synced_at = now()""",
            [_message_values(account_id, row, generation) for row in rows],
        )
    added = sum(1 for row in rows if row.gmail_id not in before)
    updated = sum(
        1
        for row in rows
        if row.gmail_id in before and (before[row.gmail_id][1] or before[row.gmail_id][0] != row.label_ids)
    )
    return added, updated


def _message_values(account_id: int, row: MessageRow, generation: int) -> tuple[object, ...]:
    """The insert's parameters, in its column order."""
    return (
        account_id, row.gmail_id, row.thread_id, row.label_ids, row.internal_date, row.history_id,
        row.size_estimate, row.subject, row.sender, row.recipients, row.snippet, row.body_text,
        row.body_truncated, Jsonb(row.attachments), row.parse_error, generation,
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
    return sum(1 for gmail_id, value in labels.items() if before.get(gmail_id) != value)


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


def recent_runs(conn: Connection, limit: int) -> list[dict[str, Any]]:
    """The newest runs first, as the dashboard and /api/runs show them."""
    return (
        conn.cursor(row_factory=dict_row)
        .execute(
            """select id, trigger, status, started_at, finished_at, accounts_ok, accounts_failed, accounts_incomplete,
                  accounts_busy,
                  messages_added, messages_updated, messages_deleted, quota_units, http_requests, retries,
                  duration_ms, error
           from jessie.sync_runs order by id desc limit %s""",
            [limit],
        )
        .fetchall()
    )
