"""The local Vercel's push deliveries against functions that answer when the test lets them, or
fail: the trigger's maxConcurrency, the visibility timeout, retryAfterSeconds and maxDeliveries
hold, and a message reaches only the deployment that sent it. The queue runs on a manual clock,
so leases lapse and retries come due when the test moves time on, not when it waits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from vercel.queue import QueueClient

from sandbox.vercel.edge import REGION
from sandbox.vercel.queues import LocalQueues, Subscription

PUSH_LEASE_S = 300  # the embedded server's visibility timeout of a push delivery
CONSUMER = "api_Sjob_Dpy"


class Function:
    """A consumer function that records each delivery and answers `status` once `gate` is open;
    it never acknowledges (as a function that lost the message, or crashed after answering)."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.gate = asyncio.Event()
        self.deliveries: list[tuple[str, str]] = []  # (message id, delivery count)

    async def __call__(self, _body: bytes, headers: dict[str, str]) -> int:
        self.deliveries.append((headers["ce-vqsmessageid"], headers["ce-vqsdeliverycount"]))
        await self.gate.wait()
        return self.status


async def eventually(condition: Callable[[], bool]) -> None:
    """Let the loop run until `condition` holds (the dispatcher works in its own task)."""
    async with asyncio.timeout(30):
        while not condition():
            await asyncio.sleep(0)


async def _queue(function: Function, **trigger: object) -> tuple[LocalQueues, QueueClient]:
    queues = LocalQueues(manual_clock=True)
    await queues.start()
    config = {"topic": "jobs", "consumer": CONSUMER, **trigger}
    queues.subscribe(Subscription.from_trigger("dpl_mine", config, function))
    return queues, QueueClient(base_url=queues.base_url, region=REGION, token="t", deployment="dpl_mine")


def _counts(queues: LocalQueues) -> list[int]:
    return [m["deliveries"][CONSUMER] for m in queues.messages("jobs")]


def test_max_concurrency_the_visibility_timeout_and_max_deliveries_hold() -> None:
    async def scenario() -> None:
        function = Function(200)
        queues, client = await _queue(function, maxConcurrency=2, maxDeliveries=3)
        try:
            for number in range(3):
                await client.send("jobs", {"n": number})
            await eventually(lambda: len(function.deliveries) == 2)
            assert _counts(queues) == [1, 1, 0] and queues.delivering() == 2  # the third waits its turn
            function.gate.set()  # they answer: a turn for the third
            await eventually(lambda: _counts(queues) == [1, 1, 1] and queues.delivering() == 0)
            for delivery in (2, 3):  # unacknowledged, each comes back when its lease lapses
                assert all(m["visible_in_s"][CONSUMER] == PUSH_LEASE_S for m in queues.messages("jobs"))
                queues.shift(PUSH_LEASE_S)
                await eventually(lambda n=delivery: _counts(queues) == [n] * 3 and queues.delivering() == 0)  # type: ignore[misc]
            queues.shift(PUSH_LEASE_S)  # past maxDeliveries: dropped, never delivered again
            await eventually(lambda: all(m["done"] for m in queues.messages("jobs")))
            assert len(function.deliveries) == 9
        finally:
            function.gate.set()
            await queues.stop()

    asyncio.run(scenario())


def test_a_failing_function_is_retried_after_retry_after_seconds_only_for_its_own_deployment() -> None:
    async def scenario() -> None:
        function = Function(500)
        function.gate.set()
        queues, client = await _queue(function, maxDeliveries=2, retryAfterSeconds=5)
        other = QueueClient(base_url=queues.base_url, region=REGION, token="t", deployment="dpl_other")
        try:
            await other.send("jobs", {"for": "another deployment"})
            await client.send("jobs", {"n": 1})

            def mine() -> dict[str, Any]:
                return next(m for m in queues.messages("jobs") if m["deployment"] == "dpl_mine")

            await eventually(lambda: mine()["visible_in_s"][CONSUMER] == 5.0)  # failed: back in 5 s
            queues.shift(5)
            await eventually(lambda: mine()["done"])  # its second delivery failed too: dropped
            assert [count for _, count in function.deliveries] == ["1", "2"]
            assert {message for message, _ in function.deliveries} == {mine()["id"]}  # never the other's
        finally:
            await queues.stop()

    asyncio.run(scenario())
