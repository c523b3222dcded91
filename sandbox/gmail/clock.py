"""The sandbox's notion of time: real time plus an offset that tests can advance.

Token expiry, quota refill and `newer_than:` all read this clock, so a test can move
an hour forward without waiting an hour.
"""

from __future__ import annotations

import time


class Clock:
    def __init__(self) -> None:
        self._offset = 0.0

    def wall(self) -> float:
        """Seconds since the epoch."""
        return time.time() + self._offset

    def monotonic(self) -> float:
        return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        self._offset += seconds
