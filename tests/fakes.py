"""Time that tests control: a clock that moves only when something sleeps on it."""

from __future__ import annotations


class FakeClock:
    """Call it for the time; `sleep` moves it on and records how long each sleep asked for."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
