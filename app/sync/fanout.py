"""The sweep's fan-out over Vercel Queues: the cron publishes one message per further worker
seat of its slot's sweep to a topic, and Vercel pushes each to the consumer function
(`api/queue/sweep.py`, declared in vercel.json), where it runs one more invocation of the sweep
(`app/sync/seat_consumer.py`).

A message per seat rather than per batch of accounts: which accounts an invocation syncs is
decided as it goes by the Postgres leases (`runs.claim_next`), so the queue's at-least-once
delivery can neither lose nor duplicate an account; a message only has to start an invocation.
A sweep then costs a few queue operations whatever its number of accounts, and the consumer's
max concurrency (vercel.json; `ci/build_check.py` holds it to the connection budget's live runs
less the cron's own) bounds how many run at once, as the seat count did.

- Repeated cron deliveries publish the same messages again under the same idempotency keys (the
  slot and the seat): the queue keeps one of each.
- A delivery that fails (an exception, a failed run, an invocation killed at maxDuration) is
  delivered again after RETRY_AFTER_S, at most MAX_DELIVERIES times; the last failure records
  an incident and an alert, and the message is acknowledged. A seat refused for the connection
  budget (NoSeat) is retried the same way, and dropped quietly after its last delivery: the
  runs holding the budget are working the sweep.
- A push request is an HTTP request to a public function: the queue authenticates our sends
  (OIDC), not the requests it makes. Each payload therefore carries an HMAC of its content and
  its deployment under CRON_SECRET, checked before the SDK sees the request (which would take the
  request's OIDC header as its credential); one that does not verify is refused and runs nothing.
- With no queue (not on Vercel, or the publish fails) the cron's own invocation works the sweep
  alone: slower, never less exact.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.config import Settings
from app.logs import log_event

TOPIC = "jessie-sweep"
CONSUMER_FUNCTION = "api/queue/sweep.py"  # vercel.json's functions key; Vercel names the consumer after it
CONSUMER_PATH = "/api/queue/sweep"
MAX_DELIVERIES = 3  # vercel.json's maxDeliveries: one first try and two retries
# vercel.json's retryAfterSeconds: past JESSIE_LEASE_SECONDS (30), so a killed run's accounts and
# seat are free again when its seat comes back.
RETRY_AFTER_S = 45
TRIGGER = "sweep-worker"


class BadSeat(ValueError):
    """A payload that is not a seat this deployment published (malformed, or its MAC fails)."""


@dataclass(frozen=True)
class Seat:
    """One further invocation of a sweep: the message a worker seat is. Its MAC binds the sweep,
    the slot, the seat and the deployment that published it (the only one Vercel delivers it to)."""

    sweep_id: int
    slot: datetime
    number: int  # 1 … invocations planned − 1 (the cron's own invocation is seat 0)
    deployment: str

    def idempotency_key(self) -> str:
        return f"sweep-{self.slot.astimezone(UTC):%Y%m%dT%H%M%S}-seat-{self.number}"

    def payload(self, secret: str) -> dict[str, Any]:
        fields = self._fields()
        return {**fields, "mac": _mac(secret, fields)}

    @classmethod
    def verified(cls, payload: object, secret: str, deployment: str | None) -> Seat:
        """The seat `payload` is, if this deployment published it under `secret`; else BadSeat."""
        if not isinstance(payload, dict) or set(payload) != {*_FIELDS, "mac"}:
            raise BadSeat("not a seat message")
        fields = {key: payload[key] for key in _FIELDS}
        mac = payload["mac"]
        if not (isinstance(mac, str) and mac.isascii() and hmac.compare_digest(mac, _mac(secret, fields))):
            raise BadSeat("its MAC does not verify")
        if fields["deployment"] != deployment:
            raise BadSeat("another deployment's seat")
        try:
            slot = datetime.fromisoformat(str(fields["slot"]))
            return cls(int(fields["sweep"]), slot, int(fields["seat"]), str(fields["deployment"]))
        except (TypeError, ValueError):
            raise BadSeat("malformed fields") from None

    @classmethod
    def from_body(cls, body: bytes, secret: str, deployment: str | None) -> Seat:
        """The seat a push delivery's JSON body is (checked before the SDK sees the request)."""
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            raise BadSeat("not JSON") from None
        return cls.verified(payload, secret, deployment)

    def _fields(self) -> dict[str, Any]:
        slot = self.slot.astimezone(UTC).isoformat()
        return {"sweep": self.sweep_id, "slot": slot, "seat": self.number, "deployment": self.deployment}


_FIELDS = ("sweep", "slot", "seat", "deployment")


def _mac(secret: str, fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(secret.encode(), b"jessie-sweep-seat\0" + canonical, hashlib.sha256).hexdigest()


def _retention_s(settings: Settings) -> int:
    """How long the queue keeps a seat: its slot (after it the seat is late and does nothing),
    and never less than every delivery and retry it may take."""
    deliveries = MAX_DELIVERIES * (settings.function_max_duration_s + RETRY_AFTER_S)
    return int(max(settings.cron_interval_minutes * 60, deliveries))


def publish(settings: Settings, sweep_id: int, slot: datetime, seats: int) -> int:
    """Publish the sweep's further seats; how many the queue holds now (0 when it cannot be
    reached: the cron's invocation then works the sweep alone). Never raises for the queue."""
    if seats <= 0 or settings.vercel_deployment_id is None:
        return 0
    import vercel.queue as vq  # only a cron that fans out loads the SDK (cold starts)
    from vercel.queue.sync import send

    secret = settings.require("cron_secret")
    held = 0
    for number in range(1, seats + 1):
        seat = Seat(sweep_id, slot, number, settings.vercel_deployment_id)
        try:
            send(TOPIC, seat.payload(secret), idempotency_key=seat.idempotency_key(), retention=_retention_s(settings))
        except vq.DuplicateIdempotencyKeyError:  # a repeated cron delivery: it is already there
            pass
        except Exception as error:  # unreachable, no token, no Queues, …: the cron goes on alone
            log_event("sweep.publish_failed", logging.ERROR, sweep_id=sweep_id, error=type(error).__name__)
            break
        held += 1
    log_event("sweep.published", sweep_id=sweep_id, seats=seats, held=held)
    return held
