"""End to end on the local Vercel: Jessie's Production deployment with a short maxDuration and
a Log Drain to its own `/api/log-drain`, configured through the Drains API. A cron run that
outlives maxDuration is killed; the drain delivers Vercel's timeout line; exactly one alert
reaches the webhook; the next successful run ends the episode. A deployment that crashes
mid-request is an incident too, and so is a schedule that stalled."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
import requests

from app.config import CRON_PATH
from tests.conftest import webhook_receiver
from tests.integration.sync_helpers import until
from tests.integration.vercel_helpers import DeployedJessie, build_tiny, deploy, deployed_jessie

pytestmark = pytest.mark.timeout(600)
MAX_DURATION_S = 8
OWNER = "owner@example.com"
CALLS_UNTIL_THE_LEASE_LAPSES = 200  # each a real cron call: no sleeping, no clock


@dataclass
class Stack(DeployedJessie):
    """The deployment, with what Vercel's Log Drains and the alert webhook show."""

    alerts: list[dict[str, str]]

    def flush(self) -> list[dict[str, Any]]:
        """Everything logged so far delivered (here, or already by Vercel's own schedule)."""
        answer = requests.post(f"{self.vercel.url}/_sandbox/drains/flush", timeout=120).json()
        deliveries: list[dict[str, Any]] = answer["deliveries"]
        return deliveries

    def alerted(self, count: int) -> list[str]:
        """The webhook's alerts once `count` have come (the drain sends them after its answer)."""
        until(lambda: len(self.alerts) >= count, f"{count} alert(s) at the webhook")
        return [alert["text"] for alert in self.alerts]

    def logs(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = requests.get(f"{self.vercel.url}/_sandbox/logs", timeout=10).json()["logs"]
        return entries

    def incidents(self) -> list[tuple[Any, ...]]:
        return self.query("select kind, path, count, closed_at is null from jessie.incidents order by id")

    def add_drain(self, endpoint: str) -> requests.Response:
        return self.api(
            "POST",
            "/v1/drains",
            json={
                "name": "jessie-incidents",
                "projects": "all",
                "schemas": {"log": {"version": "v1"}},
                "delivery": {
                    "type": "http",
                    "endpoint": endpoint,
                    "encoding": "ndjson",
                    "compression": "none",
                    "headers": {},
                    "secret": self.env["LOG_DRAIN_SECRET"],
                },
            },
        )


@pytest.fixture(scope="module")
def stack(postgres_admin_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with ExitStack() as running:
        hook_url, received = running.enter_context(webhook_receiver())
        env = {
            "LOG_DRAIN_SECRET": "drain-" + uuid.uuid4().hex + uuid.uuid4().hex,
            "ALERT_WEBHOOK_URL": hook_url,
            "JESSIE_LEASE_SECONDS": "1",  # a killed run's lease lapses a second after it dies
            "JESSIE_QUOTA_UNITS_PER_SECOND": "0",
        }
        deployed = running.enter_context(
            deployed_jessie(postgres_admin_url, template_database, tmp_path_factory, env, drain_retry_delays_s=(0.05,))
        )
        stack = Stack(**vars(deployed), alerts=received)
        # What the owner does: read the team's verification code, give it to the app, deploy.
        stack.env["LOG_DRAIN_VERIFY_TOKEN"] = stack.api("GET", "/v1/verify-endpoint").json()["verificationCode"]
        stack.deploy(tmp_path_factory, MAX_DURATION_S)
        created = stack.sandbox.create_account(OWNER, messages=40, seed=4)
        stack.connect_account(OWNER, created["refresh_token"])
        yield stack


def test_a_drain_is_added_only_to_an_endpoint_that_answers_the_verification(stack: Stack) -> None:
    refused = stack.add_drain(stack.domain + "/api/health")  # answers 200, but not the code
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "endpoint_verification_failed"
    added = stack.add_drain(stack.domain + "/api/log-drain")
    assert added.status_code == 200, added.text
    assert [d["id"] for d in stack.api("GET", "/v1/drains").json()["drains"]] == [added.json()["id"]]


def test_a_cron_run_killed_at_max_duration_alerts_once_and_recovery_ends_it(stack: Stack) -> None:
    stack.sandbox.admin("PUT", "/faults", latency_ms=3000)  # Gmail is slow: the run outlives maxDuration
    killed = stack.cron()
    assert (killed.status_code, killed.headers["x-vercel-error"]) == (504, "FUNCTION_INVOCATION_TIMEOUT")
    stack.flush()
    assert stack.incidents() == [("timeout", CRON_PATH, 1, True)]
    assert stack.alerted(1) == [
        f"Jessie on Vercel: {CRON_PATH} was stopped at its maxDuration: "
        f"Vercel Runtime Timeout Error: Task timed out after {MAX_DURATION_S} seconds"
    ]
    # The drain endpoint logged the alert it sent and nothing else: that line comes back once
    # (it is no incident), and then nothing feeds itself.
    stack.flush()
    stack.flush()
    assert stack.flush() == []
    own = [json.loads(e["message"])["event"] for e in stack.logs() if e["proxy"]["path"] == "/api/log-drain"]
    assert own == ["alert"]
    # Gmail is fast again; once the dead run's lease lapses, a run syncs the mailbox.
    stack.sandbox.admin("PUT", "/faults", latency_ms=0)
    for _call in range(CALLS_UNTIL_THE_LEASE_LAPSES):
        answer = stack.cron()
        assert answer.status_code == 200, answer.text
        if answer.json()["run"]["status"] == "ok":
            break
    assert answer.json()["run"]["status"] == "ok"
    assert stack.incidents() == [("timeout", CRON_PATH, 1, False)]  # the episode ended
    assert stack.query("select key from jessie.alert_state") == []
    assert len(stack.alerts) == 1


@pytest.fixture(scope="module")
def preview(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Another deployment of the project: the drain takes every deployment's logs."""
    return deploy(stack.vercel, build_tiny(tmp_path_factory.mktemp("tiny")))


def test_a_deployment_that_crashes_mid_request_is_an_incident(stack: Stack, preview: str) -> None:
    before = len(stack.alerts)
    crashed = stack.client.get(preview + "/crash")
    assert (crashed.status_code, crashed.headers["x-vercel-error"]) == (500, "FUNCTION_INVOCATION_FAILED")
    stack.flush()
    assert ("crash", "/crash", 2, True) in stack.incidents()  # its two lines, both statusCode -1
    assert [text for text in stack.alerted(before + 1) if "/crash" in text] == [
        "Jessie on Vercel: /crash crashed mid-request (the runtime died): "
        "Error: Runtime exited with error: exit status 3"
    ]


def test_a_stalled_schedule_is_noticed_on_the_next_delivery(stack: Stack, preview: str) -> None:
    before = len(stack.alerts)
    with psycopg.connect(stack.database_url) as conn:  # three hours without a cron run
        conn.execute("update jessie.sync_runs set started_at = started_at - interval '3 hours'")
    assert stack.client.get(preview + "/print").status_code == 200  # any delivery checks the schedule
    stack.flush()
    missed = [text for text in stack.alerted(before + 1)[before:] if text.startswith("Jessie: the scheduled sync")]
    assert len(missed) == 1, stack.alerts
    assert ("cron_missed", CRON_PATH, 1, True) in stack.incidents()
    assert stack.client.get(preview + "/print").status_code == 200
    stack.flush()
    assert len(stack.alerts) == before + 1  # once per episode
