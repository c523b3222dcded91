"""Gmail quota accounting and the per-account pacer, on a fake clock."""

from __future__ import annotations

import pytest

from app.deadline import BudgetExhausted, Deadline
from app.gmail.quota import Pacer, QuotaMeter, method_for, methods_in_batch
from tests.unit.test_retry import FakeClock


def test_paths_map_to_methods_and_units() -> None:
    assert method_for("/gmail/v1/users/me/history?startHistoryId=1") == "gmail.users.history.list"
    assert method_for("/gmail/v1/users/me/messages/abc/attachments/x") == "gmail.users.messages.attachments.get"
    body = (
        "--b\nContent-Type: application/http\n\nGET /gmail/v1/users/me/messages/1?format=raw&alt=json HTTP/1.1\n"
        "authorization: Bearer x\n\n\n--b\nContent-Type: application/http\n\n"
        "GET /gmail/v1/users/me/messages/2?format=raw&alt=json HTTP/1.1\n\n\n--b--"
    )
    assert methods_in_batch(body) == ["gmail.users.messages.get"] * 2
    meter = QuotaMeter()
    meter.record(methods_in_batch(body))
    meter.record(["gmail.users.history.list"])
    assert (meter.units, meter.requests, meter.http_requests) == (12, 3, 2)
    with pytest.raises(ValueError, match="not a Gmail API path"):
        method_for("/gmail/v1/users/me/drafts")


def test_the_pacer_holds_the_rate_over_any_window() -> None:
    clock = FakeClock()
    pacer = Pacer(250, clock=clock, sleep=clock.sleep)
    deadline = Deadline(1000, clock)
    sent = []
    for _ in range(40):  # 40 batches of 50 gets = 10,000 units
        pacer.acquire(250, deadline)
        sent.append(clock.now)
    # The first second's worth goes at once, then one batch per second: 250 units/s.
    assert sent[0] == 0 and sent[-1] == pytest.approx(39)
    for start in range(len(sent)):
        in_window = [t for t in sent if sent[start] <= t < sent[start] + 1]
        assert len(in_window) * 250 <= 250 * 2  # never more than the bucket plus one second's refill


def test_small_calls_interleave_without_waiting_while_the_bucket_has_room() -> None:
    clock = FakeClock()
    pacer = Pacer(250, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        pacer.acquire(2, Deadline(10, clock))
    assert clock.slept == []


def test_pacing_that_would_outlive_the_budget_is_refused() -> None:
    clock = FakeClock()
    pacer = Pacer(10, clock=clock, sleep=clock.sleep)
    deadline = Deadline(1.5, clock)
    pacer.acquire(10, deadline)
    with pytest.raises(BudgetExhausted):
        pacer.acquire(10, Deadline(0.5, clock))
    assert clock.slept == []


def test_zero_rate_means_no_pacing() -> None:
    clock = FakeClock()
    pacer = Pacer(0, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        pacer.acquire(10_000, Deadline(1, clock))
    assert clock.slept == []
