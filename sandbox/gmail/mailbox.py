"""One Gmail mailbox: messages, labels and the history that records every change.

Gmail facts kept here: message ids are 16 hex digits that grow with the internal date;
history ids only increase, with gaps; a message's ``historyId`` is the id of the last
change that touched it; history older than the retained window answers 404.

A mailbox is its seed plus its `journal`, the changes made to it in order: replaying the
journal on a mailbox of the same seed rebuilds it exactly (ids, history ids, contents), which
is how a sandbox keeps its mailboxes across restarts (sandbox/gmail/persistence.py).
"""

from __future__ import annotations

import base64
import email
import random
import re
from dataclasses import dataclass, field
from typing import Literal

from .generator import USER_LABELS, MessageFactory
from .mime_view import MessageView

SYSTEM_LABELS = [
    "INBOX",
    "SENT",
    "DRAFT",
    "SPAM",
    "TRASH",
    "UNREAD",
    "STARRED",
    "IMPORTANT",
    "CHAT",
    "CATEGORY_PERSONAL",
    "CATEGORY_SOCIAL",
    "CATEGORY_PROMOTIONS",
    "CATEGORY_UPDATES",
    "CATEGORY_FORUMS",
]

# As labels.list shows them: some system labels carry visibilities, a user label may have a
# colour from Gmail's palette (backgroundColor/textColor) or none.
HIDDEN_SYSTEM_LABEL = {"messageListVisibility": "hide", "labelListVisibility": "labelHide"}
USER_LABEL_COLORS: list[dict[str, str] | None] = [
    {"backgroundColor": "#16a766", "textColor": "#ffffff"},
    {"backgroundColor": "#4a86e8", "textColor": "#ffffff"},
    None,
    {"backgroundColor": "#fad165", "textColor": "#000000"},
    None,
]

# What mail clients put before a subject they answer or forward (Gmail threads across them).
REPLY_PREFIX = re.compile(r"^\s*((re|fwd?|aw|sv|wg)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)

MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(<[\x21-\x3b\x3d\x3f-\x7e]+>)", re.IGNORECASE | re.MULTILINE)

HistoryKind = Literal["messageAdded", "messageDeleted", "labelAdded", "labelRemoved"]


@dataclass
class StoredMessage:
    id: str
    thread_id: str
    label_ids: list[str]
    internal_date: int
    history_id: int
    view: MessageView

    def summary(self) -> dict[str, object]:
        return {
            "id": self.id,
            "threadId": self.thread_id,
            "labelIds": list(self.label_ids),
            "historyId": str(self.history_id),
            "internalDate": str(self.internal_date),
        }


@dataclass
class HistoryRecord:
    id: int
    kind: HistoryKind
    message_id: str
    thread_id: str
    label_ids: list[str] = field(default_factory=list)  # the labels that changed
    message_labels: list[str] = field(default_factory=list)  # the message's labels after the change


class UnknownMessage(KeyError):
    pass


class HistoryExpired(Exception):
    pass


class Mailbox:
    def __init__(self, email: str, seed: int, reply_rate: float | None = None) -> None:
        self.email = email
        self.seed = seed
        self.reply_rate = reply_rate
        self.journal: list[list[object]] = []  # each change: its method's name and arguments
        self.factory = MessageFactory(email, seed, reply_rate)
        self._rng = random.Random(f"history:{seed}:{email}")
        self.history_id = self._rng.randint(1_000, 900_000)
        self.history_floor = self.history_id
        self.history: list[HistoryRecord] = []
        self.messages: dict[str, StoredMessage] = {}
        self.threads: dict[str, list[str]] = {}  # thread id → its message ids, oldest first
        self.labels: dict[str, dict[str, object]] = {
            name: {"id": name, "name": name, "type": "system"} for name in SYSTEM_LABELS
        }
        self.labels["CHAT"].update(HIDDEN_SYSTEM_LABEL)
        for label_id, name, color in zip(self.factory.user_label_ids, USER_LABELS, USER_LABEL_COLORS, strict=True):
            self.labels[label_id] = {
                "id": label_id,
                "name": name,
                "type": "user",
                "messageListVisibility": "show",
                "labelListVisibility": "labelShow",
                **({"color": color} if color else {}),
            }
        self._id_counter = 0
        self._last_date = 0
        self._generated: list[str] = []  # message id of each factory message, by factory index
        self._by_header_id: dict[str, str] = {}  # a Message-ID header → the message that carries it

    # ---- creation -------------------------------------------------------------------

    def populate(self, count: int) -> None:
        """The mailbox's past: generated messages whose history is not retained."""
        self.journal.append(["populate", count])
        for generated in self.factory.history(count):
            thread_id = self._thread_of(generated.reply_to_index)
            message = self._store(generated.raw, generated.label_ids, generated.internal_date, thread_id)
            self._generated.append(message.id)
        self.history.clear()
        self.history_floor = self.history_id

    def deliver(
        self, raw: bytes | None, label_ids: list[str] | None, now_ms: int, attachment_bytes: int = 0
    ) -> StoredMessage:
        """New mail arriving now: generated when `raw` is None (with an attachment of
        `attachment_bytes`, if given)."""
        date = max(now_ms, self._last_date + 1)
        if raw is not None:
            labels = label_ids if label_ids is not None else ["INBOX", "UNREAD"]
            self._check_labels(labels)
            message = self._store(raw, labels, date, self._thread_answered(raw))
        else:
            generated = self.factory.make(date, attachment_bytes=attachment_bytes)
            message = self._store(generated.raw, generated.label_ids, date, self._thread_of(generated.reply_to_index))
            self._generated.append(message.id)
        encoded = None if raw is None else base64.b64encode(raw).decode()
        self.journal.append(["deliver", encoded, label_ids, now_ms, attachment_bytes])
        return message

    def _thread_of(self, factory_index: int | None) -> str | None:
        """The thread of the message a generated reply answers, if that message still exists."""
        if factory_index is None:
            return None
        original = self.messages.get(self._generated[factory_index])
        return original.thread_id if original else None

    def _thread_answered(self, raw: bytes) -> str | None:
        """The thread delivered mail joins, as Gmail threads it: one of whose messages its
        `In-Reply-To` or `References` names, when the subjects match but for "Re:"-like prefixes."""
        headers = email.message_from_bytes(raw)
        named = f"{headers.get('In-Reply-To', '')} {headers.get('References', '')}"
        subject = _bare_subject(headers.get("Subject"))
        for header_id in reversed(re.findall(r"<[^<>\s]+>", named)):
            earlier = self.messages.get(self._by_header_id.get(header_id, ""))
            if earlier is not None and _bare_subject(earlier.view.header("Subject")) == subject:
                return earlier.thread_id
        return None

    def _store(self, raw: bytes, labels: list[str], date_ms: int, thread_id: str | None) -> StoredMessage:
        self._id_counter += 1
        message_id = f"{(date_ms << 20 | (self._id_counter & 0xFFFFF)) & 0xFFFF_FFFF_FFFF_FFFF:016x}"
        self._last_date = max(self._last_date, date_ms)
        message = StoredMessage(
            id=message_id,
            thread_id=thread_id or message_id,
            label_ids=list(dict.fromkeys(labels)),
            internal_date=date_ms,
            history_id=0,
            view=MessageView(message_id, raw),
        )
        self.messages[message_id] = message
        header_id = MESSAGE_ID.search(re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0])
        if header_id:
            self._by_header_id.setdefault(header_id[1].decode("ascii"), message_id)
        self.threads.setdefault(message.thread_id, []).append(message_id)
        self._record("messageAdded", message, [])
        return message

    # ---- mutations that history records ---------------------------------------------

    def delete(self, message_id: str) -> None:
        message = self._get(message_id)
        self.journal.append(["delete", message_id])
        del self.messages[message_id]
        siblings = self.threads[message.thread_id]
        siblings.remove(message_id)
        if not siblings:
            del self.threads[message.thread_id]
        self._record("messageDeleted", message, [])

    def relabel(self, message_id: str, add: list[str], remove: list[str]) -> StoredMessage:
        message = self._get(message_id)
        self._check_labels(add + remove)
        self.journal.append(["relabel", message_id, add, remove])
        added = [label for label in dict.fromkeys(add) if label not in message.label_ids]
        if added:
            message.label_ids.extend(added)
            self._record("labelAdded", message, added)
        removed = [label for label in dict.fromkeys(remove) if label in message.label_ids and label not in added]
        if removed:
            message.label_ids = [label for label in message.label_ids if label not in removed]
            self._record("labelRemoved", message, removed)
        return message

    def expire_history(self) -> None:
        """Forget all history up to now: every history id handed out so far answers 404."""
        self.journal.append(["expire_history"])
        self.history_id += self._rng.randint(1, 50)
        self.history_floor = self.history_id
        self.history.clear()

    def _record(self, kind: HistoryKind, message: StoredMessage, label_ids: list[str]) -> None:
        self.history_id += self._rng.randint(1, 50)
        message.history_id = self.history_id
        self.history.append(
            HistoryRecord(self.history_id, kind, message.id, message.thread_id, label_ids, list(message.label_ids))
        )

    # ---- queries --------------------------------------------------------------------

    def _get(self, message_id: str) -> StoredMessage:
        try:
            return self.messages[message_id]
        except KeyError:
            raise UnknownMessage(message_id) from None

    def get(self, message_id: str) -> StoredMessage:
        return self._get(message_id)

    def thread(self, thread_id: str) -> list[StoredMessage]:
        """A thread's messages in date order (UnknownMessage when it has none left)."""
        ids = self.threads.get(thread_id)
        if not ids:
            raise UnknownMessage(thread_id)
        return sorted((self.messages[i] for i in ids), key=lambda m: (m.internal_date, m.id))

    def history_since(self, start: int) -> list[HistoryRecord]:
        if start < self.history_floor:
            raise HistoryExpired(start)
        # Records are appended in increasing id order, so a bisect would do; a scan is
        # fast enough for sandbox-sized histories and keeps this obvious.
        return [record for record in self.history if record.id > start]

    def _check_labels(self, labels: list[str]) -> None:
        unknown = [label for label in labels if label not in self.labels]
        if unknown:
            raise ValueError(f"unknown label ids: {', '.join(unknown)}")

    def threads_total(self) -> int:
        return len(self.threads)


def _bare_subject(subject: str | None) -> str:
    return REPLY_PREFIX.sub("", subject or "").strip().casefold()
