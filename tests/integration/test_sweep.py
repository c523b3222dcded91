"""The hourly sweep in one process: the cron begins a sweep and publishes its worker seats to
Vercel Queues (the local Vercel's queue service, the SDK's embedded server), which pushes them to
the app's consumer route; a repeated delivery only joins and publishes nothing new, the consumer
runs only seats this deployment signed for the current sweep, a seat that keeps failing ends in
an incident, and without a queue the cron works the sweep alone."""

from __future__ import annotations

import functools
import json
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import SecretStr
from vercel.queue.sync import QueueClient

from app.config import Settings
from app.sync import fanout, sweep
from sandbox.vercel.edge import REGION
from tests.conftest import Sandbox, make_settings
from tests.integration.queue_helpers import CONSUMER, DEPLOYMENT, Queues, local_queues
from tests.integration.sync_helpers import add_account, assert_exact_copy, query, until
from tests.integration.test_sync_runs import jessie_env
from tests.integration.web_helpers import Web, serve

CRON = "/api/cron/email-sync"
BEARER = {"Authorization": "Bearer test-cron-secret"}
PEOPLE = [f"user{n}@example.com" for n in range(6)]


def _settled(web: Web, queues: Queues) -> None:
    """Until the queue has delivered everything and every run has ended."""
    running = "select count(*) from jessie.sync_runs where status = 'running'"
    until(lambda: queues.settled() and query(web.pool, running) == [(0,)], "the seats and runs to end", timeout_s=120)


@pytest.fixture
def swept(
    database_url: str, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Web, Queues]]:
    settings = make_settings(
        database_url, sandbox.url, tmp_path, sweep_accounts_per_invocation=2, vercel_deployment_id=DEPLOYMENT
    )
    for running in serve(settings):
        for number, email in enumerate(PEOPLE):
            add_account(sandbox, running.pool, settings, email, messages=3, seed=number)
        with local_queues(monkeypatch, running.url + fanout.CONSUMER_PATH) as queues:
            yield running, queues


def test_a_sweep_fans_out_over_the_queue_and_syncs_every_account_once(
    swept: tuple[Web, Queues], sandbox: Sandbox
) -> None:
    web, queues = swept
    answer = requests.get(web.url + CRON, headers=BEARER, timeout=120)
    assert answer.status_code == 200, answer.text
    assert answer.json()["sweep"]["begun"] is True and answer.json()["sweep"]["due"] == 6
    _settled(web, queues)
    assert query(web.pool, "select due_accounts, invocations_planned, invocations_started from jessie.sweeps") == [
        (6, 3, 3)  # the cron's own invocation and two seats
    ]
    assert [(m["deployment"], m["deliveries"]) for m in queues.messages()] == [(DEPLOYMENT, {CONSUMER: 1})] * 2
    runs = query(web.pool, "select trigger, status from jessie.sync_runs order by id")
    assert sorted(runs) == [("cron", "ok"), ("sweep-worker", "ok"), ("sweep-worker", "ok")]
    synced = query(
        web.pool,
        """select a.email, count(*) from jessie.sync_run_accounts r join jessie.accounts a on a.id = r.account_id
           group by a.email""",
    )
    assert sorted(synced) == [(email, 1) for email in sorted(PEOPLE)]
    for email in PEOPLE:
        assert_exact_copy(web.pool, sandbox, email)
    shown = subprocess.run(
        [sys.executable, "-m", "app.cli", "runs", "--invocations"],
        env=jessie_env(web.settings) | {"TZ": "Asia/Tokyo"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert shown[1].split()[:3] == ["sweep", "1", "sweep"]
    assert " JST " in shown[1]  # times in the reader's zone, naming it
    invocations = sorted(tuple(line.split()[:3:2]) for line in shown[2:])  # (kind, trigger), in any order
    assert invocations == [("invocation", "cron"), ("invocation", "sweep-worker"), ("invocation", "sweep-worker")]


def test_a_repeated_cron_delivery_joins_the_sweep_and_publishes_nothing_new(swept: tuple[Web, Queues]) -> None:
    web, queues = swept
    first = requests.get(web.url + CRON, headers=BEARER, timeout=120).json()
    _settled(web, queues)
    sends = queues.on_loop(lambda: queues.queues.operations["send"])
    again = requests.get(web.url + CRON, headers=BEARER, timeout=120).json()
    _settled(web, queues)
    assert again["sweep"] == {"id": first["sweep"]["id"], "begun": False, "due": 6}
    assert again["run"]["accounts_ok"] == 0  # everything was synced since the sweep began
    assert queues.on_loop(lambda: queues.queues.operations["send"]) == sends + 2  # sent again, under the same keys
    assert len(queues.messages()) == 2  # … so the queue holds the first two only
    assert query(web.pool, "select count(*), sum(invocations_started)::int from jessie.sweeps") == [(1, 3)]
    assert query(web.pool, "select count(*) from jessie.sync_runs where trigger = 'sweep-worker'") == [(2,)]


def _send(queues: Queues, payload: object) -> None:
    """A message on the sweep's topic from someone other than the cron."""
    QueueClient(base_url=queues.queues.base_url, region=REGION, token="t", deployment=DEPLOYMENT).send(
        fanout.TOPIC, payload
    )


def test_the_consumer_runs_only_signed_seats_of_the_current_sweep(swept: tuple[Web, Queues]) -> None:
    """Before the SDK or the database sees it, a push must carry its lease and a seat this
    deployment signed; a genuine seat of a sweep that is over is acknowledged and runs nothing."""
    web, queues = swept
    consumer = web.url + fanout.CONSUMER_PATH
    slot = sweep.slot_of(datetime.now(UTC), 60)
    with web.pool.connection() as conn:
        current = _one(conn.execute("insert into jessie.sweeps (slot) values (%s) returning id", [slot]).fetchone())
        old = conn.execute("insert into jessie.sweeps (slot) values (%s) returning id", [slot - timedelta(hours=1)])
        old_id = _one(old.fetchone())
    seat = fanout.Seat(current, slot, 1, DEPLOYMENT)
    push = {
        "ce-type": "com.vercel.queue.v2beta",
        "ce-vqsqueuename": fanout.TOPIC,
        "ce-vqsconsumergroup": CONSUMER,
        "ce-vqsmessageid": "msg_1",
        "ce-vqsreceipthandle": "rh_1:msg_1:forged",
        "ce-vqsdeliverycount": "3",  # the last: a forged one must not reach the give-up path either
        "ce-vqscreatedat": datetime.now(UTC).isoformat(),
        "content-type": "application/json",
        "x-vercel-oidc-token": "forged.oidc.token",
    }
    refused = [
        ({}, seat.payload("test-cron-secret")),  # not a push delivery
        ({k: v for k, v in push.items() if k != "ce-vqsreceipthandle"}, seat.payload("test-cron-secret")),
        (push, seat.payload("not-the-cron-secret")),
        (push, {**seat.payload("test-cron-secret"), "seat": 2}),  # altered
        (push, fanout.Seat(current, slot, 1, "dpl_another").payload("test-cron-secret")),  # another deployment's
        (push, {**seat.payload("test-cron-secret"), "mac": "é" * 64}),
        (push, "[" * 60_000),  # nested past the parser's depth
        (push, ["not", "a", "seat"]),
    ]
    for headers, payload in refused:
        body = payload if isinstance(payload, str) else json.dumps(payload)
        answer = requests.post(consumer, data=body, headers=headers, timeout=10)
        assert answer.status_code == 400, (headers, payload, answer.text)
    _send(queues, fanout.Seat(old_id, slot - timedelta(hours=1), 1, DEPLOYMENT).payload("test-cron-secret"))
    until(lambda: len(queues.messages()) == 1 and queues.settled(), "last hour's seat to be handled")
    assert [m["deliveries"] for m in queues.messages()] == [{CONSUMER: 1}]  # acknowledged at once
    assert query(web.pool, "select count(*) from jessie.sync_runs") == [(0,)]
    assert query(web.pool, "select count(*) from jessie.incidents") == [(0,)]


def test_a_seat_that_keeps_failing_stops_after_its_deliveries_with_an_incident(
    database_url: str, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The consumer cannot run its seat (here its database role may not insert a run): each
    delivery asks for a retry after RETRY_AFTER_S, and the last records the incident, alerts once
    and lets the message go."""
    settings = make_settings(database_url, sandbox.url, tmp_path, vercel_deployment_id=DEPLOYMENT)
    limited = _role(database_url, "revoke insert on jessie.sync_runs from {role}")
    for cron_side in serve(settings):
        for consumer_side in serve(settings.model_copy(update={"database_url": SecretStr(limited)})):
            with local_queues(monkeypatch, consumer_side.url + fanout.CONSUMER_PATH, manual_clock=True) as queues:
                add_account(sandbox, cron_side.pool, settings, PEOPLE[0], messages=1)
                slot = sweep.slot_of(datetime.now(UTC), 60)
                sweep_id = query(cron_side.pool, "insert into jessie.sweeps (slot) values (%s) returning id", slot)
                assert fanout.publish(settings, sweep_id[0][0], slot, 1) == 1
                for delivery in range(1, fanout.MAX_DELIVERIES + 1):
                    until(functools.partial(_delivered_alone, queues, delivery), f"delivery {delivery} to end")
                    if delivery < fanout.MAX_DELIVERIES:
                        assert not queues.settled()  # it comes back …
                        queues.shift(fanout.RETRY_AFTER_S)  # … once the retry is due
                assert queues.settled()
                incidents = query(cron_side.pool, "select kind, path, sample from jessie.incidents")
                assert [(kind, path) for kind, path, _ in incidents] == [("queue_gave_up", fanout.CONSUMER_PATH)]
                assert "failed 3 deliveries: InsufficientPrivilege" in incidents[0][2]
                alerted = query(cron_side.pool, "select key from jessie.alert_state")
                assert alerted == [(f"incident:queue_gave_up:{fanout.CONSUMER_PATH}",)]
                assert query(cron_side.pool, "select count(*) from jessie.sync_runs") == [(0,)]


def _role(database_url: str, *restrictions: str) -> str:
    """A role of the jessie schema's, with `restrictions` (SQL, `{role}` its name): its URL."""
    import psycopg
    import psycopg.conninfo

    role = f"limited_{secrets.token_hex(4)}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f"create role {role} login bypassrls password 'limited'")
        admin.execute(f"grant usage on schema jessie to {role}")
        admin.execute(f"grant all on all tables in schema jessie to {role}")
        admin.execute(f"grant all on all sequences in schema jessie to {role}")
        for restriction in restrictions:
            admin.execute(restriction.format(role=role))
    return psycopg.conninfo.make_conninfo(database_url, user=role, password="limited")


def _one(row: tuple[Any, ...] | None) -> int:
    """The single value of a row a statement returned."""
    assert row is not None
    return int(row[0])


def _delivered_alone(queues: Queues, deliveries: int) -> bool:
    """The only message was delivered `deliveries` times and none is under way."""
    return _delivered(queues) == (deliveries, 0)


def _delivered(queues: Queues) -> tuple[int, int]:
    """How many times the only message was delivered, and how many deliveries are under way."""
    return queues.on_loop(
        lambda: (queues.queues.messages(fanout.TOPIC)[0]["deliveries"][CONSUMER], queues.queues.delivering())
    )


def test_without_a_queue_the_cron_works_the_sweep_alone(
    database_url: str, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The queue service does not answer (or the project has no Queues): nothing is published, and
    the cron's own invocation works the whole sweep."""
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        monkeypatch.setenv("VERCEL_QUEUE_BASE_URL", f"http://127.0.0.1:{closed.getsockname()[1]}")
    monkeypatch.setenv("VERCEL_REGION", REGION)
    monkeypatch.setenv("VERCEL_QUEUE_TOKEN", "in-process-token")
    monkeypatch.setenv("VERCEL_DEPLOYMENT_ID", DEPLOYMENT)
    settings = make_settings(
        database_url, sandbox.url, tmp_path, sweep_accounts_per_invocation=2, vercel_deployment_id=DEPLOYMENT
    )
    for running in serve(settings):
        for number, email in enumerate(PEOPLE):
            add_account(sandbox, running.pool, settings, email, messages=3, seed=number)
        answer = requests.get(running.url + CRON, headers=BEARER, timeout=120)
        assert answer.status_code == 200 and answer.json()["run"]["accounts_ok"] == 6
        assert query(running.pool, "select invocations_planned, invocations_started from jessie.sweeps") == [(3, 1)]
        for email in PEOPLE:
            assert_exact_copy(running.pool, sandbox, email)


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

    from app.db.connection import open_pool
    from app.sync.runner import run_sync
    from app.sync.runs import NoSeat

    limited = _role(database_url, "alter role {role} connection limit 19")
    settings = make_settings(limited, sandbox.url, tmp_path, db_connection_budget=19)
    with open_pool(settings) as pool:
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


def _killed_mid_sweep(web: Web, lease_s: float) -> int:
    """What a kill -9 mid-sweep leaves: the slot's sweep begun, its run 'running' with a heartbeat
    a moment old, and every account leased to it (the leases outlive the process until they lapse)."""
    settings = web.settings
    slot = sweep.slot_of(datetime.now(UTC), settings.cron_interval_minutes)
    with web.pool.connection() as conn:
        sweep_id = _one(conn.execute("insert into jessie.sweeps (slot) values (%s) returning id", [slot]).fetchone())
        run_id = conn.execute(
            """insert into jessie.sync_runs (trigger, deadline_at, sweep_id)
               values ('cron', now() + interval '4 minutes', %s) returning id""",
            [sweep_id],
        ).fetchone()
        run_id = _one(run_id)
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
            env=jessie_env(running.settings),
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
