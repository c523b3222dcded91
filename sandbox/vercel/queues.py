"""Vercel Queues, locally: the queue SDK's own embedded server (`vercel.queue.embedded`) is the
queue service, and push deliveries go to the functions that subscribe, as Vercel makes them.

The service is the SDK's: storage, retention, idempotency keys, leases (the visibility
timeout), acknowledgements, visibility changes and the push headers its parser expects
(`EmbeddedQueueServer.push_delivery`). What Vercel adds, and this module does:
- a function whose `.vc-config.json` carries a `queue/v2beta` trigger is a consumer (the group
  its `consumer` field names) of its topic, for the messages its own deployment sent (a send
  is pinned to the sender's deployment, `Vqs-Deployment-Id`);
- each visible message is leased and POSTed to the function's path, no more at once than the
  trigger's `maxConcurrency`;
- an invocation that does not answer 2xx (a crash, a timeout at maxDuration, a 5xx) has
  failed: the message is visible again after `retryAfterSeconds`, and after `maxDeliveries`
  deliveries it is dropped (acknowledged for the group), as the SDK's own dispatcher does. A 2xx
  leaves the message to what the SDK did in the function: acknowledged, or visible again when
  the handler asked for a retry; a lease that lapses unrenewed makes it visible again. Either
  way it is never delivered more than `maxDeliveries` times;
- `initialDelaySeconds` is not modelled (Jessie's trigger sets none).
Everything runs on the local Vercel's event loop, the queue's state included.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import uvicorn
from vercel.queue.embedded import create_embedded_queue_app

from sandbox.serving import listening_socket

from .edge import REGION

QUEUE_TRIGGER = "queue/v2beta"
MESSAGE_ID_HEADER = "ce-vqsmessageid"
DEFAULT_RETRY_AFTER_S = 60  # the SDK's, when a trigger names none
Deliver = Callable[[bytes, dict[str, str]], Awaitable[int]]  # a push request → the status it got
logger = logging.getLogger(__name__)


@dataclass
class Subscription:
    """One consumer group of a deployment's function, from its trigger."""

    deployment: str
    topic: str
    consumer: str
    deliver: Deliver
    max_concurrency: int | None = None
    max_deliveries: int | None = None
    retry_after_s: float = DEFAULT_RETRY_AFTER_S
    inflight: set[asyncio.Task[None]] = field(default_factory=set)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def ended(self, delivery: asyncio.Task[None]) -> None:
        self.inflight.discard(delivery)
        self.wake.set()

    @classmethod
    def from_trigger(cls, deployment: str, trigger: dict[str, Any], deliver: Deliver) -> Subscription:
        return cls(
            deployment=deployment,
            topic=str(trigger["topic"]),
            consumer=str(trigger["consumer"]),
            deliver=deliver,
            max_concurrency=int(trigger["maxConcurrency"]) if "maxConcurrency" in trigger else None,
            max_deliveries=int(trigger["maxDeliveries"]) if "maxDeliveries" in trigger else None,
            retry_after_s=float(trigger.get("retryAfterSeconds", DEFAULT_RETRY_AFTER_S)),
        )


def queue_triggers(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in config.get("experimentalTriggers") or [] if t.get("type") == QUEUE_TRIGGER]


class LocalQueues:
    """The queue service on loopback, and the push deliveries of every subscription."""

    def __init__(self, *, manual_clock: bool = False) -> None:
        self.app = create_embedded_queue_app(manual_clock=manual_clock)  # a manual clock moves by shift()
        self.server = self.app.server
        self.operations: Counter[str] = Counter()  # what Vercel bills: sends, receives, deletes, …
        self.subscriptions: list[Subscription] = []
        self.base_url = ""
        self._uvicorn: uvicorn.Server | None = None
        self._serving: asyncio.Task[None] | None = None
        self.server.add_wake_callback(self._wake_all)

    async def start(self) -> str:
        sock: socket.socket = listening_socket("127.0.0.1", 0)
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(self._counted, interface="asgi3", log_level="warning", access_log=False, lifespan="off")
        self._uvicorn = uvicorn.Server(config)
        self._serving = asyncio.create_task(self._uvicorn.serve(sockets=[sock]))
        return self.base_url

    async def _counted(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.operations[_operation(scope["method"], scope["path"])] += 1
        await self.app(scope, receive, send)

    def subscribe(self, subscription: Subscription) -> None:
        self.subscriptions.append(subscription)
        subscription.task = asyncio.create_task(self._dispatch(subscription))

    async def unsubscribe(self, deployment: str) -> None:
        for subscription in [s for s in self.subscriptions if s.deployment == deployment]:
            self.subscriptions.remove(subscription)
            for task in [subscription.task, *subscription.inflight]:
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    def shift(self, seconds: float) -> None:
        """Move a manual clock on: leases lapse and retries come due as they would by then."""
        self.server.shift(seconds)
        self._wake_all()

    def _wake_all(self) -> None:
        for subscription in self.subscriptions:
            subscription.wake.set()

    async def _dispatch(self, subscription: Subscription) -> None:
        try:
            await self._deliveries(subscription)
        except Exception:  # a dispatcher that stopped must say so, not go quiet
            logger.exception("the queue dispatcher of %s stopped", subscription.consumer)
            raise

    async def _deliveries(self, subscription: Subscription) -> None:
        while True:
            subscription.wake.clear()
            limit = subscription.max_concurrency
            while limit is None or len(subscription.inflight) < limit:
                delivery = self.server.push_delivery(
                    subscription.topic, subscription.consumer, deployment=subscription.deployment, region=REGION
                )
                if delivery is None:
                    break
                if self._spent(subscription, delivery.headers[MESSAGE_ID_HEADER]):
                    continue
                self.operations["receive"] += 1
                task = asyncio.create_task(self._deliver(subscription, delivery.body, delivery.headers))
                subscription.inflight.add(task)
                task.add_done_callback(subscription.ended)
            full = limit is not None and len(subscription.inflight) >= limit
            delay = None if full else self._next_visible(subscription)  # full: until a delivery ends
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(subscription.wake.wait(), delay)

    def _next_visible(self, subscription: Subscription) -> float | None:
        """Seconds until a message of the subscription can be delivered (None: none pending)."""
        now = self.server.now
        soonest: datetime | None = None
        for message in self.server.state.by_topic.get(subscription.topic, []):
            if (
                message.duplicate_of is not None
                or message.expires_at <= now
                or message.acknowledged_for(subscription.consumer)
                or message.deployment != subscription.deployment
            ):
                continue
            visible = _visible_at(message, subscription.consumer, now)
            soonest = visible if soonest is None else min(soonest, visible)
        return None if soonest is None else max(0.0, (soonest - now).total_seconds())

    def _spent(self, subscription: Subscription, message_id: str) -> bool:
        """A message past its maxDeliveries (its lease lapsed, or the function asked for a retry
        on its last delivery) is dropped, never delivered again."""
        message = self.server.state.by_id[message_id]
        count = message.delivery_count_by_consumer.get(subscription.consumer, 0)
        if subscription.max_deliveries is None or count <= subscription.max_deliveries:
            return False
        message.acknowledge_for(subscription.consumer)
        return True

    async def _deliver(self, subscription: Subscription, body: bytes, headers: dict[str, str]) -> None:
        try:
            status = await subscription.deliver(body, headers)
        except Exception:  # the function could not be invoked at all: a failed delivery
            logger.exception("queue delivery to %s failed", subscription.consumer)
            status = 500
        if 200 <= status < 300:
            return
        message = self.server.state.by_id.get(headers[MESSAGE_ID_HEADER])
        if message is None or message.acknowledged_for(subscription.consumer):
            return
        attempts = message.delivery_count_by_consumer.get(subscription.consumer, 0)
        if subscription.max_deliveries is not None and attempts >= subscription.max_deliveries:
            message.acknowledge_for(subscription.consumer)  # dropped after its last delivery
            return
        deadline = self.server.now + timedelta(seconds=subscription.retry_after_s)
        message.lease_deadline_by_consumer[subscription.consumer] = deadline
        self.server.requeue_push_message(message, subscription.consumer, deadline)

    def messages(self, topic: str) -> list[dict[str, Any]]:
        """The messages `topic` holds (a duplicate send is not one), as its consumers saw them."""
        consumers = {s.consumer for s in self.subscriptions if s.topic == topic}
        now = self.server.now
        return [
            {
                "id": m.message_id,
                "deployment": m.deployment,
                "deliveries": {c: m.delivery_count_by_consumer.get(c, 0) for c in consumers},
                "done": all(m.acknowledged_for(c) for c in consumers),
                "visible_in_s": {  # until each consumer may be handed it (0: now)
                    c: max(0.0, (_visible_at(m, c, now) - now).total_seconds()) for c in consumers
                },
            }
            for m in self.server.state.by_topic.get(topic, [])
            if m.duplicate_of is None
        ]

    def delivering(self) -> int:
        return sum(len(s.inflight) for s in self.subscriptions)

    async def stop(self) -> None:
        for deployment in {s.deployment for s in self.subscriptions}:
            await self.unsubscribe(deployment)
        if self._uvicorn is not None and self._serving is not None:
            self._uvicorn.should_exit = True
            await self._serving
        self.server.state.close()


def _operation(method: str, path: str) -> str:
    """The billed operation an API request is (push receives are counted where they happen)."""
    if "/lease/" in path:
        if path.endswith("/visibility"):
            return "visibility change"
        return "delete" if method == "DELETE" else f"{method.lower()} lease"
    if "/consumer/" in path:
        return "receive"
    return "send" if method == "POST" else f"{method.lower()} topic"


def _visible_at(message: Any, consumer: str, now: datetime) -> datetime:
    """When `consumer` may be handed the message: once it is available and its lease has lapsed."""
    visible: datetime = max(message.available_at, message.lease_deadline_by_consumer.get(consumer, now))
    return visible
