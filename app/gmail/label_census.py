"""Every message's labels from one listing per label: a resync's refresh of what is stored.

A resync (history expired) lists the whole mailbox again, and what is stored already needs
only its labels. Asking each message for them (`format=minimal`) costs a get per message, 20
units under the 2026 model, while `messages.list` with `labelIds` names 500 messages for 5:
listing each label once tells every message's labels, for a cost that follows the number of
labels and memberships, not of messages. Labels that change meanwhile are put right by the
history replayed from the listing's start, as after every full listing.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Protocol

from app.gmail.client import PAGE_SIZE
from app.gmail.quota import QuotaModel


class LabelLister(Protocol):
    def list_ids(self, query: str | None = None, label_id: str | None = None) -> set[str]: ...


def census_units(label_totals: dict[str, int], model: QuotaModel) -> int:
    """What listing every label costs, from each label's stored count (at least a page each)."""
    pages = sum(max(1, math.ceil(total / PAGE_SIZE)) for total in label_totals.values())
    return pages * model.costs["gmail.users.messages.list"]


def fetch_units(thread_sizes: list[int], model: QuotaModel) -> int:
    """What asking every stored message for its labels costs, a thread at a time where cheaper."""
    get, thread = model.costs["gmail.users.messages.get"], model.costs["gmail.users.threads.get"]
    return sum(min(thread, size * get) for size in thread_sizes)


class LabelCensus:
    def __init__(self, lister: LabelLister, label_ids: list[str]) -> None:
        self.lister = lister
        self.label_ids = label_ids
        self._members: dict[str, list[str]] | None = None

    def labels(self, ids: list[str]) -> dict[str, list[str]]:
        """Each id's labels (none: it carries no label), listed on first use."""
        if self._members is None:
            members: dict[str, list[str]] = defaultdict(list)
            for label_id in self.label_ids:
                for gmail_id in self.lister.list_ids(label_id=label_id):
                    members[gmail_id].append(label_id)
            self._members = members
        return {gmail_id: list(self._members.get(gmail_id, [])) for gmail_id in ids}
