"""Gmail's quota as Google enforces it: per-minute windows per user and per project, and concurrency.

Two models exist (developers.google.com/workspace/gmail/api/reference/quota): projects that used
the API between November 2025 and April 2026 keep the legacy one; projects created since 1 May
2026 get the 2026 one, with a lower per-user limit and dearer reads. Google Cloud enforces
per-minute rate quotas over synchronized intervals: what a minute allows refills at the start
of the next one (10:00:15 → 10:01:00), so a window here is a wall-clock minute. A call the
window cannot take is refused (per user: `userRateLimitExceeded`; per project:
`rateLimitExceeded`) and takes nothing from it. Every batch part is charged on its own.

`units_per_second` replaces the model's per-user window with a token bucket (what tests use to
make the limit bite quickly; 0 switches limits off); the costs stay the model's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal

WINDOW_S = 60.0


@dataclass(frozen=True)
class QuotaModel:
    per_user_per_minute: int
    per_project_per_minute: int
    daily_threshold: int | None  # billing beyond it (announced), not a refusal
    costs: Mapping[str, int]


# Kept apart from app/gmail/quota.py on purpose: the sandbox is the reference that the app's
# own meter is checked against, so it must not share the app's tables. The 2026 table names
# four methods' new costs; the rest are the legacy table's until Google's page says otherwise.
_LEGACY_COSTS = {
    "gmail.users.getProfile": 1,
    "gmail.users.labels.list": 1,
    "gmail.users.messages.list": 5,
    "gmail.users.messages.get": 5,
    "gmail.users.messages.attachments.get": 5,
    "gmail.users.history.list": 2,
    "gmail.users.threads.get": 10,
}
MODELS: dict[str, QuotaModel] = {
    "legacy": QuotaModel(15_000, 1_200_000, None, _LEGACY_COSTS),
    "2026": QuotaModel(
        6_000,
        1_200_000,
        80_000_000,
        {**_LEGACY_COSTS, "gmail.users.messages.get": 20, "gmail.users.threads.get": 40},
    ),
}
ModelName = Literal["2026", "legacy"]


@dataclass
class QuotaConfig:
    model: ModelName = "2026"
    units_per_second: float | None = None  # a per-user token bucket instead of the window; 0 = no limits
    burst_seconds: float = 2.0
    concurrent_requests: int = 50

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(sorted(MODELS))}, not {self.model!r}")

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class _Window:
    """Units taken in one wall-clock minute."""

    minute: int = -1
    used: int = 0

    def room(self, minute: int, limit: int) -> int:
        if minute != self.minute:
            self.minute, self.used = minute, 0
        return limit - self.used


@dataclass
class _UserState:
    tokens: float
    updated: float
    in_flight: int = 0
    window: _Window = field(default_factory=_Window)


@dataclass(frozen=True)
class Refusal:
    wait_s: float
    per_project: bool  # the project's limit, not this user's


@dataclass
class QuotaEnforcer:
    config: QuotaConfig = field(default_factory=QuotaConfig)
    _users: dict[str, _UserState] = field(default_factory=dict)
    _project: _Window = field(default_factory=_Window)

    @property
    def model(self) -> QuotaModel:
        return MODELS[self.config.model]

    def cost(self, method_id: str) -> int:
        return self.model.costs[method_id]

    def configure(self, config: QuotaConfig) -> None:
        self.config = config
        self._users.clear()
        self._project = _Window()

    def _state(self, user: str, now: float) -> _UserState:
        state = self._users.get(user)
        rate = self.config.units_per_second or 0.0
        capacity = rate * self.config.burst_seconds
        if state is None:
            state = self._users[user] = _UserState(tokens=capacity, updated=now)
        else:
            state.tokens = min(capacity, state.tokens + (now - state.updated) * rate)
            state.updated = now
        return state

    def charge(self, user: str, cost: int, now: float, wall: float) -> Refusal | None:
        """Take `cost` units for `user`: None when admitted, else how long until it would be."""
        rate = self.config.units_per_second
        if rate == 0:
            return None
        state = self._state(user, now)
        if rate is not None:
            if state.tokens < cost:
                return Refusal((cost - state.tokens) / rate, per_project=False)
            state.tokens -= cost
            return None
        minute = math.floor(wall / WINDOW_S)
        until_next = (minute + 1) * WINDOW_S - wall
        if self._project.room(minute, self.model.per_project_per_minute) < cost:
            return Refusal(until_next, per_project=True)
        if state.window.room(minute, self.model.per_user_per_minute) < cost:
            return Refusal(until_next, per_project=False)
        self._project.used += cost
        state.window.used += cost
        return None

    def enter(self, user: str, slots: int, now: float) -> int:
        """Occupy up to `slots` concurrent-request slots; returns how many were granted."""
        state = self._state(user, now)
        granted = max(0, min(slots, self.config.concurrent_requests - state.in_flight))
        state.in_flight += granted
        return granted

    def leave(self, user: str, slots: int) -> None:
        state = self._users.get(user)
        if state is not None:
            state.in_flight = max(0, state.in_flight - slots)
