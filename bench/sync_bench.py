"""The sync's figures, each beside its reference, measured in one go (the quota models' in
quota_bench.py).

- idle cost: Gmail requests and units per idle account in an incremental run;
- fleet: one run over 1,000 accounts with 5 new messages each (50 ms latency, the 2026 quota);
- raw pipeline: 20,000 messages with quota and latency off, beside the sandbox's own
  serving rate and Postgres COPY of the same rows; the sync process's peak RSS.

The sandbox and each `jessie sync` run in their own processes, as in production.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from cryptography.fernet import Fernet

from app.data.accounts import connect_account
from app.db.embedded import embedded_database_url, stop_embedded
from app.db.migrate import migrate
from app.security import TokenCipher
from sandbox.gmail import environment_for

from .harness import admin, sandbox_process


class Bench:
    """A fresh database and the environment a `jessie sync` process needs."""

    def __init__(self, root: Path, sandbox_url: str, database: str) -> None:
        admin_url = embedded_database_url(root)
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"create database {database}")
        self.url = psycopg.conninfo.make_conninfo(admin_url, dbname=database)
        with psycopg.connect(self.url) as conn:
            migrate(conn)
        self.key = Fernet.generate_key().decode()
        self.sandbox = sandbox_url
        self.env = {
            **os.environ,
            "DATABASE_URL": self.url,
            "JESSIE_DATA_DIR": str(root),
            **environment_for(sandbox_url),
            "JESSIE_ENCRYPTION_KEY": self.key,
            "VERCEL_ENV": "development",
        }

    def accounts(self, count: int, messages: int, prefix: str, **mailbox: object) -> list[str]:
        emails = [f"{prefix}{index}@example.com" for index in range(count)]
        cipher = TokenCipher([self.key])
        with psycopg.connect(self.url) as conn:
            for index, email in enumerate(emails):
                created = admin(
                    self.sandbox, "POST", "/accounts", email=email, messages=messages, seed=index, **mailbox
                )
                connect_account(conn, cipher, email, str(created["refresh_token"]))
        return emails

    def sync(self, **env: str) -> dict[str, Any]:
        """One `jessie sync` process; its JSON summary plus its peak RSS."""
        result = subprocess.run(
            [sys.executable, "-m", "bench.peak_rss", "sync", "--json", "--budget", "3000"],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            check=True,
        )
        summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
        summary["peak_rss_mb"] = json.loads(result.stderr.strip().splitlines()[-1])["peak_rss_mb"]
        return summary


def fleet(root: Path, accounts: int = 1000, new_messages: int = 5) -> dict[str, float]:
    with sandbox_process("--latency-ms", "50") as url:
        bench = Bench(root, url, "fleet")
        emails = bench.accounts(accounts, 5, "fleet")
        first = bench.sync()
        admin(url, "DELETE", "/stats")
        idle = bench.sync()
        idle_stats = admin(url, "GET", "/stats")["accounts"]
        for email in emails:
            admin(url, "POST", f"/accounts/{email}/messages", count=new_messages)
        busy = bench.sync()
    assert busy["messages_added"] == accounts * new_messages, busy
    requests = sum(stats["requests"] for stats in idle_stats.values())
    units = sum(stats["quota_units"] for stats in idle_stats.values())
    return {
        "fleet_seconds": round(busy["duration_ms"] / 1000, 1),
        "fleet_accounts": accounts,
        "fleet_first_sync_seconds": round(first["duration_ms"] / 1000, 1),
        "idle_requests_per_account": round(requests / accounts, 3),
        "idle_units_per_account": round(units / accounts, 3),
        "idle_run_seconds": round(idle["duration_ms"] / 1000, 1),
    }


def raw_pipeline(root: Path, messages: int = 20_000) -> dict[str, float]:
    with sandbox_process("--quota", "0") as url:
        bench = Bench(root, url, "raw")
        bench.accounts(1, messages, "raw")
        summary = bench.sync(JESSIE_QUOTA_UNITS_PER_SECOND="0")
    sync_rate = summary["messages_added"] / (summary["duration_ms"] / 1000)
    copy_rate = _copy_rows_per_second(bench.url)
    return {
        "raw_messages_per_second": round(sync_rate),
        "copy_rows_per_second": round(copy_rate),
        "raw_to_copy_ratio": round(sync_rate / copy_rate, 3),
        "peak_rss_mb": summary["peak_rss_mb"],
    }


def large_mail(root: Path) -> dict[str, float]:
    """A first sync with 25 MB and 2 MB messages among ordinary mail: the sync's peak memory
    (format=full leaves attachment data out; the size census still keeps the largest alone)."""
    with sandbox_process("--quota", "0") as url:
        bench = Bench(root, url, "large")
        (email,) = bench.accounts(1, 300, "large")
        admin(url, "POST", f"/accounts/{email}/messages", count=4, attachment_bytes=25_000_000)
        admin(url, "POST", f"/accounts/{email}/messages", count=12, attachment_bytes=2_000_000)
        summary = bench.sync(JESSIE_QUOTA_UNITS_PER_SECOND="0")
        stats = admin(url, "GET", "/stats")["accounts"][email]
    assert summary["messages_added"] == 316, summary
    return {
        "large_mail_peak_rss_mb": summary["peak_rss_mb"],
        "large_mail_largest_batch_mb": round(stats["largest_batch_bytes"] / 1e6, 1),
        "large_mail_seconds": round(summary["duration_ms"] / 1000, 1),
    }


def _copy_rows_per_second(url: str) -> float:
    """Postgres COPY of the very rows the sync wrote, into an identical table: the write-path limit."""
    columns = (
        "account_id, gmail_id, thread_id, label_ids, internal_date, history_id, size_estimate, subject, sender, "
        "recipients, snippet, body_text, body_truncated, attachments, parse_error, seen_generation"
    )
    with psycopg.connect(url) as conn:
        readable = columns.replace("attachments", "attachments::text")  # jsonb travels as text
        rows = conn.execute(f"select {readable} from jessie.messages").fetchall()  # noqa: S608 -- constant columns
        conn.execute("create table jessie.copy_target (like jessie.messages including all)")
        started = time.perf_counter()
        with conn.cursor().copy(f"copy jessie.copy_target ({columns}) from stdin") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return len(rows) / (time.perf_counter() - started)


def measure() -> dict[str, float]:
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="jessie-bench-") as directory:
        root = Path(directory)
        try:
            for part in (raw_pipeline, large_mail, fleet):
                result = part(root)
                print(f"{part.__name__}: {json.dumps(result)}", flush=True)
                figures.update(result)
        finally:
            stop_embedded(root)  # before its data directory goes
    return figures
