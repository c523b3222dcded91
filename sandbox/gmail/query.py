"""Gmail's search (operators, OR, { }, -, ( ), "phrases") and `fields` partial responses.

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


Predicate = Callable[[StoredMessage], bool]
_LEX = re.compile(r'\s+|(?P<punct>[(){}])|(?P<phrase>"[^"]*"?)|(?P<word>[^\s(){}"]+(?:"[^"]*"?)?)')
_OPERATOR = re.compile(r"(\w+):(.*)", re.S)
_WORD = re.compile(r"\w+")
TEXT_HEADERS = ["subject", "from", "to", "cc", "bcc"]
ADDRESS_HEADERS = {"from": ["from"], "to": ["to"], "cc": ["cc"], "bcc": ["bcc"], "deliveredto": ["delivered-to"]}


@dataclass
class Search:
    predicates: list[Predicate] = field(default_factory=list)
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


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _contains(haystack: list[str], needle: list[str]) -> bool:
    """Gmail matches whole words, and a phrase as consecutive words."""
    if not needle:
        return True
    width = len(needle)
    return any(haystack[i : i + width] == needle for i in range(len(haystack) - width + 1))


def _header_words(message: StoredMessage, names: list[str]) -> list[str]:
    return _words(" ".join(h["value"] for h in message.view.headers(names)))


def _text_words(message: StoredMessage) -> list[str]:
    """Free text is looked for in the headers people search and in the body."""
    return _header_words(message, TEXT_HEADERS) + _words(message.view.body_text())


def _either(first: Predicate, second: Predicate) -> Predicate:
    return lambda m: first(m) or second(m)


class _Parser:
    """Gmail's search grammar: terms side by side all apply; `OR` (upper case) or `{ }` take
    either; `-` excludes; `( )` groups, also after an operator (`subject:(dinner movie)`);
    "quoted" words are a phrase."""

    def __init__(self, q: str, mailbox: Mailbox, now_ms: int, search: Search) -> None:
        self.lexemes = [m.group(0) for m in _LEX.finditer(q) if not m.group(0).isspace()]
        self.position = 0
        self.mailbox, self.now_ms, self.search = mailbox, now_ms, search

    def peek(self) -> str | None:
        return self.lexemes[self.position] if self.position < len(self.lexemes) else None

    def take(self) -> str:
        lexeme = self.lexemes[self.position]
        self.position += 1
        return lexeme

    def sequence(self, closing: str | None) -> list[Predicate]:
        terms: list[Predicate] = []
        while (lexeme := self.peek()) is not None and lexeme != closing:
            if lexeme in ")}":  # unbalanced: Gmail reads it as text
                self.take()
                continue
            term = self.unary()
            while self.peek() == "OR":
                self.take()
                if self.peek() in (None, closing):
                    break
                term = _either(term, self.unary())
            terms.append(term)
        if closing is not None and self.peek() == closing:
            self.take()
        return terms

    def unary(self) -> Predicate:
        lexeme = self.peek()
        if lexeme == "-" and self.position + 1 < len(self.lexemes):  # -(a b), -{a b}
            self.take()
            inner = self.unary()
            return lambda m: not inner(m)
        if lexeme is not None and lexeme.startswith("-") and len(lexeme) > 1:
            self.lexemes[self.position] = lexeme[1:]
            inner = self.unary()
            return lambda m: not inner(m)
        return self.primary()

    def primary(self) -> Predicate:
        lexeme = self.take()
        if lexeme == "(":
            terms = self.sequence(")")
            return lambda m: all(term(m) for term in terms)
        if lexeme == "{":
            options = self.sequence("}")
            return lambda m: any(option(m) for option in options) if options else True
        operator = _OPERATOR.fullmatch(lexeme)
        if operator and operator.group(1).lower() in OPERATORS:
            name, value = operator.group(1).lower(), operator.group(2)
            if value == "" and self.peek() in ("(", "{"):  # subject:(a b), from:{x y}
                group = self.take()
                values = self._group_values(")" if group == "(" else "}")
                each = [self.operator(name, v) for v in values]
                if group == "(":
                    return lambda m: all(p(m) for p in each)
                return lambda m: any(p(m) for p in each)
            return self.operator(name, value)
        phrase = _words(lexeme.strip('"'))
        return lambda m: _contains(_text_words(m), phrase)

    def _group_values(self, closing: str) -> list[str]:
        values = []
        while (lexeme := self.peek()) is not None and lexeme != closing:
            values.append(self.take())
        if self.peek() == closing:
            self.take()
        return values

    def operator(self, name: str, value: str) -> Predicate:
        return OPERATORS[name](value.strip('"'), self)


def _address(headers: list[str]) -> Callable[[str, _Parser], Predicate]:
    def build(value: str, _parser: _Parser) -> Predicate:
        wanted = _words(value)
        return lambda m: _contains(_header_words(m, headers), wanted)

    return build


def _subject(value: str, _parser: _Parser) -> Predicate:
    wanted = _words(value)
    return lambda m: _contains(_header_words(m, ["subject"]), wanted)


def _date_bound(before: bool, relative: bool) -> Callable[[str, _Parser], Predicate]:
    def build(value: str, parser: _Parser) -> Predicate:
        bound = parser.now_ms - _age_ms(value) if relative else _date_ms(value)
        if before:
            return lambda m: m.internal_date < bound
        return lambda m: m.internal_date >= bound

    return build


def _size(larger: bool) -> Callable[[str, _Parser], Predicate]:
    def build(value: str, _parser: _Parser) -> Predicate:
        limit = _size_bytes(value)
        return (lambda m: m.view.size > limit) if larger else (lambda m: m.view.size < limit)

    return build


def _label(kind: str) -> Callable[[str, _Parser], Predicate]:
    def build(value: str, parser: _Parser) -> Predicate:
        name = value.lower()
        if kind == "in" and name == "anywhere":
            parser.search.touches_spam_trash = True
            return lambda m: True
        if kind == "is" and name == "read":
            return lambda m: "UNREAD" not in m.label_ids
        label = LOCATION_LABELS.get(name) if kind in ("in", "is") else None
        label = label or _label_id(parser.mailbox, name)
        if label in ("SPAM", "TRASH"):
            parser.search.touches_spam_trash = True
        return lambda m: label is not None and label in m.label_ids

    return build


def _has(value: str, _parser: _Parser) -> Predicate:
    if value.lower() != "attachment":
        raise invalid_argument(f"Unsupported has: value in query: {value}")
    return lambda m: any(part.get("filename") for part in _parts(m.view.payload()))


def _parts(node: dict[str, object]) -> list[dict[str, object]]:
    children = node.get("parts")
    found = [node]
    if isinstance(children, list):
        for child in children:
            found += _parts(child)
    return found


OPERATORS: dict[str, Callable[[str, _Parser], Predicate]] = {
    **{name: _address(headers) for name, headers in ADDRESS_HEADERS.items()},
    "subject": _subject,
    "after": _date_bound(before=False, relative=False),
    "before": _date_bound(before=True, relative=False),
    "newer_than": _date_bound(before=False, relative=True),
    "older_than": _date_bound(before=True, relative=True),
    "larger": _size(larger=True),
    "size": _size(larger=True),
    "smaller": _size(larger=False),
    "in": _label("in"),
    "is": _label("is"),
    "label": _label("label"),
    "has": _has,
}


def parse_query(q: str, mailbox: Mailbox, now_ms: int) -> Search:
    search = Search()
    search.predicates = _Parser(q or "", mailbox, now_ms, search).sequence(None)
    return search


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
        _select(selector, path, sub)
        if text.startswith(","):
            text = text[1:]
        elif text and not text.startswith(")"):
            raise invalid_argument(f"Invalid field selection {text}")
        if text.startswith(")"):
            break
    return selector, text


def _select(selector: Selector, path: list[str], sub: Selector | None) -> None:
    """Add `a/b/c` (with `c`'s own sub-selection) to `selector`. Paths merge (`messages/id,
    messages/threadId`); a field selected whole stays whole."""
    name, rest = path[0], path[1:]
    if name in selector and selector[name] is None:
        return
    if not rest:
        existing = selector.get(name)
        if sub is None or name not in selector:
            selector[name] = sub
        else:
            assert existing is not None
            for key, value in sub.items():
                _select(existing, [key], value)
        return
    child = selector.setdefault(name, {})
    assert child is not None
    _select(child, rest, sub)


def apply_fields(value: object, selector: Selector | None) -> object:
    if selector is None or "*" in selector:
        return value
    if isinstance(value, list):
        return [apply_fields(item, selector) for item in value]
    if isinstance(value, dict):
        return {key: apply_fields(value[key], sub) for key, sub in selector.items() if key in value}
    return value
