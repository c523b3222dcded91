"""Vercel Queues beside an in-process Jessie: the local Vercel's queue service (the SDK's embedded
server and its push deliveries) on a loop of its own, delivering to the app's consumer route, and
the environment a deployment's queue SDK reads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest

from app.sync import fanout
from sandbox.vercel.edge import REGION
from sandbox.vercel.queues import LocalQueues, Subscription

DEPLOYMENT = "dpl_inprocess"
CONSUMER = "api_Squeue_Ssweep_Dpy"  # what Vercel names the consumer of api/queue/sweep.py
T = TypeVar("T")


@dataclass
class Queues:
    queues: LocalQueues
    loop: asyncio.AbstractEventLoop

    def on_loop(self, read: Callable[[], T]) -> T:
        async def call() -> T:
            return read()

        future: Future[T] = asyncio.run_coroutine_threadsafe(call(), self.loop)
        return future.result()

    def messages(self) -> list[dict[str, Any]]:
        return self.on_loop(lambda: self.queues.messages(fanout.TOPIC))

    def settled(self) -> bool:
        """Nothing in flight, every message acknowledged (or dropped) by the consumer."""
        return self.on_loop(lambda: self.queues.delivering() == 0) and all(m["done"] for m in self.messages())

    def shift(self, seconds: float) -> None:
        self.on_loop(lambda: self.queues.shift(seconds))


@contextmanager
def local_queues(
    monkeypatch: pytest.MonkeyPatch, consumer_url: str, *, manual_clock: bool = False, **trigger: Any
) -> Iterator[Queues]:
    """The queue service, pushing the sweep topic to `consumer_url` as the trigger (vercel.json's
    values, updated with `trigger`) says; the SDK in this process sends to it as a deployment's."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="queues", daemon=True)
    thread.start()
    queues = LocalQueues(manual_clock=manual_clock)
    client = httpx.AsyncClient(timeout=None)  # noqa: S113 -- the test's timeout bounds a delivery

    async def deliver(body: bytes, headers: dict[str, str]) -> int:
        return (await client.post(consumer_url, content=body, headers=headers)).status_code

    async def start() -> None:
        await queues.start()
        settings = {"topic": fanout.TOPIC, "consumer": CONSUMER, "maxDeliveries": fanout.MAX_DELIVERIES}
        queues.subscribe(Subscription.from_trigger(DEPLOYMENT, {**settings, **trigger}, deliver))

    try:
        asyncio.run_coroutine_threadsafe(start(), loop).result()
        monkeypatch.setenv("VERCEL_QUEUE_BASE_URL", queues.base_url)
        monkeypatch.setenv("VERCEL_REGION", REGION)
        monkeypatch.setenv("VERCEL_DEPLOYMENT_ID", DEPLOYMENT)
        monkeypatch.setenv("VERCEL_QUEUE_TOKEN", "in-process-token")
        yield Queues(queues, loop)
    finally:

        async def stop() -> None:
            await queues.stop()
            await client.aclose()

        asyncio.run_coroutine_threadsafe(stop(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
