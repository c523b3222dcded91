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
    from app.sync import triggers

    consumer = _consumer.get()
    assert consumer is not None, "a seat is handled inside consuming()"
    seat = consumer.seat
    outcome = triggers.seat(consumer.settings, consumer.pool, seat)
    if isinstance(outcome, triggers.NotStarted):
        if outcome.no_seat:  # the budget's seats are taken: by live runs, or by dead ones until they fall silent
            if delivery_count < MAX_DELIVERIES:
                raise vq.RetryAfter(RETRY_AFTER_S, reason="no seat")
            return  # the live runs share the sweep without this seat
        failure = outcome.reason  # the database, a setting, a bug: the platform delivers it again
    elif outcome is None or outcome.status != RunStatus.FAILED:
        return
    else:
        failure = outcome.error or f"run {outcome.run_id}: all {outcome.accounts_failed} account(s) failed"
    if delivery_count < MAX_DELIVERIES:
        log_event("sweep.seat_retry", logging.WARNING, sweep_id=seat.sweep_id, seat=seat.number, error=scrub(failure))
        raise vq.RetryAfter(RETRY_AFTER_S, reason="failed")
    _give_up(consumer, seat, delivery_count, failure)


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
