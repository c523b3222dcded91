"""Gmail's search operators (the subset Jessie and common clients use) and `fields` selectors.

Dates in ``after:``/``before:`` are midnight in Pacific time, as Gmail documents; a
bare number is epoch seconds. ``newer_than:``/``older_than:`` take d, m or y.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from .errors import invalid_argument
from .mailbox import Mailbox, StoredMessage

PACIFIC = ZoneInfo("America/Los_Angeles")
_TERM = re.compile(r'(-?)(\w+):("[^"]*"|\S+)|(-?)("[^"]*"|\S+)')
_UNIT_SECONDS = {"d": 86_400, "m": 30 * 86_400, "y": 365 * 86_400}
LOCATION_LABELS = {
    "inbox": "INBOX",
    "spam": "SPAM",
    "trash": "TRASH",
    "sent": "SENT",
    "drafts": "DRAFT",
    "starred": "STARRED",
    "important": "IMPORTANT",
    "unread": "UNREAD",
    "chats": "CHAT",
}


@dataclass
class Search:
    predicates: list[Callable[[StoredMessage], bool]] = field(default_factory=list)
    touches_spam_trash: bool = False


def _label_id(mailbox: Mailbox, name: str) -> str | None:
    wanted = name.lower().replace("/", "-").replace(" ", "-")
    for label in mailbox.labels.values():
        label_name = str(label["name"]).lower().replace("/", "-").replace(" ", "-")
        if wanted in (str(label["id"]).lower(), label_name):
            return str(label["id"])
    return None


def _date_ms(value: str) -> int:
    value = value.strip('"')
    if value.isdigit():
        return int(value) * 1000
    for pattern in ("%Y/%m/%d", "%Y-%m-%d", "%m/%d/%Y"):
        try:
            return int(datetime.strptime(value, pattern).replace(tzinfo=PACIFIC).timestamp() * 1000)
        except ValueError:
            continue
    raise invalid_argument(f"Invalid date in query: {value}")


def _age_ms(value: str) -> int:
    match = re.fullmatch(r"(\d+)([dmy])", value.lower())
    if not match:
        raise invalid_argument(f"Invalid relative date in query: {value}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)] * 1000


def _size_bytes(value: str) -> int:
    """`larger:`/`smaller:`/`size:` values: bytes, or with a K or M suffix."""
    match = re.fullmatch(r"(\d+)([km]?)", value.strip('"').lower())
    if not match:
        raise invalid_argument(f"Invalid size in query: {value}")
    return int(match.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[match.group(2)]


def parse_query(q: str, mailbox: Mailbox, now_ms: int) -> Search:
    search = Search()
    for match in _TERM.finditer(q or ""):
        negate = bool(match.group(1) or match.group(4))
        op, value = (match.group(2) or "").lower(), match.group(3) or match.group(5)
        predicate = _predicate(op, value, mailbox, now_ms, search)
        search.predicates.append(_negated(predicate) if negate else predicate)
    return search


def _negated(predicate: Callable[[StoredMessage], bool]) -> Callable[[StoredMessage], bool]:
    return lambda message: not predicate(message)


def _predicate(op: str, value: str, mailbox: Mailbox, now_ms: int, search: Search) -> Callable[[StoredMessage], bool]:
    if op == "after":
        bound = _date_ms(value)
        return lambda m: m.internal_date >= bound
    if op == "before":
        bound = _date_ms(value)
        return lambda m: m.internal_date < bound
    if op == "newer_than":
        bound = now_ms - _age_ms(value)
        return lambda m: m.internal_date >= bound
    if op == "older_than":
        bound = now_ms - _age_ms(value)
        return lambda m: m.internal_date < bound
    if op in ("larger", "size"):
        least = _size_bytes(value)
        return lambda m: m.view.size > least
    if op == "smaller":
        most = _size_bytes(value)
        return lambda m: m.view.size < most
    if op in ("in", "is", "label"):
        name = value.strip('"').lower()
        if op == "in" and name == "anywhere":
            search.touches_spam_trash = True
            return lambda m: True
        label = LOCATION_LABELS.get(name) if op in ("in", "is") else None
        label = label or _label_id(mailbox, name)
        if label in ("SPAM", "TRASH"):
            search.touches_spam_trash = True
        return lambda m: label is not None and label in m.label_ids
    # Anything else is free text, matched against the subject and sender Gmail indexes.
    needle = (f"{op}:{value}" if op else value).strip('"').lower()
    return lambda m: needle in _searchable(m)


def _searchable(message: StoredMessage) -> str:
    headers = message.view.headers(["subject", "from"])
    return " ".join(h["value"] for h in headers).lower() + " " + message.view.snippet.lower()


# ---- partial responses: the `fields` parameter -------------------------------------------

Selector = dict[str, "Selector | None"]


def parse_fields(text: str) -> Selector:
    """`messages(id,threadId),nextPageToken` → {"messages": {"id": None, "threadId": None}, ...}."""
    selector, rest = _parse_list(text.replace(" ", ""))
    if rest:
        raise invalid_argument(f"Invalid field selection {text}")
    return selector


def _parse_list(text: str) -> tuple[Selector, str]:
    selector: Selector = {}
    while text:
        match = re.match(r"[\w*]+(?:/[\w*]+)*", text)
        if not match:
            raise invalid_argument(f"Invalid field selection {text}")
        path, text = match.group(0).split("/"), text[match.end() :]
        sub: Selector | None = None
        if text.startswith("("):
            sub, text = _parse_list(text[1:])
            if not text.startswith(")"):
                raise invalid_argument("Invalid field selection: unbalanced parentheses")
            text = text[1:]
        node = selector
        for name in path[:-1]:
            node = node.setdefault(name, {}) or {}
        node[path[-1]] = sub
        if text.startswith(","):
            text = text[1:]
        elif text and not text.startswith(")"):
            raise invalid_argument(f"Invalid field selection {text}")
        if text.startswith(")"):
            break
    return selector, text


def apply_fields(value: object, selector: Selector | None) -> object:
    if selector is None or "*" in selector:
        return value
    if isinstance(value, list):
        return [apply_fields(item, selector) for item in value]
    if isinstance(value, dict):
        return {key: apply_fields(value[key], sub) for key, sub in selector.items() if key in value}
    return value
