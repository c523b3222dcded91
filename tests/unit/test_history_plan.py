"""Turning a history window into fetches, deletions and label replays."""

from __future__ import annotations

from typing import Any

from app.sync.history import plan, replay


def _record(kind: str, gmail_id: str, labels: list[str] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"message": {"id": gmail_id, "threadId": gmail_id}}
    if labels is not None:
        item["labelIds"] = labels
    return {"id": "1", kind: [item]}


def test_added_then_deleted_is_not_fetched_and_ops_keep_their_order() -> None:
    changes = plan(
        [
            _record("messagesAdded", "a"),
            _record("messagesAdded", "b"),
            _record("labelsAdded", "old", ["STARRED"]),
            _record("messagesDeleted", "b"),
            _record("labelsRemoved", "old", ["STARRED", "INBOX"]),
            _record("labelsAdded", "old", ["INBOX"]),
            _record("messagesAdded", "a"),  # repeated ids are fetched once
        ]
    )
    assert changes.to_fetch == ["a"]
    assert changes.deleted == {"b"}
    assert replay(["INBOX", "UNREAD"], changes.label_ops["old"]) == ["UNREAD", "INBOX"]


def test_replay_is_idempotent_for_the_last_operation() -> None:
    ops = [("add", ["X"]), ("remove", ["X"])]
    assert replay(["X"], ops) == []  # type: ignore[arg-type]
    assert replay([], ops) == []  # type: ignore[arg-type]
