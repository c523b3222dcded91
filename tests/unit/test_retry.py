"""The retry policy's decisions, on errors shaped exactly as the client library raises them."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import httplib2
import pytest
from googleapiclient.errors import HttpError

from app.deadline import BudgetExhausted, Deadline
from app.gmail.retry import RetriesExhausted, RetryPolicy, Verdict, classify, retry_after_seconds
from tests.fakes import FakeClock

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC).timestamp()


def http_error(status: int, reason: str = "", message: str = "m", headers: dict[str, str] | None = None) -> HttpError:
    response = httplib2.Response({"status": status, **(headers or {})})
    body = {"error": {"code": status, "message": message, "errors": [{"reason": reason, "message": message}]}}
    return HttpError(response, json.dumps(body).encode())


@pytest.mark.parametrize(
    ("error", "transient", "rate_limited"),
    [
        (http_error(429, "rateLimitExceeded"), True, True),
        (http_error(403, "userRateLimitExceeded"), True, True),
        (http_error(403, "rateLimitExceeded"), True, True),
        (http_error(403, "forbidden"), False, False),
        (http_error(500, "backendError"), True, False),
        (http_error(502), True, False),
        (http_error(503, "backendError"), True, False),
        (http_error(400, "invalidArgument"), False, False),
        (http_error(404, "notFound"), False, False),
        (http_error(401, "authError"), False, False),
        (TimeoutError("timed out"), True, False),
        (ConnectionResetError(), True, False),
        (httplib2.HttpLib2Error("broken"), True, False),
        (ValueError("a bug"), False, False),
    ],
)
def test_what_is_transient(error: BaseException, transient: bool, rate_limited: bool) -> None:
    verdict = classify(error, NOW)
    assert (verdict.transient, verdict.rate_limited) == (transient, rate_limited)


def test_retry_after_from_header_and_from_gmails_text() -> None:
    assert classify(http_error(429, "rateLimitExceeded", headers={"retry-after": "7"}), NOW).retry_after == 7
    text = "User-rate limit exceeded.  Retry after 2026-11-26T12:00:42.500Z"
    assert classify(http_error(403, "userRateLimitExceeded", text), NOW).retry_after == pytest.approx(42.5)
    assert retry_after_seconds("Thu, 26 Nov 2026 12:01:00 GMT", "", NOW) == pytest.approx(60)
    assert retry_after_seconds(None, "Retry after 2026-11-26T11:00:00Z", NOW) == 0  # already past
    assert retry_after_seconds(None, "no hint", NOW) is None


def test_backoff_grows_with_jitter_and_honours_the_server() -> None:
    clock = FakeClock()
    policy = RetryPolicy(Deadline(1000, clock), base_s=1, cap_s=8, rng=random.Random(1), sleep=clock.sleep)
    delays = [policy.delay(attempt, Verdict(True)) for attempt in range(1, 8)]
    assert all(0 <= delay <= min(8, 2 ** (attempt - 1)) for attempt, delay in enumerate(delays, 1))
    assert len(set(delays)) == len(delays)  # jittered
    assert policy.delay(1, Verdict(True, True, retry_after=30)) == 30


def test_a_wait_beyond_the_budget_is_refused_not_taken() -> None:
    clock = FakeClock()
    policy = RetryPolicy(Deadline(10, clock), sleep=clock.sleep)
    with pytest.raises(BudgetExhausted):
        policy.wait(1, Verdict(True, True, retry_after=60))
    assert clock.slept == []
    policy.wait(1, Verdict(True, True, retry_after=3))
    assert clock.slept == [3]


def test_attempts_are_bounded() -> None:
    clock = FakeClock()
    policy = RetryPolicy(Deadline(10_000, clock), max_attempts=3, sleep=clock.sleep)
    policy.wait(1, Verdict(True))
    policy.wait(2, Verdict(True))
    with pytest.raises(RetriesExhausted):
        policy.wait(3, Verdict(True, reason="HTTP 503"))


def test_a_batch_parts_rate_limits_do_not_count_towards_giving_up() -> None:
    """Only a part's other transient errors count: a rate limit is retried while the budget lasts."""
    clock = FakeClock()
    policy = RetryPolicy(Deadline(10_000, clock), max_attempts=3, sleep=clock.sleep)
    assert policy.schedule(10, Verdict(True, True, reason="HTTP 429"), failures=2) >= 0
    with pytest.raises(RetriesExhausted, match="gave up after 11 attempts: HTTP 503"):
        policy.schedule(11, Verdict(True, reason="HTTP 503"), failures=3)


def test_every_retry_is_logged_with_its_reason_and_delay(capsys: pytest.CaptureFixture[str]) -> None:
    clock = FakeClock()
    policy = RetryPolicy(Deadline(1000, clock), base_s=1, rng=random.Random(1), sleep=clock.sleep)
    policy.wait(2, Verdict(True, True, retry_after=3.0, reason="HTTP 429 rateLimitExceeded"))
    (line,) = [json.loads(text) for text in capsys.readouterr().err.splitlines()]
    assert (line["event"], line["attempt"], line["reason"]) == ("gmail.retry", 2, "HTTP 429 rateLimitExceeded")
    assert line["delay_s"] == round(clock.slept[0], 3) >= 3.0  # the server's wait at least
