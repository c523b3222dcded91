"""The hourly sweep on the local Vercel: Jessie built by the pinned CLI and deployed to Production;
the cron invocation publishes worker seats to Vercel Queues (the queue SDK's embedded server),
which pushes them to the consumer function, whose invocations run in parallel as Vercel runs
them. Every account is synced exactly once, within the connection budget (counted on the
server); a repeated cron publishes nothing new; invocations killed mid-account lose and
duplicate nothing, and their seats, delivered again, finish the sweep."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
import requests

from app.db.connection import Database
from tests.integration.sync_helpers import assert_exact_copy, until
from tests.integration.vercel_helpers import DeployedJessie, deployed_jessie
from tests.processes import leftovers

pytestmark = pytest.mark.timeout(900)
MAX_DURATION_S = 120
ACCOUNTS = [f"user{n:03}@example.com" for n in range(240)]
BUDGET = 15  # connections: three invocations of 2 workers (2 + 2 + the probe each)
ENV = {
    "JESSIE_SYNC_CONCURRENCY": "2",
    "JESSIE_DB_CONNECTION_BUDGET": str(BUDGET),
    "JESSIE_SWEEP_ACCOUNTS_PER_INVOCATION": "40",  # 240 due accounts want 6 invocations; 3 fit the budget
    "JESSIE_FUNCTION_MAX_DURATION": str(MAX_DURATION_S),
    "JESSIE_LEASE_SECONDS": "2",
    "JESSIE_QUOTA_UNITS_PER_SECOND": "0",
}
RETRY_AFTER_S = 3  # past the leases: a killed run's seat and accounts are free when its message is back


@pytest.fixture(scope="module")
def deployed(
    postgres_admin_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DeployedJessie]:
    with deployed_jessie(postgres_admin_url, template_database, tmp_path_factory, ENV) as jessie:
        jessie.deploy(tmp_path_factory, MAX_DURATION_S, {"retryAfterSeconds": RETRY_AFTER_S})
        for number, email in enumerate(ACCOUNTS):
            created = jessie.sandbox.create_account(email, messages=2, seed=number)
            jessie.connect_account(email, created["refresh_token"])
        yield jessie


@contextmanager
def most_connections(database_url: str) -> Iterator[list[int]]:
    """The most client connections the server held for this database while the block ran."""
    seen = [0]
    stop = threading.Event()

    def sample() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            while not stop.wait(0.02):  # a sampling interval, not a wait for anything
                row = conn.execute(
                    """select count(*) from pg_stat_activity
                       where datname = current_database() and pid <> pg_backend_pid()"""
                ).fetchone()
                seen[0] = max(seen[0], int(row[0]) if row else 0)

    sampler = threading.Thread(target=sample, name="connections")
    sampler.start()
    try:
        yield seen
    finally:
        stop.set()
        sampler.join()


def _exact(jessie: DeployedJessie) -> None:
    with Database(jessie.database_url, 2) as pool:
        for email in ACCOUNTS:
            assert_exact_copy(pool, jessie.sandbox, email)


def test_a_sweep_over_the_queue_syncs_each_account_once_in_parallel_invocations(deployed: DeployedJessie) -> None:
    deployed.sandbox.admin("PUT", "/faults", latency_ms=40)  # Gmail answers in 40 ms: work to share
    with most_connections(deployed.database_url) as most:
        answer = deployed.cron()
        assert answer.status_code == 200, answer.text
        deployed.settle_queue(MAX_DURATION_S)
    assert deployed.query("select due_accounts, invocations_planned, invocations_started from jessie.sweeps") == [
        (240, 3, 3)  # the cron's own invocation and two seats on the queue
    ]
    messages = deployed.queue_messages()
    assert [m["deliveries"] for m in messages] == [{"api_Squeue_Ssweep_Dpy": 1}] * 2
    assert {m["deployment"] for m in messages} == {deployed.deployment_id}
    runs = deployed.query("select trigger, status, accounts_ok from jessie.sync_runs order by id")
    # In whatever order they recorded themselves (with Fluid compute a seat may start first).
    assert sorted((trigger, status) for trigger, status, _ in runs) == [
        ("cron", "ok"),
        ("sweep-worker", "ok"),
        ("sweep-worker", "ok"),
    ]
    assert all(ok > 0 for *_, ok in runs), runs  # the work was shared
    assert sum(ok for *_, ok in runs) == 240
    once = deployed.query("select count(distinct account_id), count(*) from jessie.sync_run_accounts")
    assert once == [(240, 240)]
    assert 0 < most[0] <= BUDGET, most
    consumer = deployed.vercel.runtime.pools[deployed.deployment_id or ""]["/api/queue/sweep"]
    assert (consumer.invocations, consumer.cold_starts, consumer.most_concurrent) == (2, 1, 2)  # Fluid: one instance
    _exact(deployed)

    again = deployed.cron()  # Vercel delivers a cron twice, now and then
    assert again.status_code == 200 and again.json()["sweep"]["begun"] is False
    deployed.settle_queue(MAX_DURATION_S)
    assert len(deployed.queue_messages()) == 2  # the same seats, under the same idempotency keys: nothing new
    assert deployed.query("select count(*) from jessie.sync_runs where trigger = 'sweep-worker'") == [(2,)]
    assert deployed.query("select invocations_started from jessie.sweeps") == [(3,)]


def test_killed_deliveries_are_delivered_again_and_finish_the_sweep_exactly(deployed: DeployedJessie) -> None:
    for email in ACCOUNTS:
        deployed.sandbox.admin("POST", f"/accounts/{email}/messages", count=3)
    deployed.sandbox.admin("PUT", "/faults", latency_ms=150)
    _next_hour(deployed)
    seen = len(deployed.queue_messages())
    cron: list[requests.Response] = []
    calling = threading.Thread(target=lambda: cron.append(deployed.cron()))
    calling.start()
    mid_account = """select count(distinct run_id) from jessie.sync_run_accounts r join jessie.sync_runs s
                     on s.id = r.run_id where r.status = 'running' and s.trigger = 'sweep-worker'"""
    until(lambda: deployed.query(mid_account)[0][0] == 2, "both seats mid-account", timeout_s=MAX_DURATION_S)
    instances = [p for p in leftovers(str(deployed.vercel.root / "runtime")) if "python" in p.command]
    assert instances
    for process in instances:  # the runtime dies under every invocation at once, the cron's too
        os.kill(process.pid, signal.SIGKILL)
    calling.join()
    assert (cron[0].status_code, cron[0].headers["x-vercel-error"]) == (500, "FUNCTION_INVOCATION_FAILED")
    deployed.sandbox.admin("PUT", "/faults", latency_ms=0)

    deployed.settle_queue(MAX_DURATION_S)  # no cron: the seats come back by themselves
    fresh = deployed.queue_messages()[seen:]
    assert [m["deliveries"] for m in fresh] == [{"api_Squeue_Ssweep_Dpy": 2}] * 2
    assert all(m["done"] for m in fresh)
    statuses = dict(deployed.query("select status, count(*) from jessie.sync_runs group by status"))
    assert statuses.get("abandoned", 0) >= 3  # the killed invocations, recorded as such
    redelivered = deployed.query(
        """select count(*), bool_and(status = 'ok') from jessie.sync_runs
           where sweep_id = (select max(id) from jessie.sweeps)
             and trigger = 'sweep-worker' and status <> 'abandoned'"""
    )
    assert redelivered == [(2, True)]
    _exact(deployed)  # what the dead runs left, the redelivered seats finished, in the same slot


def _next_hour(jessie: DeployedJessie) -> None:
    """An hour passes for the schedule: the sweeps so far belong to earlier slots."""
    with psycopg.connect(jessie.database_url) as conn:
        conn.execute(
            "update jessie.sweeps set slot = slot - interval '1 hour', started_at = started_at - interval '1 hour'"
        )
