"""Postgres goes away mid-run while the app lives on: the run's record must say what happened
(failed, on the database) as soon as the database answers again, and the failed hour alerts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests

from app.db.migrate import migrate
from tests.conftest import Sandbox, make_settings, webhook_receiver
from tests.integration.sync_helpers import add_account, query
from tests.integration.web_helpers import serve
from tests.postgres import Postgres

ALICE = "alice@example.com"
CRON = "/api/cron/email-sync"
BEARER = {"Authorization": "Bearer test-cron-secret"}


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[Postgres]:
    """A Postgres of this test's own, so stopping it stops nobody else's."""
    server = Postgres.initialized(tmp_path / "db")
    server.start()
    try:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute("create database jessie")
        with psycopg.connect(server.url("jessie")) as conn:
            migrate(conn)
        yield server
    finally:
        server.stop()


def _call(url: str, answers: list[requests.Response]) -> None:
    answers.append(requests.get(url, headers=BEARER, timeout=120))


def test_a_run_that_loses_the_database_is_recorded_failed_when_it_answers_again_and_alerts(
    postgres: Postgres, sandbox: Sandbox, tmp_path: Path
) -> None:
    with webhook_receiver() as (hook, received):
        # A run budget of 10 s: the record is tried again for that long, then kept for the next run.
        settings = make_settings(
            postgres.url("jessie"),
            sandbox.url,
            tmp_path,
            function_max_duration_s=15,
            cron_margin_s=5,
            alert_webhook_url=hook,
        )
        for web in serve(settings):
            add_account(sandbox, web.pool, settings, ALICE, messages=700, seed=3)
            sandbox.admin("PUT", "/faults", stall_after_requests=60)  # a batch of the first sync held
            answers: list[requests.Response] = []
            cron = threading.Thread(target=_call, args=(web.url + CRON, answers))
            cron.start()
            assert sandbox.server.stalled.wait(timeout=60)
            postgres.stop()
            sandbox.admin("PUT", "/faults")
            cron.join(timeout=120)
            (failed,) = answers
            assert failed.status_code == 500
            run = failed.json()["run"]
            assert run["status"] == "failed" and "the database stopped answering" in run["error"]
            postgres.start()
            assert requests.get(web.url + CRON, headers=BEARER, timeout=120).status_code == 200
            recorded = query(web.pool, "select status, error from jessie.sync_runs where id = %s", run["run_id"])
            assert recorded[0][0] == "failed" and "the database stopped answering" in recorded[0][1]
            under_way = query(web.pool, "select status from jessie.sync_run_accounts where run_id = %s", run["run_id"])
            assert under_way == [("failed",)]  # not 'interrupted', not left 'running'
            assert [alert["text"] for alert in received if f"run {run['run_id']} failed" in alert["text"]] == [
                f"Jessie sync run {run['run_id']} failed: {run['error']}"
            ]
