"""The inbox's search box, read the way Gmail reads it.

`from:`, `to:`, `subject:` (a word or a "quoted phrase" in that field), `label:` (a label's
name or id), `in:` (inbox, sent, drafts, spam, trash, starred, anywhere), `is:` (unread,
read, starred, important), `has:attachment`, `filename:` (a name, part of one, or an
extension), `after:`/`before:` (and `newer:`/`older:`: a date, midnight Pacific time as Gmail
reads it, or epoch seconds), `newer_than:`/`older_than:` (d, m or y ago), `larger:`/`smaller:`
(`size:`; bytes, or with K or M); everything else is free text over subject, sender,
recipients and body, where "quoted phrases", `-word` and `OR` mean what they mean in Gmail. A
leading `-` negates an operator too. Like Gmail, a search leaves out Spam and Trash unless it
names them. Words that only look like operators (`foo:bar`, `10:30`) are searched as text, as
Gmail does; Gmail operators Jessie cannot answer from what it stores (`cc:`, `category:`, …)
and values an operator cannot take are refused (SearchRefused) with words saying which.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

FIELDS = {"from": "b", "to": "c", "subject": "a"}  # the search vector's weight of each field
LOCATIONS = {
    "inbox": "INBOX",
    "sent": "SENT",
    "drafts": "DRAFT",
    "draft": "DRAFT",
    "spam": "SPAM",
    "trash": "TRASH",
    "starred": "STARRED",
    "important": "IMPORTANT",
    "chats": "CHAT",
}
STATES = {"unread": ("UNREAD", True), "read": ("UNREAD", False), "starred": ("STARRED", True)}
STATES |= {"important": ("IMPORTANT", True)}
HIDDEN_UNLESS_ASKED = ("SPAM", "TRASH")
_TOKEN = re.compile(r'(-?)(?:([A-Za-z_]+):)?("[^"]*"?|[^\s"]+)')
# Gmail's operators that need what Jessie does not store (Cc/Bcc, list ids, categories' tabs, …).
UNSUPPORTED = {"cc", "bcc", "list", "deliveredto", "category", "rfc822msgid", "around", "has_userlabels"}
DATE_OPERATORS = {"after": False, "newer": False, "before": True, "older": True}  # operator → "before"
AGE_OPERATORS = {"newer_than": False, "older_than": True}
AGE_UNITS = {"d": "days", "m": "months", "y": "years"}
SIZE_OPERATORS = {"larger": True, "size": True, "smaller": False}  # operator → "larger"
SIZE_UNITS = {"": 1, "k": 1024, "m": 1024 * 1024}


class SearchRefused(ValueError):
    """A query Jessie cannot answer as Gmail would; the message says why, for the person."""


@dataclass(frozen=True)
class FieldMatch:
    weight: str  # a, b or c
    words: str
    negated: bool = False


@dataclass(frozen=True)
class LabelMatch:
    label: str  # an id (from in:/is:) or a name or id (label:) to look up
    by_name: bool
    present: bool = True


@dataclass(frozen=True)
class DateBound:
    """Mail received before (or from) a moment: a date at midnight Pacific time, epoch
    seconds, or an age (`amount` `unit` before now)."""

    before: bool
    date: str | None = None  # YYYY-MM-DD
    epoch_s: int | None = None
    age: tuple[int, str] | None = None  # (amount, "days" | "months" | "years")


@dataclass(frozen=True)
class SizeBound:
    larger: bool  # larger than `bytes`, else smaller
    bytes: int


@dataclass(frozen=True)
class FileMatch:
    name: str  # lower case: a whole name, part of one, or an extension
    negated: bool = False


@dataclass
class Search:
    text: str = ""  # free text, in websearch_to_tsquery's syntax
    fields: list[FieldMatch] = field(default_factory=list)
    labels: list[LabelMatch] = field(default_factory=list)
    anywhere: bool = False  # in:anywhere, or a search naming Spam or Trash
    dates: list[DateBound] = field(default_factory=list)
    sizes: list[SizeBound] = field(default_factory=list)
    attachment: bool | None = None  # has:attachment (True), -has:attachment (False)
    files: list[FileMatch] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (
            self.text
            or self.fields
            or self.labels
            or self.anywhere
            or self.dates
            or self.sizes
            or self.files
            or self.attachment is not None
        )


def _date(operator: str, value: str, negated: bool) -> DateBound:
    before = DATE_OPERATORS[operator] != negated
    if value.isdigit():
        return DateBound(before, epoch_s=int(value))
    for pattern in ("%Y/%m/%d", "%Y-%m-%d", "%m/%d/%Y"):
        try:
            return DateBound(before, date=datetime.strptime(value, pattern).date().isoformat())
        except ValueError:
            continue
    raise SearchRefused(f"{operator}: takes a date like 2026/12/31 (or epoch seconds), not “{value}”.")


def _age(operator: str, value: str, negated: bool) -> DateBound:
    match = re.fullmatch(r"(\d+)([dmy])", value.lower())
    if not match:
        raise SearchRefused(f"{operator}: takes an age like 2d, 3m or 1y, not “{value}”.")
    return DateBound(AGE_OPERATORS[operator] != negated, age=(int(match.group(1)), AGE_UNITS[match.group(2)]))


def _size(operator: str, value: str, negated: bool) -> SizeBound:
    match = re.fullmatch(r"(\d+)([km]?)", value.lower())
    if not match:
        raise SearchRefused(f"{operator}: takes a size in bytes, or like 10K or 5M, not “{value}”.")
    return SizeBound(SIZE_OPERATORS[operator] != negated, int(match.group(1)) * SIZE_UNITS[match.group(2)])


def parse(query: str) -> Search:
    search = Search()
    free: list[str] = []
    for match in _TOKEN.finditer(query):
        negated, operator, value = match.group(1) == "-", (match.group(2) or "").lower(), match.group(3)
        words = value.strip('"')
        if operator in FIELDS and words:
            search.fields.append(FieldMatch(FIELDS[operator], words, negated))
        elif operator == "label" and words:
            search.labels.append(LabelMatch(words, by_name=True, present=not negated))
        elif operator == "in" and words.lower() == "anywhere":
            search.anywhere = True
        elif operator == "in" and words.lower() in LOCATIONS:
            search.labels.append(LabelMatch(LOCATIONS[words.lower()], by_name=False, present=not negated))
        elif operator == "is" and words.lower() in STATES:
            label, present = STATES[words.lower()]
            search.labels.append(LabelMatch(label, by_name=False, present=present != negated))
        elif operator == "has" and words.lower() == "attachment":
            search.attachment = not negated
        elif operator == "filename" and words:
            search.files.append(FileMatch(words.lower(), negated))
        elif operator in DATE_OPERATORS and words:
            search.dates.append(_date(operator, words, negated))
        elif operator in AGE_OPERATORS and words:
            search.dates.append(_age(operator, words, negated))
        elif operator in SIZE_OPERATORS and words:
            search.sizes.append(_size(operator, words, negated))
        elif operator in UNSUPPORTED or operator == "has":
            shown = f"{operator}:{words}" if operator == "has" else f"{operator}:"
            raise SearchRefused(f"Jessie cannot search by {shown} yet: it does not store what that needs.")
        else:
            free.append(match.group(0))
    search.text = " ".join(free)
    named = {m.label.upper() for m in search.labels if m.present}
    search.anywhere = search.anywhere or bool(named & set(HIDDEN_UNLESS_ASKED))
    return search
