"""The inbox's search box, read the way Gmail reads it.

`from:`, `to:`, `subject:` (a word or a "quoted phrase" in that field), `label:` (a label's
name or id), `in:` (inbox, sent, drafts, spam, trash, starred, anywhere), `is:` (unread,
read, starred, important); everything else is free text over subject, sender, recipients and
body, where "quoted phrases", `-word` and `OR` mean what they mean in Gmail. A leading `-`
negates an operator too. Like Gmail, a search leaves out Spam and Trash unless it names them.
Unknown operators (`foo:bar`) are searched as text, as Gmail does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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
_TOKEN = re.compile(r'(-?)(?:(\w+):)?("[^"]*"?|[^\s"]+)')


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


@dataclass
class Search:
    text: str = ""  # free text, in websearch_to_tsquery's syntax
    fields: list[FieldMatch] = field(default_factory=list)
    labels: list[LabelMatch] = field(default_factory=list)
    anywhere: bool = False  # in:anywhere, or a search naming Spam or Trash

    @property
    def empty(self) -> bool:
        return not (self.text or self.fields or self.labels or self.anywhere)


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
        else:
            free.append(match.group(0))
    search.text = " ".join(free)
    named = {m.label.upper() for m in search.labels if m.present}
    search.anywhere = search.anywhere or bool(named & set(HIDDEN_UNLESS_ASKED))
    return search
