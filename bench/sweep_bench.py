"""The sweep's figures: how fast parallel invocations work one lease queue, and what a claim costs.

- Throughput: an established fleet (accounts in incremental sync, 99 % idle, 1 % with 5 new
  messages; the sandbox with 50 ms latency and the 2026 quota model) swept by 1, 2, 4 and 8
  `jessie sync` processes at once, as parallel invocations share the queue. The sandbox serves
  every account from one process, so the fleet here is SWEPT_ACCOUNTS; the figure is accounts
  a second, and from the rate of one process, how many 255 s invocations an hourly sweep of
  100,000 accounts needs. The sandbox's and Postgres's CPU time are reported as their share of
  the wall time (1.0 = one core busy throughout), beside the sync processes' own.
- Co-located: the same sweep by 2, 4 and 8 runs in one process sharing its pool (Fluid compute
  puts concurrent invocations in one instance: one process, one interpreter, its cores), beside
  the spread figure of as many processes.
- Claims: `claim_next` on a queue of 100,000 accounts, each claim followed by the release a
  finished account gets, so the due set shrinks as in a sweep.
"""

from __future__ import annotations

import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from app.db.embedded import embedded_database_url, stop_embedded
from app.security import TokenCipher
from app.sync import runs

from .harness import admin, sandbox_process
from .sync_bench import Bench

SWEPT_ACCOUNTS = 4_000
BUSY_EVERY = 100  # 1 % of accounts have new mail
NEW_MESSAGES = 5
WORKER_PROCESSES = [1, 2, 4, 8]
CO_LOCATED_RUNS = [2, 4, 8]
QUEUE_ACCOUNTS = 100_000
CLAIMS = 2_000
FLEET = 100_000
INVOCATION_BUDGET_S = 255


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu_seconds(pid: int, with_children: bool = False) -> float:
    """A process's CPU time; with its children's: the finished ones it waited for and the live ones."""
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        fields = _stat(pid)
    except OSError:
        return 0.0
    total = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    if with_children:
        total += (int(fields[13]) + int(fields[14])) / ticks  # cutime + cstime
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    child = _stat(int(entry.name))
                except OSError:
                    continue
                if int(child[1]) == pid:
                    total += (int(child[11]) + int(child[12])) / ticks
    return total


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _postmaster(root: Path) -> int:
    """The embedded Postgres's postmaster (its backends are its children)."""
    return int((root / "postgres" / "postmaster.pid").read_text().split()[0])


def established_fleet(database_url: str, key: str, sandbox_url: str, count: int) -> list[str]:
    """Accounts already past their first sync: incremental from the sandbox's current history id."""
    emails = [f"sweep{index}@example.com" for index in range(count)]
    cipher = TokenCipher([key])
    with psycopg.connect(database_url) as conn:
        for index, email in enumerate(emails):
            created = admin(sandbox_url, "POST", "/accounts", email=email, messages=0, seed=index)
            conn.execute(
                """insert into jessie.accounts (email, refresh_token_encrypted, history_id, sync_state,
                       labels_synced_at, last_sync_finished_at)
                   values (%s, %s, %s, 'incremental', now(), now() - interval '1 hour')""",
                [email, cipher.encrypt(str(created["refresh_token"])), int(str(created["history_id"]))],
            )
    return emails


def _sweep(bench: Bench, processes: int, sandbox_pid: int, root: Path, co_located: bool = False) -> dict[str, float]:
    """`processes` sync processes at once, or (`co_located`) that many runs in one process."""
    env = bench.env
    command = [sys.executable, "-m", "app.cli", "sync", "--json", "--budget", "3000"]
    if co_located:
        command, processes = [sys.executable, "-m", "bench.colocated", str(processes)], 1
    postgres = _postmaster(root)
    sandbox_cpu, postgres_cpu = _cpu_seconds(sandbox_pid), _cpu_seconds(postgres, with_children=True)
    clients_cpu = _children_cpu()
    started = time.perf_counter()
    workers = [
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(processes)
    ]
    try:
        codes = [worker.wait() for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    wall = time.perf_counter() - started
    assert codes == [0] * processes, codes
    with psycopg.connect(bench.url) as conn:
        row = conn.execute(
            "select count(*) from jessie.accounts where last_sync_finished_at > now() - make_interval(secs => %s)",
            [wall + 1],
        ).fetchone()
    synced = int(row[0]) if row else 0
    assert synced == SWEPT_ACCOUNTS, synced
    return {
        "accounts_per_second": round(synced / wall, 1),
        "sandbox_cpu_share": round((_cpu_seconds(sandbox_pid) - sandbox_cpu) / wall, 2),
        "postgres_cpu_share": round((_cpu_seconds(postgres, with_children=True) - postgres_cpu) / wall, 2),
        "sync_processes_cpu_share": round((_children_cpu() - clients_cpu) / wall, 2),
    }


def throughput(root: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with sandbox_process("--latency-ms", "50") as url:
        bench = Bench(root, url, "sweep")
        emails = established_fleet(bench.url, bench.key, bench.sandbox, SWEPT_ACCOUNTS)
        for processes in WORKER_PROCESSES:
            for email in emails[::BUSY_EVERY]:
                admin(url, "POST", f"/accounts/{email}/messages", count=NEW_MESSAGES)
            result = _sweep(bench, processes, url.pid, root)
            for key, value in result.items():
                figures[f"sweep_{key}_{processes}_workers"] = value
        for runs_at_once in CO_LOCATED_RUNS:
            for email in emails[::BUSY_EVERY]:
                admin(url, "POST", f"/accounts/{email}/messages", count=NEW_MESSAGES)
            result = _sweep(bench, runs_at_once, url.pid, root, co_located=True)
            for key, value in result.items():
                figures[f"sweep_{key}_{runs_at_once}_runs_co_located"] = value
    one = figures["sweep_accounts_per_second_1_workers"]
    figures["sweep_invocations_for_100k_accounts_an_hour"] = math.ceil(FLEET / (one * INVOCATION_BUDGET_S))
    return figures


def claims(root: Path) -> dict[str, float]:
    admin_url = embedded_database_url(root)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("create database claims")
    url = psycopg.conninfo.make_conninfo(admin_url, dbname="claims")
    from app.db.migrate import migrate

    with psycopg.connect(url) as conn:
        migrate(conn)
        conn.execute(
            """insert into jessie.accounts (email, refresh_token_encrypted, sync_state, last_sync_finished_at)
               select 'queue' || i || '@example.com', 'x', 'incremental', now() - make_interval(secs => i)
               from generate_series(1, %s) i""",
            [QUEUE_ACCOUNTS],
        )
        run_id, started = runs.create_run(conn, "bench", 3600)
        conn.commit()
        conn.execute("analyze jessie.accounts")
        timings = []
        for _ in range(CLAIMS):
            begun = time.perf_counter()
            account = runs.claim_next(conn, run_id, started, 30, None)
            conn.commit()
            timings.append((time.perf_counter() - begun) * 1000)
            assert account is not None
            runs.release(conn, account.id, run_id, "ok", None)
            conn.commit()
    timings.sort()
    return {
        "claim_ms_p50": round(statistics.median(timings), 2),
        "claim_ms_p99": round(timings[int(len(timings) * 0.99) - 1], 2),
    }


def measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="jessie-sweep-bench-") as directory:
        root = Path(directory)
        try:
            return {**claims(root), **throughput(root)}
        finally:
            stop_embedded(root)
