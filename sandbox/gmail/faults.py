"""Seeded, reproducible fault injection for the Gmail API paths.

Decisions come from one `random.Random(seed)` in call order, so a run that makes the
same calls in the same order meets the same faults. Rates are probabilities per call
(each batch part is a call), except `reset_rate`, which is per HTTP request.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields
from typing import Literal

Fault = Literal["error", "rate_limit", "precondition"]


@dataclass
class FaultConfig:
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    # 400 failedPrecondition, which Gmail answers now and then for a message (or thread) it serves later.
    precondition_rate: float = 0.0
    reset_rate: float = 0.0
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    seed: int = 0
    # Requests from this count on (per sandbox, Gmail API only) are held until faults are
    # replaced: lets a test stop a client at a known point and kill it there. 0 = off.
    stall_after_requests: int = 0

    @classmethod
    def from_json(cls, payload: dict[str, object]) -> FaultConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(payload) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        config = cls(**payload)  # type: ignore[arg-type]
        for name in ("error_rate", "rate_limit_rate", "precondition_rate", "reset_rate"):
            value = float(getattr(config, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        return config

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class Faults:
    def __init__(self, config: FaultConfig | None = None) -> None:
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)

    def for_call(self) -> Fault | None:
        config = self.config
        if not (config.error_rate or config.rate_limit_rate or config.precondition_rate):
            return None
        roll = self._rng.random()
        if roll < config.error_rate:
            return "error"
        if roll < config.error_rate + config.rate_limit_rate:
            return "rate_limit"
        if roll < config.error_rate + config.rate_limit_rate + config.precondition_rate:
            return "precondition"
        return None

    def error_status(self) -> int:
        return self._rng.choice([500, 502, 503])

    def rate_limit_style(self) -> int:
        return self._rng.randrange(3)

    def reset(self) -> bool:
        return bool(self.config.reset_rate) and self._rng.random() < self.config.reset_rate

    def latency_s(self) -> float:
        config = self.config
        jitter = self._rng.uniform(-config.jitter_ms, config.jitter_ms) if config.jitter_ms else 0.0
        return max(0.0, config.latency_ms + jitter) / 1000
