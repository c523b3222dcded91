"""Quota as Gmail enforces it and seeded faults, seen through the real client."""

from __future__ import annotations

import http.client
import re
from datetime import UTC, datetime

import httplib2
import pytest
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from tests.conftest import GmailClient, Sandbox, gmail_client

USER = "quota@example.com"
RETRY_AFTER = re.compile(r"Retry after (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")


def _statuses(sandbox: Sandbox, client: GmailClient, ids: list[str]) -> list[tuple[int, str, str]]:
    """(status, reason, message) per part, in order; 200 parts have empty reason."""
    results: dict[str, tuple[int, str, str]] = {}

    def record(request_id: str, _response: object, error: HttpError | None) -> None:
        if error is None:
            results[request_id] = (200, "", "")
        else:
            detail = error.error_details[0] if error.error_details else {}
            results[request_id] = (error.status_code, detail.get("reason", ""), error.reason)

    batch = BatchHttpRequest(callback=record, batch_uri=sandbox.url + "/batch/gmail/v1")
    for index, message_id in enumerate(ids):
        batch.add(
            client.service.users().messages().get(userId="me", id=message_id, format="minimal"), request_id=str(index)
        )
    batch.execute(http=client.http)
    return [results[str(index)] for index in range(len(ids))]


@pytest.fixture
def client(sandbox: Sandbox) -> GmailClient:
    account = sandbox.create_account(USER, messages=100, seed=5)
    return gmail_client(sandbox, account["refresh_token"])


def test_a_burst_over_a_per_second_rate_is_refused_in_googles_words(sandbox: Sandbox, client: GmailClient) -> None:
    sandbox.admin("PUT", "/quota", model="legacy", units_per_second=50, burst_seconds=1)
    ids = [m["id"] for m in sandbox.truth(USER)[:50]]
    statuses = _statuses(sandbox, client, ids)
    admitted = [s for s in statuses if s[0] == 200]
    refused = [s for s in statuses if s[0] != 200]
    assert len(admitted) == 10  # 50 units of burst / 5 units a messages.get
    assert {(code, reason) for code, reason, _ in refused} <= {
        (403, "userRateLimitExceeded"),
        (403, "rateLimitExceeded"),
        (429, "rateLimitExceeded"),
    }
    with_time = [RETRY_AFTER.search(message) for _, _, message in refused]
    moments = [datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f%z") for m in with_time if m]
    assert moments, "some refusals carry the 'Retry after <RFC 3339>' text"
    assert all(moment > datetime.now(UTC) for moment in moments)
    stats = sandbox.stats(USER)
    assert stats["requests"] == 50
    assert stats["rate_limited"] == 40


def test_quota_refills_with_time_and_zero_switches_it_off(sandbox: Sandbox, client: GmailClient) -> None:
    ids = [m["id"] for m in sandbox.truth(USER)[:20]]
    sandbox.admin("PUT", "/quota", model="legacy", units_per_second=50, burst_seconds=1)
    assert [s[0] for s in _statuses(sandbox, client, ids)].count(200) == 10
    sandbox.admin("POST", "/clock", advance_seconds=1)
    assert [s[0] for s in _statuses(sandbox, client, ids)].count(200) == 10
    sandbox.admin("PUT", "/quota", units_per_second=0)
    assert all(s[0] == 200 for s in _statuses(sandbox, client, ids + ids))


def test_the_2026_minute_holds_6000_units_then_refuses_until_the_next(sandbox: Sandbox, client: GmailClient) -> None:
    sandbox.admin("PUT", "/quota", model="2026")
    now = sandbox.admin("POST", "/clock")["now"]
    sandbox.admin("POST", "/clock", advance_seconds=60 - now % 60 + 1)  # a second into a fresh minute
    ids = [m["id"] for m in sandbox.truth(USER)[:50]]
    admitted = [status for _ in range(6) for status, _, _ in _statuses(sandbox, client, ids)]
    assert admitted == [200] * 300  # 300 gets at 20 units: the minute's 6,000
    refused = _statuses(sandbox, client, ids[:10])
    assert {(code, reason) for code, reason, _ in refused} <= {
        (403, "userRateLimitExceeded"),
        (403, "rateLimitExceeded"),
        (429, "rateLimitExceeded"),
    }
    moments = [RETRY_AFTER.search(message) for _, _, message in refused]
    wall = sandbox.admin("POST", "/clock")["now"]
    for match in filter(None, moments):  # "Retry after" names the next minute
        moment = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
        assert moment == pytest.approx(wall - wall % 60 + 60, abs=1)
    sandbox.admin("POST", "/clock", advance_seconds=60)
    assert [s[0] for s in _statuses(sandbox, client, ids[:10])] == [200] * 10
    assert sandbox.stats(USER)["quota_units"] == (300 + 10 + 10) * 20  # refused calls are charged too


def test_concurrency_cap_answers_429_too_many_concurrent(sandbox: Sandbox, client: GmailClient) -> None:
    sandbox.admin("PUT", "/quota", units_per_second=0, concurrent_requests=20)
    statuses = _statuses(sandbox, client, [m["id"] for m in sandbox.truth(USER)[:30]])
    assert [s[0] for s in statuses].count(200) == 20
    assert set(statuses[20:]) == {(429, "rateLimitExceeded", "Too many concurrent requests for user")}


def test_faults_are_seeded_and_reproducible(sandbox: Sandbox, client: GmailClient) -> None:
    sandbox.admin("PUT", "/quota", units_per_second=0)
    ids = [m["id"] for m in sandbox.truth(USER)[:50]]
    runs = []
    for _ in range(2):
        sandbox.admin("PUT", "/faults", error_rate=0.2, rate_limit_rate=0.1, seed=42)
        runs.append([(status, reason) for status, reason, _ in _statuses(sandbox, client, ids)])
    assert runs[0] == runs[1]
    codes = {status for status, _ in runs[0]}
    assert codes & {500, 502, 503}, "backend errors injected"
    assert codes & {403, 429}, "rate limits injected"
    assert {reason for status, reason in runs[0] if status >= 500} == {"backendError"}
    sandbox.admin("PUT", "/faults", error_rate=0.2, rate_limit_rate=0.1, seed=43)
    assert [(status, reason) for status, reason, _ in _statuses(sandbox, client, ids)] != runs[0]
    sandbox.admin("PUT", "/faults")
    assert all(status == 200 for status, _, _ in _statuses(sandbox, client, ids))


def test_connection_reset_mid_response(sandbox: Sandbox, client: GmailClient) -> None:
    client.service.users().getProfile(userId="me").execute()  # token obtained before the faults
    sandbox.admin("PUT", "/faults", reset_rate=1.0, latency_ms=5, jitter_ms=5)
    with pytest.raises((http.client.HTTPException, httplib2.HttpLib2Error, ConnectionError)):
        client.service.users().getProfile(userId="me").execute(num_retries=0)
    assert sandbox.admin("GET", "/stats")["resets"] >= 1
    sandbox.admin("PUT", "/faults", latency_ms=5, jitter_ms=5)
    assert client.service.users().getProfile(userId="me").execute()["emailAddress"] == USER


def test_unknown_fault_settings_are_refused(sandbox: Sandbox) -> None:
    response = sandbox.http.put(f"{sandbox.url}/_sandbox/faults", json={"eror_rate": 0.5}, timeout=10)
    assert response.status_code == 400
    assert "eror_rate" in response.json()["error"]
