"""The inbox's figures on a 100,000-message mailbox: label views (first page and deep in the
mailbox, by keyset), searches with operators, and the sync's label recount.

The mailbox is generated in SQL (deterministic: row number → words, sender, labels, date) on a
fresh embedded Postgres, then the same queries the pages run are timed, each many times.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from app.data import mailbox
from app.db.connection import Connection
from app.db.embedded import embedded_database_url, stop_embedded
from app.db.migrate import migrate
from app.search import parse
from app.sync.messages import recount_labels, store_label_list

MESSAGES = 100_000
REPEATS = 25
WORDS = (
    "invoice meeting project update quarterly review budget travel itinerary flight hotel receipt order "
    "shipped delivery tracking password reset welcome newsletter offer team schedule agenda notes draft "
    "final approved pending urgent reminder coffee lunch report numbers forecast launch release deploy"
).split()
SENDERS = [f"Person {n} <person{n}@example{n % 7}.com>" for n in range(50)]
USER_LABELS = [{"id": f"Label_{n}", "name": f"Project {n}", "type": "user"} for n in range(1, 11)]
SYSTEM_LABELS = [{"id": name, "name": name, "type": "system"} for name in ("INBOX", "SENT", "SPAM", "TRASH")]
SYSTEM_LABELS += [{"id": name, "name": name, "type": "system"} for name in ("UNREAD", "STARRED", "DRAFT")]


def generate_mailbox(conn: Connection, email: str, messages: int) -> int:
    """An account with `messages` messages in conversations of three: 80 % Inbox, 10 % Sent,
    5 % Spam, 5 % Trash; a third unread, 1 in 50 starred, 1 in 7 under one of ten user labels; 60-word bodies."""
    row = conn.execute(
        "insert into jessie.accounts (email, refresh_token_encrypted, sync_state) values (%s, 'x', 'incremental')"
        " returning id",
        [email],
    ).fetchone()
    assert row is not None
    account_id = int(row[0])
    conn.execute(
        """insert into jessie.messages (account_id, gmail_id, thread_id, label_ids, internal_date, subject,
               sender, recipients, snippet, body_text)
           select %(account)s, id, thread_id, labels, date, subject, sender, %(email)s, left(body, 200), body
           from (select i,
                   lpad(to_hex(i), 16, '0') id,
                   lpad(to_hex(i - i %% 3), 16, '0') thread_id,
                   timestamptz '2026-11-01' - make_interval(mins => i::int) date,
                   %(words)s::text[] w,
                   %(senders)s::text[] s,
                   array_remove(array[
                     case when i %% 20 < 16 then 'INBOX' when i %% 20 < 18 then 'SENT'
                          when i %% 20 = 18 then 'SPAM' else 'TRASH' end,
                     case when i %% 3 = 0 then 'UNREAD' end,
                     case when i %% 50 = 0 then 'STARRED' end,
                     case when i %% 7 = 0 then 'Label_' || (1 + (i / 7) %% 10) end], null) labels
                 from generate_series(1::bigint, %(count)s) i) g,
           lateral (select concat_ws(' ', w[1 + i * 7 %% %(n)s], w[1 + i * 13 %% %(n)s], w[1 + i * 3 %% %(n)s]) subject,
                           s[1 + i %% 50] sender,
                           (select string_agg(w[1 + (i * j * 7919 + j) %% %(n)s], ' ')
                            from generate_series(1, 60) j) body) t""",
        {"account": account_id, "email": email, "words": WORDS, "n": len(WORDS), "senders": SENDERS, "count": messages},
    )
    store_label_list(conn, account_id, SYSTEM_LABELS + USER_LABELS)
    recount_labels(conn, account_id)
    return account_id


def _cursor_at(conn: Connection, account_id: int, depth: int) -> mailbox.Cursor:
    """Where a reader is after paging `depth` messages down the Inbox."""
    row = conn.execute(
        """select internal_date, gmail_id from jessie.messages
           where account_id = %s and 'INBOX' = any(label_ids) and deleted_at is null
           order by internal_date desc, gmail_id desc offset %s limit 1""",
        [account_id, depth],
    ).fetchone()
    assert row is not None
    return mailbox.Cursor.at(row[0], row[1])


def _timed(action: Callable[[], object]) -> dict[str, float]:
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {"p50": round(statistics.median(timings), 1), "p95": round(timings[int(len(timings) * 0.95) - 1], 1)}


def measure() -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="jessie-mailbox-bench-") as directory:
        root = Path(directory)
        try:
            with psycopg.connect(embedded_database_url(root)) as conn:
                migrate(conn)
                started = time.perf_counter()
                account = generate_mailbox(conn, "large@example.com", MESSAGES)
                conn.commit()
                figures["mailbox_generate_100k_s"] = round(time.perf_counter() - started, 1)
                conn.execute("analyze jessie.messages")
                deep = _cursor_at(conn, account, 60_000)

                def view(label: str, older_than: mailbox.Cursor | None = None) -> Callable[[], object]:
                    return lambda: mailbox.page(
                        conn, account, view=label, search=parse(""), size=50, older_than=older_than
                    )

                def search(query: str) -> Callable[[], object]:
                    return lambda: mailbox.page(conn, account, view=None, search=parse(query), size=50)

                views: dict[str, Callable[[], object]] = {
                    "inbox_first_page": view("INBOX"),
                    "inbox_deep_page": view("INBOX", deep),
                    "user_label_page": view("Label_3"),
                    "starred_page": view("STARRED"),
                    "labels_sidebar": lambda: mailbox.labels(conn, account),
                }
                searches = {
                    "search_word": "invoice",
                    "search_phrase": '"quarterly review"',
                    "search_from": "from:person7@example0.com",
                    "search_rare_words": "coffee forecast hotel",
                    "search_operators": "from:person21 is:unread label:project-4",
                    "search_no_match": "zebra",
                }
                views |= {name: search(query) for name, query in searches.items()}
                for name, action in views.items():
                    timing = _timed(action)
                    figures[f"{name}_p50_ms"], figures[f"{name}_p95_ms"] = timing["p50"], timing["p95"]
                started = time.perf_counter()
                recount_labels(conn, account)
                figures["label_recount_100k_ms"] = round((time.perf_counter() - started) * 1000, 1)
        finally:
            stop_embedded(root)
    return figures
