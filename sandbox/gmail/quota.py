"""Per-user quota as Gmail enforces it: units per second (moving average) and concurrency.

The moving average is modelled as a token bucket refilled at `units_per_second` and
holding `burst_seconds` worth of units, which is how Gmail lets short bursts through
while holding the average. Each method costs its documented units; every batch part
is charged on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Kept apart from app/gmail/quota.py on purpose: the sandbox is the reference that the
# app's own meter is checked against, so it must not share the app's table.
UNIT_COSTS = {
    "gmail.users.getProfile": 1,
    "gmail.users.labels.list": 1,
    "gmail.users.messages.list": 5,
    "gmail.users.messages.get": 5,
    "gmail.users.messages.attachments.get": 5,
    "gmail.users.history.list": 2,
}


@dataclass
class _UserState:
    tokens: float
    updated: float
    in_flight: int = 0


@dataclass
class QuotaConfig:
    units_per_second: float = 250.0
    burst_seconds: float = 2.0
    concurrent_requests: int = 50


@dataclass
class QuotaEnforcer:
    config: QuotaConfig = field(default_factory=QuotaConfig)
    _users: dict[str, _UserState] = field(default_factory=dict)

    def configure(self, config: QuotaConfig) -> None:
        self.config = config
        self._users.clear()

    def _state(self, user: str, now: float) -> _UserState:
        state = self._users.get(user)
        capacity = self.config.units_per_second * self.config.burst_seconds
        if state is None:
            state = self._users[user] = _UserState(tokens=capacity, updated=now)
        else:
            state.tokens = min(capacity, state.tokens + (now - state.updated) * self.config.units_per_second)
            state.updated = now
        return state

    def charge(self, user: str, cost: int, now: float) -> float | None:
        """Take `cost` units; None when admitted, else the seconds until it would be."""
        rate = self.config.units_per_second
        if rate <= 0:
            return None
        state = self._state(user, now)
        if state.tokens >= cost:
            state.tokens -= cost
            return None
        return (cost - state.tokens) / rate

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
