"""The hourly sweep over Vercel Queues, on the local Vercel: Jessie built by the pinned CLI and
deployed to Production, its cron publishing seats that the queue SDK's embedded server pushes
to the consumer function with 1, 2 and 4 at once (the trigger's maxConcurrency, and as many
seats planned). The fleet is established (incremental sync, 1 % with 5 new messages; the sandbox
with 50 ms latency, the 2026 quota model), as in sweep_bench.py.

Reported per configuration: accounts a second from the cron call until the queue and every run
are done (the cron's own invocation works the sweep too), the queue operations the sweep made and
what Vercel bills for them ($0.60 a million; sends with an idempotency key and push deliveries
to a consumer with a max concurrency count twice), and how many instances served the consumer.
From the one-seat rate per invocation: the concurrent invocations an hourly sweep of 100,000 and
1,000,000 accounts needs, with what each would ask of the database, the Google token endpoint
and Gmail's per-project quota. The self-POST fan-out the queue replaced is gone from the code, so
its figures (the sweep bench's spread processes) are the reference, not a run beside this one.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from app.config import Settings
from app.db.embedded import embedded_database_url, stop_embedded
from app.db.migrate import migrate
from tests.integration.vercel_helpers import DeployedJessie, deployed_jessie

from .sweep_bench import BUSY_EVERY, INVOCATION_BUDGET_S, NEW_MESSAGES, SWEPT_ACCOUNTS, established_fleet

ACCOUNTS = SWEPT_ACCOUNTS  # as many as the spread and co-located sweeps, to set them side by side
CONSUMERS = [1, 2, 4]
PRICE_PER_OPERATION = 0.60 / 1_000_000
DOUBLED = {"send", "receive"}  # sends carry an idempotency key; the consumer has a max concurrency
FLEETS = [100_000, 1_000_000]
GMAIL_PROJECT_UNITS_PER_MINUTE = 1_200_000


class _Temp:
    """What deployed_jessie asks of pytest's tmp_path_factory: fresh folders under one root."""

    def __init__(self, root: Path) -> None:
        self.root, self.count = root, 0

    def mktemp(self, name: str) -> Path:
        self.count += 1
        folder = self.root / f"{name}{self.count}"
        folder.mkdir()
        return folder


def _sweep(jessie: DeployedJessie, emails: list[str], consumers: int) -> dict[str, Any]:
    for email in emails[::BUSY_EVERY]:
        jessie.sandbox.admin("POST", f"/accounts/{email}/messages", count=NEW_MESSAGES)
    with psycopg.connect(jessie.database_url) as conn:  # an hour passes: a new slot, every account due
        conn.execute("update jessie.sweeps set slot = slot - interval '1 hour'")
        conn.execute("update jessie.accounts set last_sync_finished_at = now() - interval '1 hour'")
    runtime = jessie.vercel.runtime
    before = runtime.on_loop(lambda: dict(runtime.queues.operations))
    tokens_before = sum(jessie.sandbox.state.oauth.token_requests.values())
    started = time.perf_counter()
    answer = jessie.cron()
    assert answer.status_code == 200, answer.text
    jessie.settle_queue(timeout_s=900)
    wall = time.perf_counter() - started
    after = runtime.on_loop(lambda: dict(runtime.queues.operations))
    operations = {kind: after[kind] - before.get(kind, 0) for kind in after if after[kind] - before.get(kind, 0)}
    billed = sum(count * (2 if kind in DOUBLED else 1) for kind, count in operations.items())
    runs = jessie.query(
        """select count(*), sum(accounts_ok), sum(quota_units) from jessie.sync_runs
           where sweep_id = (select max(id) from jessie.sweeps)"""
    )[0]
    assert runs[1] == len(emails), runs
    consumer = next(p for name, p in jessie.vercel.runtime.pools[jessie.deployment_id or ""].items() if "queue" in name)
    return {
        f"queue_sweep_accounts_per_second_{consumers}_consumers": round(len(emails) / wall, 1),
        f"queue_sweep_invocations_{consumers}_consumers": int(runs[0]),
        f"queue_sweep_operations_{consumers}_consumers": sum(operations.values()),
        f"queue_sweep_billed_operations_{consumers}_consumers": billed,
        f"queue_sweep_operations_kinds_{consumers}_consumers": operations,
        f"queue_sweep_consumer_instances_{consumers}_consumers": consumer.cold_starts,
        f"queue_sweep_units_per_account_{consumers}_consumers": round(int(runs[2]) / len(emails), 2),
        f"queue_sweep_token_requests_per_account_{consumers}_consumers": round(
            (sum(jessie.sandbox.state.oauth.token_requests.values()) - tokens_before) / len(emails), 2
        ),
    }


def _projections(figures: dict[str, Any]) -> dict[str, Any]:
    """What an hourly sweep of FLEETS accounts asks for, at the one-seat rate per invocation."""
    per_invocation = figures["queue_sweep_accounts_per_second_1_consumers"] / 2  # the cron's and one seat
    defaults = Settings.model_construct()
    units = figures["queue_sweep_units_per_account_1_consumers"]
    tokens = figures["queue_sweep_token_requests_per_account_1_consumers"]
    projected: dict[str, Any] = {
        "queue_sweep_accounts_per_second_per_invocation": round(per_invocation, 1),
        "queue_sweep_most_accounts_per_slot_at_default_limits": int(
            min(defaults.sweep_max_invocations, defaults.max_live_runs) * per_invocation * INVOCATION_BUDGET_S
        ),
    }
    for fleet in FLEETS:
        invocations = math.ceil(fleet / (per_invocation * INVOCATION_BUDGET_S))
        projected[f"queue_sweep_{fleet}_concurrent_invocations"] = invocations
        projected[f"queue_sweep_{fleet}_database_connections"] = invocations * defaults.connections_per_invocation
        projected[f"queue_sweep_{fleet}_token_requests_per_second"] = round(fleet * tokens / INVOCATION_BUDGET_S)
        projected[f"queue_sweep_{fleet}_gmail_units_per_minute"] = round(fleet * units / (INVOCATION_BUDGET_S / 60))
        projected[f"queue_sweep_{fleet}_share_of_project_quota"] = round(
            fleet * units / (INVOCATION_BUDGET_S / 60) / GMAIL_PROJECT_UNITS_PER_MINUTE, 3
        )
    return projected


def measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="jessie-queue-bench-") as directory:
        root = Path(directory)
        try:
            admin_url = embedded_database_url(root)
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute("create database queue_template")
            with psycopg.connect(psycopg.conninfo.make_conninfo(admin_url, dbname="queue_template")) as conn:
                migrate(conn)
            figures: dict[str, Any] = {}
            temp = _Temp(root)
            with deployed_jessie(admin_url, "queue_template", temp, {}) as jessie:  # type: ignore[arg-type]
                emails = established_fleet(
                    jessie.database_url, jessie.env["JESSIE_ENCRYPTION_KEY"], jessie.sandbox.url, ACCOUNTS
                )
                jessie.sandbox.admin("PUT", "/faults", latency_ms=50)
                for consumers in CONSUMERS:
                    jessie.env.update(
                        {
                            "JESSIE_SWEEP_ACCOUNTS_PER_INVOCATION": "1",
                            "JESSIE_SWEEP_MAX_INVOCATIONS": str(consumers + 1),  # the cron's and the seats
                        }
                    )
                    jessie.deploy(temp, 300, {"maxConcurrency": consumers})  # type: ignore[arg-type]
                    jessie.client.session.close()  # a kept-alive connection still reaches the last deployment
                    figures.update(_sweep(jessie, emails, consumers))
            monthly = figures["queue_sweep_billed_operations_4_consumers"] * 24 * 30 * PRICE_PER_OPERATION
            figures["queue_sweep_dollars_a_month_hourly_4_consumers"] = round(monthly, 4)
            return {**figures, **_projections(figures)}
        finally:
            stop_embedded(root)
