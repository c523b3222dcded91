"""The hourly sweep in one process: the cron begins a sweep and starts worker invocations over
HTTP (here, calls to the same loopback server), a repeated delivery only joins, the worker
endpoint is as closed as the cron, and the connection budget refuses a seat."""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from app.config import Settings
from app.sync import sweep
from tests.conftest import Sandbox, make_settings
from tests.integration.sync_helpers import add_account, assert_exact_copy, query, until
from tests.integration.test_sync_runs import jessie_env
from tests.integration.web_helpers import Web, serve

CRON = "/api/cron/email-sync"
WORKER = "/api/cron/sweep-worker"
BEARER = {"Authorization": "Bearer test-cron-secret"}
PEOPLE = [f"user{n}@example.com" for n in range(6)]


def _settled(web: Web) -> None:
    """Until every run has ended: the workers answer their callers only when they finish."""
    running = "select count(*) from jessie.sync_runs where status = 'running'"
    until(lambda: query(web.pool, running) == [(0,)], "every run to end", timeout_s=120)


@pytest.fixture
def swept(database_url: str, sandbox: Sandbox, tmp_path: Path) -> Iterator[Web]:
    settings = make_settings(database_url, sandbox.url, tmp_path, sweep_accounts_per_invocation=2)
    for running in serve(settings):
        for number, email in enumerate(PEOPLE):
            add_account(sandbox, running.pool, settings, email, messages=3, seed=number)
        yield running


def test_a_sweep_fans_out_and_syncs_every_account_once(swept: Web, sandbox: Sandbox) -> None:
    answer = requests.get(swept.url + CRON, headers=BEARER, timeout=120)
    assert answer.status_code == 200, answer.text
    assert answer.json()["sweep"]["begun"] is True and answer.json()["sweep"]["due"] == 6
    _settled(swept)
    assert query(swept.pool, "select due_accounts, invocations_planned, invocations_started from jessie.sweeps") == [
        (6, 3, 3)  # the cron's own invocation and two workers
    ]
    runs = query(swept.pool, "select trigger, status from jessie.sync_runs order by id")
    assert sorted(runs) == [("cron", "ok"), ("sweep-worker", "ok"), ("sweep-worker", "ok")]
    synced = query(
        swept.pool,
        """select a.email, count(*) from jessie.sync_run_accounts r join jessie.accounts a on a.id = r.account_id
           group by a.email""",
    )
    assert sorted(synced) == [(email, 1) for email in sorted(PEOPLE)]
    for email in PEOPLE:
        assert_exact_copy(swept.pool, sandbox, email)
    shown = subprocess.run(
        [sys.executable, "-m", "app.cli", "runs", "--invocations"],
        env=jessie_env(swept.app.state.settings),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert shown[1].split()[:3] == ["sweep", "1", "sweep"]
    invocations = sorted(tuple(line.split()[:3:2]) for line in shown[2:])  # (kind, trigger), in any order
    assert invocations == [("invocation", "cron"), ("invocation", "sweep-worker"), ("invocation", "sweep-worker")]


def test_a_repeated_cron_delivery_joins_the_sweep_and_starts_nothing(swept: Web) -> None:
    first = requests.get(swept.url + CRON, headers=BEARER, timeout=120).json()
    _settled(swept)
    again = requests.get(swept.url + CRON, headers=BEARER, timeout=120).json()
    assert again["sweep"] == {"id": first["sweep"]["id"], "begun": False, "due": 6}
    assert again["run"]["accounts_ok"] == 0  # everything was synced since the sweep began
    assert query(swept.pool, "select count(*), sum(invocations_started)::int from jessie.sweeps") == [(1, 3)]
    assert query(swept.pool, "select count(*) from jessie.sync_runs where trigger = 'sweep-worker'") == [(2,)]


def test_the_worker_endpoint_is_closed_and_does_only_the_current_sweep(swept: Web) -> None:
    assert requests.post(swept.url + WORKER + "?sweep=1", timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer not-the-secret"}
    assert requests.post(swept.url + WORKER + "?sweep=1", headers=wrong, timeout=10).status_code == 401
    assert requests.post(swept.url + WORKER + "?sweep=abc", timeout=10).status_code == 401  # the secret first
    for not_an_id in ("abc", "%EF%BC%91", "+1", "%201", "1_0", "0", str(2**63), ""):  # %EF%BC%91: a fullwidth 1
        refused = requests.post(f"{swept.url}{WORKER}?sweep={not_an_id}", headers=BEARER, timeout=10)
        assert refused.status_code == 400, not_an_id
    assert requests.post(swept.url + WORKER, headers=BEARER, timeout=10).status_code == 400
    assert requests.post(swept.url + WORKER + "?sweep=999", headers=BEARER, timeout=10).status_code == 409
    with swept.pool.connection() as conn:  # last hour's sweep
        conn.execute("insert into jessie.sweeps (slot) values (date_trunc('hour', now()) - interval '1 hour')")
    old = query(swept.pool, "select id from jessie.sweeps")[0][0]
    assert requests.post(f"{swept.url}{WORKER}?sweep={old}", headers=BEARER, timeout=10).status_code == 409
    assert query(swept.pool, "select count(*) from jessie.sync_runs") == [(0,)]


def test_no_seat_beyond_the_connection_budget(database_url: str, sandbox: Sandbox, tmp_path: Path) -> None:
    # 8 workers + 2 + the probe: 11 connections a sync invocation; a budget of 21 seats one run.
    settings: Settings = make_settings(database_url, sandbox.url, tmp_path, db_connection_budget=21)
    for running in serve(settings):
        add_account(sandbox, running.pool, settings, PEOPLE[0], messages=1)
        with running.pool.connection() as conn:  # another invocation's run, alive
            conn.execute(
                """insert into jessie.sync_runs (trigger, deadline_at, connections)
                   values ('sweep-worker', now(), 11)"""
            )
        refused = requests.get(running.url + CRON, headers=BEARER, timeout=60)
        assert refused.status_code == 503 and "No seat" in refused.json()["message"]
        assert query(running.pool, "select count(*) from jessie.sync_runs") == [(1,)]
        with running.pool.connection() as conn:  # that run ended
            conn.execute("update jessie.sync_runs set status = 'ok'")
        assert requests.get(running.url + CRON, headers=BEARER, timeout=60).status_code == 200
        assert query(running.pool, "select count(*) from jessie.sync_run_accounts") == [(1,)]


def test_co_located_runs_share_a_grown_pool_and_count_real_connections(
    database_url: str, postgres_admin_url: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    """Fluid compute: two sweep invocations in one process share its pool. The first adds 11
    connections (8 workers, 2 more, the probe), the second 8; under a role whose CONNECTION
    LIMIT is the budget (19), a third run, co-located (8) or in a process of its own (11), has
    no seat, and the two runs never open more connections than Postgres allows."""
    import threading

    import psycopg
    import psycopg.conninfo

    from app.db.connection import open_pool
    from app.sync.runner import run_sync
    from app.sync.runs import NoSeat

    role = f"budget_{secrets.token_hex(4)}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f"create role {role} login bypassrls password 'budget' connection limit 19")
        admin.execute(f"grant usage on schema jessie to {role}")
        admin.execute(f"grant all on all tables in schema jessie to {role}")
        admin.execute(f"grant all on all sequences in schema jessie to {role}")
    limited = psycopg.conninfo.make_conninfo(database_url, user=role, password="budget")
    settings = make_settings(limited, sandbox.url, tmp_path, db_connection_budget=19)
    with open_pool(settings, size=settings.sync_pool_size) as pool:
        for number, email in enumerate(PEOPLE[:2]):
            add_account(sandbox, pool, settings, email, messages=3, seed=number)
        sweep_id = query(pool, "insert into jessie.sweeps (slot) values (now()) returning id")[0][0]
        sandbox.admin("PUT", "/faults", stall_after_requests=1)  # the runs' Gmail calls wait
        results: list[object] = []

        def worker() -> None:
            results.append(run_sync("sweep-worker", 60, settings=settings, pool=pool, sweep_id=sweep_id))

        threads = [threading.Thread(target=worker) for _ in range(2)]
        threads[0].start()
        assert sandbox.server.stalled.wait(timeout=60)
        threads[1].start()
        live = "select count(*), sum(connections) from jessie.sync_runs where status = 'running'"
        until(lambda: query(pool, live) == [(2, 19)], "both runs to take their seats")
        assert pool.size == settings.sync_pool_size + settings.sync_concurrency  # grown for the second
        with pytest.raises(NoSeat, match="hold 19 database connections; 8 more"):
            run_sync("sweep-worker", 60, settings=settings, pool=pool, sweep_id=sweep_id)
        with pytest.raises(NoSeat, match="11 more"):
            run_sync("sweep-worker", 60, settings=settings, sweep_id=sweep_id)  # a process of its own
        sandbox.admin("PUT", "/faults", stall_after_requests=0)
        for thread in threads:
            thread.join(timeout=120)
        assert [getattr(r, "status", None) for r in results] == ["ok", "ok"]
        assert pool.size == settings.sync_pool_size  # shrunk back
        for email in PEOPLE[:2]:
            assert_exact_copy(pool, sandbox, email)


def test_lost_worker_calls_cost_parallelism_not_mail(database_url: str, sandbox: Sandbox, tmp_path: Path) -> None:
    """Every call to start a worker fails (the deployment URL does not answer): the cron's own
    invocation works the whole queue."""
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        nowhere = f"127.0.0.1:{closed.getsockname()[1]}"
    settings = make_settings(database_url, sandbox.url, tmp_path, sweep_accounts_per_invocation=2, vercel_url=nowhere)
    for running in serve(settings):
        for number, email in enumerate(PEOPLE):
            add_account(sandbox, running.pool, settings, email, messages=3, seed=number)
        answer = requests.get(running.url + CRON, headers=BEARER, timeout=120)
        assert answer.status_code == 200 and answer.json()["run"]["accounts_ok"] == 6
        assert query(running.pool, "select invocations_planned, invocations_started from jessie.sweeps") == [(3, 1)]
        for email in PEOPLE:
            assert_exact_copy(running.pool, sandbox, email)


def _killed_mid_sweep(web: Web, lease_s: float) -> int:
    """What a kill -9 mid-sweep leaves: the slot's sweep begun, its run 'running' with a heartbeat
    a moment old, and every account leased to it (the leases outlive the process until they lapse)."""
    settings = web.app.state.settings
    slot = sweep.slot_of(datetime.now(UTC), settings.cron_interval_minutes)
    with web.pool.connection() as conn:
        sweep_id = conn.execute("insert into jessie.sweeps (slot) values (%s) returning id", [slot]).fetchone()[0]
        run_id = conn.execute(
            """insert into jessie.sync_runs (trigger, deadline_at, sweep_id)
               values ('cron', now() + interval '4 minutes', %s) returning id""",
            [sweep_id],
        ).fetchone()[0]
        conn.execute(
            """update jessie.accounts set lease_run_id = %s, lease_expires_at = now() + make_interval(secs => %s),
                   last_sync_started_at = now()""",
            [run_id, lease_s],
        )
    return int(run_id)


def test_after_a_kill_mid_sweep_the_next_cron_takes_over_the_dead_runs_accounts(
    database_url: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = make_settings(database_url, sandbox.url, tmp_path, lease_s=2)
    for running in serve(settings):
        for number, email in enumerate(PEOPLE):
            add_account(sandbox, running.pool, settings, email, messages=3, seed=number)
        dead = _killed_mid_sweep(running, settings.lease_s)
        answer = requests.get(running.url + CRON, headers=BEARER, timeout=120).json()
        assert answer["sweep"]["begun"] is False  # the restart joins the slot's sweep
        run = answer["run"]
        assert (run["status"], run["accounts_ok"], run["accounts_busy"]) == ("ok", 6, 0)
        assert query(running.pool, "select status from jessie.sync_runs where id = %s", dead) == [("abandoned",)]
        for email in PEOPLE:
            assert_exact_copy(running.pool, sandbox, email)


def test_a_cron_that_cannot_outwait_a_dead_runs_leases_says_they_are_held(
    database_url: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    """Leases of 30 s, a budget of 10 s: nothing can be taken over in time, and the run says so
    in its answer, its record and `jessie runs` (it said 'ok', 0 accounts, 0 busy)."""
    settings = make_settings(database_url, sandbox.url, tmp_path, function_max_duration_s=20, cron_margin_s=10)
    for running in serve(settings):
        for number, email in enumerate(PEOPLE):
            add_account(sandbox, running.pool, settings, email, messages=1, seed=number)
        _killed_mid_sweep(running, settings.lease_s)
        answer = requests.get(running.url + CRON, headers=BEARER, timeout=120).json()
        run = answer["run"]
        assert (run["status"], run["accounts_ok"], run["accounts_busy"]) == ("partial", 0, 6)
        shown = subprocess.run(
            [sys.executable, "-m", "app.cli", "runs", "--invocations"],
            env=jessie_env(running.app.state.settings),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        invocations = {line.split()[1]: line.split()[3] for line in shown if line.split()[0] == "invocation"}
        assert invocations[str(run["run_id"])] == "partial"
        with running.pool.connection() as conn:
            recorded = conn.execute(
                "select status, accounts_busy from jessie.sync_runs where id = %s", [run["run_id"]]
            ).fetchone()
        assert recorded == ("partial", 6)
