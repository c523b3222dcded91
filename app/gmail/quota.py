"""Gmail quota: the project's model, what each call costs under it, an exact meter, and pacing.

Google has two models (developers.google.com/workspace/gmail/api/reference/quota): a project
that used the API between November 2025 and April 2026 keeps the legacy one; a project created
since 1 May 2026 gets the 2026 one. Which one a project has cannot be read from the API, so it
is a setting (JESSIE_GMAIL_QUOTA_MODEL), defaulting to what a new project gets.

The meter counts what goes on the wire (each batch part, each resend after a 401), so it
matches what Gmail charges. The pacer spends an account's per-minute units the way Google
counts them: Google Cloud enforces per-minute quotas over synchronized wall-clock minutes
(a minute's units refill at the start of the next), so rate-limit errors stay the exception,
not the control loop.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from app.deadline import Deadline

ModelName = Literal["2026", "legacy"]


@dataclass(frozen=True)
class QuotaModel:
    name: ModelName
    per_user_per_minute: int
    per_project_per_minute: int
    daily_threshold: int | None  # per project and day; billing beyond it is announced, not a refusal
    costs: Mapping[str, int]

    def units(self, methods: Iterable[str]) -> int:
        return sum(self.costs[method] for method in methods)


# The 2026 table prices four methods anew; the others keep their legacy cost until Google's
# page gives theirs.
_LEGACY_COSTS = {
    "gmail.users.getProfile": 1,
    "gmail.users.labels.list": 1,
    "gmail.users.messages.list": 5,
    "gmail.users.messages.get": 5,
    "gmail.users.messages.attachments.get": 5,
    "gmail.users.history.list": 2,
    "gmail.users.threads.get": 10,
}
MODELS: dict[ModelName, QuotaModel] = {
    "2026": QuotaModel(
        "2026",
        per_user_per_minute=6_000,
        per_project_per_minute=1_200_000,
        daily_threshold=80_000_000,
        costs={**_LEGACY_COSTS, "gmail.users.messages.get": 20, "gmail.users.threads.get": 40},
    ),
    "legacy": QuotaModel(
        "legacy",
        per_user_per_minute=15_000,
        per_project_per_minute=1_200_000,
        daily_threshold=None,
        costs=_LEGACY_COSTS,
    ),
}

_PATHS = [
    (re.compile(r"/users/[^/]+/profile$"), "gmail.users.getProfile"),
    (re.compile(r"/users/[^/]+/labels$"), "gmail.users.labels.list"),
    (re.compile(r"/users/[^/]+/messages$"), "gmail.users.messages.list"),
    (re.compile(r"/users/[^/]+/messages/[^/]+$"), "gmail.users.messages.get"),
    (re.compile(r"/users/[^/]+/messages/[^/]+/attachments/[^/]+$"), "gmail.users.messages.attachments.get"),
    (re.compile(r"/users/[^/]+/history$"), "gmail.users.history.list"),
    (re.compile(r"/users/[^/]+/threads/[^/]+$"), "gmail.users.threads.get"),
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
    model: QuotaModel = MODELS["2026"]
    calls: Counter[str] = field(default_factory=Counter)
    http_requests: int = 0
    retries: int = 0

    def record(self, methods: list[str]) -> None:
        self.http_requests += 1
        self.calls.update(methods)

    @property
    def units(self) -> int:
        return sum(self.model.costs[method] * count for method, count in self.calls.items())

    @property
    def requests(self) -> int:
        """Gmail API calls, each batch part counted once."""
        return sum(self.calls.values())


class Pacer(Protocol):
    def acquire(self, units: int, deadline: Deadline) -> None:
        """Wait, if need be, until `units` may be spent; then count them as spent."""

    def hold(self, seconds: float) -> None:
        """Gmail refused a whole batch for quota: spend nothing for `seconds`."""


class MinutePacer:
    """At most `units_per_minute` in each wall-clock minute, as Google counts them.

    A call sent in the last EDGE_S of a minute may be counted in the next one (transit, clock
    skew), so it counts against both; a minute that is spent is waited out, plus EDGE_S.
    """

    EDGE_S = 0.5

    def __init__(
        self,
        units_per_minute: int,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = units_per_minute
        self._clock = clock
        self._sleep = sleep
        self._spent: Counter[int] = Counter()
        self._held_until = 0.0
        self._lock = threading.Lock()

    def acquire(self, units: int, deadline: Deadline) -> None:
        with self._lock:
            while True:
                now = self._clock()
                minute = math.floor(now / 60)
                if now < self._held_until:
                    deadline.sleep(self._held_until - now, "quota pacing", self._sleep)
                elif self._spent[minute] and self._spent[minute] + units > self.limit:
                    deadline.sleep((minute + 1) * 60 + self.EDGE_S - now, "quota pacing", self._sleep)
                else:
                    break
            self._spent[minute] += units
            if (minute + 1) * 60 - now < self.EDGE_S:
                self._spent[minute + 1] += units
            for old in [m for m in self._spent if m < minute]:
                del self._spent[old]

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._held_until = max(self._held_until, self._clock() + seconds)


class RatePacer:
    """A token bucket holding one second of units (JESSIE_QUOTA_UNITS_PER_SECOND; 0 = no pacing)."""

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
            # A request larger than the bucket waits for a full bucket and then overdraws it;
            # the debt is paid back at the same rate.
            wait = max(0.0, (min(units, self.capacity) - self._tokens) / self.rate)
            if wait:
                deadline.sleep(wait, "quota pacing", self._sleep)
                self._refill()
            self._tokens -= units

    def hold(self, seconds: float) -> None:
        if self.rate > 0:
            with self._lock:
                self._refill()
                self._tokens = min(self._tokens, -seconds * self.rate)
