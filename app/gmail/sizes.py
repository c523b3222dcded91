"""How big a message is before its raw form is fetched, and how much mail is in memory.

A batch response is held in memory whole (google-api-python-client reads it at once) and
`format=raw` messages reach tens of MB, so batches are packed by size: at most BATCH_BYTES
of mail each, a message larger than that alone. Sizes come from one of two places:

- many ids (a first sync, a long history window): a size census, two `messages.list`
  searches (`larger:`), 5 units a page, sorts every id into a class whose upper bound
  stands in for its size;
- a few ids (an hourly window): one `format=minimal` batch gives each exact
  `sizeEstimate` (5 units a message: cheaper than the census's list pages for a few).

Across the threads of a process, at most IN_FLIGHT_BYTES of mail is being fetched and
parsed at once; a message larger than that waits until it can be alone. Messages Gmail
has not indexed yet (seconds old) may escape the census and count as small.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from app.deadline import BudgetExhausted, Deadline

SMALL_BYTES = 320_000  # the census's first boundary
MEDIUM_BYTES = 4_000_000  # and its second
MAX_MESSAGE_BYTES = 50_000_000  # Gmail receives mail up to 50 MB
BATCH_BYTES = 16_000_000  # mail one batch may bring back
IN_FLIGHT_BYTES = 32_000_000  # mail being fetched and parsed at once, per process
CENSUS_MIN_IDS = 20  # from this many ids on, the census is cheaper than probing each one
MAX_BATCH = 50  # Gmail's advice for one batch


class Lister(Protocol):
    def list_ids(self, query: str) -> set[str]: ...


class SizeCensus:
    """The ids of one mailbox's messages above each boundary, listed once per account sync."""

    def __init__(self, lister: Lister) -> None:
        self.lister = lister
        self._above: list[tuple[int, set[str]]] | None = None

    def sizes(self, ids: list[str]) -> dict[str, int]:
        """Each id's size as the upper bound of its class."""
        if self._above is None:
            self._above = [
                (MAX_MESSAGE_BYTES, self.lister.list_ids(f"larger:{MEDIUM_BYTES}")),
                (MEDIUM_BYTES, self.lister.list_ids(f"larger:{SMALL_BYTES}")),
            ]
        return {gmail_id: self._bound(gmail_id) for gmail_id in ids}

    def _bound(self, gmail_id: str) -> int:
        for bound, above in self._above or []:
            if gmail_id in above:
                return bound
        return SMALL_BYTES


def pack(ids: list[str], sizes: dict[str, int], most: int) -> int:
    """How many of `ids` (in order) the next batch takes: at most `most` of them and
    BATCH_BYTES of mail, and always at least one."""
    total, count = 0, 0
    for gmail_id in ids[:most]:
        total += sizes.get(gmail_id, MAX_MESSAGE_BYTES)
        if count and total > BATCH_BYTES:
            break
        count += 1
    return max(1, count)


class InFlight:
    """A budget of bytes shared by every fetcher of the process."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._changed = threading.Condition()

    @contextmanager
    def holding(self, size: int, deadline: Deadline) -> Iterator[None]:
        size = min(size, self.capacity)  # a message bigger than the budget waits to be alone
        with self._changed:
            if not self._changed.wait_for(lambda: self.used + size <= self.capacity, deadline.remaining()):
                raise BudgetExhausted(f"waited for {size / 1e6:.0f} MB of the memory budget until the end")
            self.used += size
        try:
            yield
        finally:
            with self._changed:
                self.used -= size
                self._changed.notify_all()


IN_FLIGHT = InFlight(IN_FLIGHT_BYTES)
