"""A seat delivered by Vercel Queues (app/sync/fanout.py): one more invocation of its sweep.

The handler is registered with the queue SDK under the consumer group Vercel delivers as; the
route (app/web/queue.py) verifies the seat from the request's body before the SDK sees the
request, and hands the handler that seat, with the app's settings and pool, through
`consuming()` (the SDK's payload is the same body, decoded again).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import vercel.queue as vq

from app.config import Settings
from app.db.connection import Database
from app.incidents import scrub
from app.logs import log_event
from app.statuses import IncidentKind, RunStatus
from app.sync.fanout import (
    CONSUMER_FUNCTION,
    CONSUMER_PATH,
    MAX_DELIVERIES,
    RETRY_AFTER_S,
    TOPIC,
    TRIGGER,
    Seat,
)


@dataclass(frozen=True)
class Consumer:
    """What a delivery's handler works with, per request: the verified seat, the app's settings and pool."""

    seat: Seat
    settings: Settings
    pool: Database


_consumer: ContextVar[Consumer | None] = ContextVar("jessie_queue_consumer", default=None)


@contextmanager
def consuming(seat: Seat, settings: Settings, pool: Database) -> Iterator[None]:
    token = _consumer.set(Consumer(seat, settings, pool))
    try:
        yield
    finally:
        _consumer.reset(token)


def handle(delivery_count: int) -> None:
    """One delivery of the verified seat: one invocation of its sweep if that is still the
    current slot's. Raises vercel.queue.RetryAfter for a delivery worth retrying."""
    from app.sync.runs import NoSeat

    consumer = _consumer.get()
    assert consumer is not None, "a seat is handled inside consuming()"
    seat = consumer.seat
    try:
        failure = _run_seat(consumer, seat)
    except NoSeat:  # the budget's seats are taken: by live runs, or by dead ones until they fall silent
        log_event("sync.run.no_seat", logging.WARNING, trigger=TRIGGER, sweep_id=seat.sweep_id)
        if delivery_count < MAX_DELIVERIES:
            raise vq.RetryAfter(RETRY_AFTER_S, reason="no seat") from None
        return  # the live runs share the sweep without this seat
    except Exception as error:  # the database, a setting, a bug: the platform delivers it again
        failure = f"{type(error).__name__}: {error}"
    if failure is None:
        return
    if delivery_count < MAX_DELIVERIES:
        log_event("sweep.seat_retry", logging.WARNING, sweep_id=seat.sweep_id, seat=seat.number, error=scrub(failure))
        raise vq.RetryAfter(RETRY_AFTER_S, reason="failed")
    _give_up(consumer, seat, delivery_count, failure)


def _run_seat(consumer: Consumer, seat: Seat) -> str | None:
    """The seat's invocation of its sweep; what failed, if the run did."""
    from app.deadline import invocation_budget_s
    from app.sync import sweep
    from app.sync.runner import run_sync

    settings = consumer.settings
    with consumer.pool.connection() as conn:
        slot = sweep.slot_of(datetime.now(UTC), settings.cron_interval_minutes)
        if not sweep.current(conn, seat.sweep_id, slot):
            log_event("sweep.seat_late", sweep_id=seat.sweep_id, seat=seat.number)
            return None
    budget_s = invocation_budget_s(settings)
    summary = run_sync(TRIGGER, budget_s, settings=settings, pool=consumer.pool, sweep_id=seat.sweep_id)
    if summary.status != RunStatus.FAILED:
        return None
    return summary.error or f"run {summary.run_id}: all {summary.accounts_failed} account(s) failed"


def _give_up(consumer: Consumer, seat: Seat, deliveries: int, failure: str) -> None:
    """The last delivery failed too: an incident (one alert per episode), and the message goes.
    Without a database to record it in, the alert goes out all the same."""
    from app import alerts
    from app.data import incidents
    from app.incidents import Observation

    sample = scrub(f"seat {seat.number} of sweep {seat.sweep_id} failed {deliveries} deliveries: {failure}")
    observation = Observation(
        kind=IncidentKind.QUEUE_GAVE_UP,
        path=CONSUMER_PATH,
        entry_id=f"queue_gave_up:{seat.idempotency_key()}",
        seen_at=datetime.now(UTC),
        deployment_id=consumer.settings.vercel_deployment_id,
        request_id=None,
        sample=sample,
    )
    log_event("sweep.seat_gave_up", logging.ERROR, sweep_id=seat.sweep_id, seat=seat.number, deliveries=deliveries)
    try:
        with consumer.pool.connection() as conn:
            texts = alerts.incidents_opened(conn, incidents.record(conn, [observation]))
    except Exception:  # the failure may be the database itself
        texts = [alerts.INCIDENT_TEXTS[IncidentKind.QUEUE_GAVE_UP].format(sample=sample)]
    alerts.send(consumer.settings, texts)


@vq.subscribe(topic=TOPIC, consumer_group=CONSUMER_FUNCTION)  # the SDK names the group as Vercel does
def _seat_delivered(message: vq.Message[Any]) -> None:
    handle(message.metadata.delivery_count)
