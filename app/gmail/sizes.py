"""How much mail a fetch may bring back, and how much is in memory at once.

A batch response is held in memory whole (google-api-python-client reads it at once). Messages
come as `format=full`: headers and text parts, attachments only by id and size, so an answer
is at most the message's size and usually a small part of it; mail is still up to 50 MB of
text now and then, so batches are packed: at most BATCH_BYTES of mail each, a message larger
than that alone. A message's bound comes from a size census when many ids are fetched (a first
sync, a long history window): two `messages.list` searches (`larger:`), 5 units a page, sort
every id into a class whose upper bound stands in for its size. A few ids (an hourly window)
are taken as small: the only exact probe, a `format=minimal` get, costs as much as the fetch
itself, and the census lists all of a mailbox's large mail, however few messages it would
bound. A thread's answer also carries its messages that are not wanted (already stored, or
listed on a later page); those are not known before it arrives.

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
CENSUS_MIN_IDS = 20  # from this many ids on, the census's two searches are worth their units
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


def pack(weights: list[int], most: int) -> int:
    """How many of the calls weighing `weights` (in order) the next batch takes: at most `most`
    of them and BATCH_BYTES of mail, and always at least one."""
    total, count = 0, 0
    for weight in weights[:most]:
        total += weight
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
