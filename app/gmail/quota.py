"""Gmail quota: what each call costs, an exact meter, and per-account pacing.

Costs are Gmail's documented units. The meter counts what goes on the wire (each batch
part, each resend after a 401), so it matches what Gmail charges. The pacer is a token
bucket at the per-user rate, so rate-limit errors stay the exception, not the control
loop.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from app.deadline import Deadline

UNIT_COSTS = {
    "gmail.users.getProfile": 1,
    "gmail.users.labels.list": 1,
    "gmail.users.messages.list": 5,
    "gmail.users.messages.get": 5,
    "gmail.users.messages.attachments.get": 5,
    "gmail.users.history.list": 2,
}
_PATHS = [
    (re.compile(r"/users/[^/]+/profile$"), "gmail.users.getProfile"),
    (re.compile(r"/users/[^/]+/labels$"), "gmail.users.labels.list"),
    (re.compile(r"/users/[^/]+/messages$"), "gmail.users.messages.list"),
    (re.compile(r"/users/[^/]+/messages/[^/]+$"), "gmail.users.messages.get"),
    (re.compile(r"/users/[^/]+/messages/[^/]+/attachments/[^/]+$"), "gmail.users.messages.attachments.get"),
    (re.compile(r"/users/[^/]+/history$"), "gmail.users.history.list"),
]
_BATCH_PART = re.compile(r"^(?:GET|POST|PUT|PATCH|DELETE) (\S+) HTTP/1\.1\r?$", re.M)


def method_for(path: str) -> str:
    path = path.split("?", 1)[0]
    for pattern, method in _PATHS:
        if pattern.search(path):
            return method
    raise ValueError(f"not a Gmail API path this client knows: {path}")


def methods_in_batch(body: str) -> list[str]:
    """The method of every part of a batch body, from its embedded request lines."""
    return [method_for(path) for path in _BATCH_PART.findall(body)]


@dataclass
class QuotaMeter:
    calls: Counter[str] = field(default_factory=Counter)
    http_requests: int = 0
    retries: int = 0

    def record(self, methods: list[str]) -> None:
        self.http_requests += 1
        self.calls.update(methods)

    @property
    def units(self) -> int:
        return sum(UNIT_COSTS[method] * count for method, count in self.calls.items())

    @property
    def requests(self) -> int:
        """Gmail API calls, each batch part counted once."""
        return sum(self.calls.values())


class Pacer:
    """A token bucket holding one second of units: waits before a call that would overspend."""

    def __init__(
        self,
        units_per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = units_per_second
        self.capacity = units_per_second
        self._tokens = units_per_second
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def acquire(self, units: int, deadline: Deadline) -> None:
        if self.rate <= 0:
            return
        with self._lock:
            self._refill()
            # A request larger than the bucket (never with batches of ≤ 50 gets) waits for
            # a full bucket and then overdraws it; the debt is paid back at the same rate.
            wait = max(0.0, (min(units, self.capacity) - self._tokens) / self.rate)
            if wait:
                deadline.sleep(wait, "quota pacing", self._sleep)
                self._refill()
            self._tokens -= units
