"""What a window of Gmail history asks of the local copy.

History records arrive in increasing id order. Messages added in the window are fetched
(unless deleted in it too); label changes are replayed in order on messages already
stored (a message fetched now is newer than any of them); deletions are recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

LabelOp = tuple[Literal["add", "remove"], list[str]]


@dataclass
class HistoryPlan:
    added: list[str] = field(default_factory=list)
    threads: dict[str, str] = field(default_factory=dict)  # an added message's thread
    deleted: set[str] = field(default_factory=set)
    label_ops: dict[str, list[LabelOp]] = field(default_factory=dict)

    @property
    def to_fetch(self) -> list[str]:
        return [gmail_id for gmail_id in self.added if gmail_id not in self.deleted]


def plan(records: list[dict[str, Any]]) -> HistoryPlan:
    result = HistoryPlan()
    seen_added: set[str] = set()
    for record in records:
        for item in record.get("messagesAdded", []):
            gmail_id = item["message"]["id"]
            if gmail_id not in seen_added:
                seen_added.add(gmail_id)
                result.added.append(gmail_id)
                if item["message"].get("threadId"):
                    result.threads[gmail_id] = item["message"]["threadId"]
        for item in record.get("messagesDeleted", []):
            result.deleted.add(item["message"]["id"])
        for item in record.get("labelsAdded", []):
            result.label_ops.setdefault(item["message"]["id"], []).append(("add", list(item.get("labelIds", []))))
        for item in record.get("labelsRemoved", []):
            result.label_ops.setdefault(item["message"]["id"], []).append(("remove", list(item.get("labelIds", []))))
    return result


def replay(labels: list[str], ops: list[LabelOp]) -> list[str]:
    current = list(labels)
    for op, changed in ops:
        if op == "add":
            current += [label for label in changed if label not in current]
        else:
            current = [label for label in current if label not in changed]
    return current
