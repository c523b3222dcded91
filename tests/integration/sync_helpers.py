"""What the sync tests share: connecting sandbox accounts, running syncs, comparing copies."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from app.config import Settings
from app.data.accounts import connect_account
from app.db.connection import Database
from app.security import TokenCipher
from app.sync.runner import RunSummary, run_sync
from tests.conftest import Sandbox


def add_account(sandbox: Sandbox, pool: Database, settings: Settings, email: str, **mailbox: Any) -> int:
    created = sandbox.create_account(email, **mailbox)
    with pool.connection() as conn:
        return connect_account(conn, TokenCipher.from_settings(settings), email, created["refresh_token"])


def sync(settings: Settings, pool: Database, budget: float = 120, **kwargs: Any) -> RunSummary:
    return run_sync("test", budget, settings=settings, pool=pool, **kwargs)


def query(pool: Database, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with pool.connection() as conn:
        return conn.execute(sql, params).fetchall()


def stored(pool: Database, email: str) -> dict[str, dict[str, Any]]:
    """Every stored row of the account, live or deleted, by Gmail id."""
    rows = query(
        pool,
        """select m.gmail_id, m.thread_id, m.label_ids, m.internal_date, m.deleted_at from jessie.messages m
           join jessie.accounts a on a.id = m.account_id where a.email = %s""",
        email,
    )
    return {
        row[0]: {"threadId": row[1], "labelIds": row[2], "internalDate": row[3], "deleted": row[4] is not None}
        for row in rows
    }


def assert_exact_copy(pool: Database, sandbox: Sandbox, email: str) -> None:
    """Every message, label and deletion equal to the sandbox's ground truth."""
    truth = {message["id"]: message for message in sandbox.truth(email)}
    copy = stored(pool, email)
    live = {gmail_id: row for gmail_id, row in copy.items() if not row["deleted"]}
    assert sorted(live) == sorted(truth), (
        f"missing {sorted(set(truth) - set(live))[:5]}, extra {sorted(set(live) - set(truth))[:5]}"
    )
    for gmail_id, message in truth.items():
        row = live[gmail_id]
        assert sorted(row["labelIds"]) == sorted(message["labelIds"]), gmail_id
        assert row["threadId"] == message["threadId"], gmail_id
        assert int(row["internalDate"].timestamp() * 1000) == int(message["internalDate"]), gmail_id


def first_sync_calls(truth: list[dict[str, Any]], page_size: int = 500) -> tuple[int, int]:
    """(messages.get, threads.get) a first sync should make, by the fetch plan: page by page,
    newest first, a thread with three or more new messages on a page is fetched whole (all of it,
    later pages' messages too), any other new message alone."""
    listed = sorted(truth, key=lambda m: (int(m["internalDate"]), m["id"]), reverse=True)
    threads: dict[str, list[str]] = {}
    for message in truth:
        threads.setdefault(message["threadId"], []).append(message["id"])
    done: set[str] = set()
    gets = thread_gets = 0
    for start in range(0, len(listed), page_size):
        new = [m for m in listed[start : start + page_size] if m["id"] not in done]
        on_page: dict[str, int] = {}
        for message in new:
            on_page[message["threadId"]] = on_page.get(message["threadId"], 0) + 1
        for thread_id, count in on_page.items():
            if count >= 3:
                thread_gets += 1
                done |= set(threads[thread_id])
            else:
                gets += count
        done |= {m["id"] for m in new}
    return gets, thread_gets


def until(condition: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    """Poll a condition the database shows (never a fixed sleep)."""
    end = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.1)
