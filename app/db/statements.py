"""A migration file split into statements exactly as the Supabase CLI splits it.

The CLI records each applied migration in `supabase_migrations.schema_migrations` with its
statements (`text[]`), as split by its parser (supabase/cli, `pkg/parser`: a small state
machine over quotes, dollar quotes, comments, escapes, parentheses and BEGIN ATOMIC bodies;
each statement kept as written, trailing `;` and surrounding white space trimmed). Jessie
writes the same ledger when it applies migrations itself, and compares the recorded statements
with the file's to see that a file changed after it was applied, so this is a port of that
parser, state for state; a test compares it with what the pinned CLI records.
"""

from __future__ import annotations

import unicodedata

_NOT_GO_SPACE = set("\x1c\x1d\x1e\x1f")  # Python calls these space; Go's unicode.IsSpace does not


def _is_space(character: str) -> bool:
    return character.isspace() and character not in _NOT_GO_SPACE


def _is_letter_or_digit(character: str) -> bool:
    return character.isalpha() or unicodedata.category(character) == "Nd"


def _is_identifier(character: str) -> bool:
    return _is_letter_or_digit(character) or character in "_$"


class _State:
    def next(self, character: str, data: str) -> _State | None:
        """The state after `character` (`data` is everything read so far, it included); None
        ends the statement."""
        raise NotImplementedError


class _Ready(_State):
    def next(self, character: str, data: str) -> _State | None:
        if character == "$":
            return _Tag(len(data) - 1)
        if character in "'\"":
            return _Quote(character)
        if character == "-":
            return _Comment()
        if character == "/":
            return _Block()
        if character == "\\":
            return _Escape()
        if character == ";":
            return None
        if character == "(":
            return _Atomic(self, ")")
        if character in "cC" and _begins_atomic(data):
            return _Atomic(self, "END")
        return self


def _begins_atomic(data: str) -> bool:
    """`data` ends with BEGIN ATOMIC (any case, any white space between, whole words)."""
    offset = len(data) - len("ATOMIC")
    if offset < 0 or data[offset:].upper() != "ATOMIC":
        return False
    if offset > 0 and _is_identifier(data[offset - 1]):
        return False
    prefix = data[:offset]
    while prefix and _is_space(prefix[-1]):
        prefix = prefix[:-1]
    offset = len(prefix) - len("BEGIN")
    if offset < 0 or prefix[offset:].upper() != "BEGIN":
        return False
    return offset == 0 or not _is_identifier(prefix[offset - 1])


class _Comment(_State):
    def next(self, character: str, data: str) -> _State | None:
        if character == "-":
            return _Dollar("\n")  # nothing is escaped in a comment, as in a dollar quote
        return _Ready().next(character, data)


class _Block(_State):
    def __init__(self) -> None:
        self.depth = 0

    def next(self, character: str, data: str) -> _State | None:
        window = data[-2:]
        if window == "/*":
            self.depth += 1
            return self
        if self.depth == 0:
            return _Ready().next(character, data)
        if window == "*/":
            self.depth -= 1
            if self.depth == 0:
                return _Ready()
        return self


class _Quote(_State):
    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter
        self.escape = False

    def next(self, character: str, data: str) -> _State | None:
        if self.escape:
            if character == self.delimiter:  # a doubled quote is part of the text
                self.escape = False
                return self
            return _Ready().next(character, data)
        if character == self.delimiter:
            self.escape = True
        return self


class _Dollar(_State):
    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter

    def next(self, character: str, data: str) -> _State | None:
        return _Ready() if data.endswith(self.delimiter) else self


class _Tag(_State):
    def __init__(self, offset: int) -> None:
        self.offset = offset

    def next(self, character: str, data: str) -> _State | None:
        if character == "$":
            return _Dollar(data[self.offset :])
        if _is_letter_or_digit(character) or character == "_":
            return self
        return _Ready().next(character, data)


class _Escape(_State):
    def next(self, character: str, data: str) -> _State | None:
        return _Ready()


class _Atomic(_State):
    def __init__(self, previous: _State, delimiter: str) -> None:
        self.previous = previous
        self.delimiter = delimiter

    def next(self, character: str, data: str) -> _State | None:
        current = self.previous.next(character, data)
        if current is not None:  # inside quotes, the delimiter does not count
            self.previous = current
        if isinstance(self.previous, _Ready) and data[-len(self.delimiter) :].upper() == self.delimiter.upper():
            return _Ready()
        return self


def _strip(text: str) -> str:
    start, end = 0, len(text)
    while start < end and _is_space(text[start]):
        start += 1
    while end > start and _is_space(text[end - 1]):
        end -= 1
    return text[start:end]


def split(sql: str) -> list[str]:
    """The statements of `sql` as the Supabase CLI records them (`parser.SplitAndTrim`)."""
    statements, start = [], 0
    state: _State = _Ready()
    for position, character in enumerate(sql):
        following = state.next(character, sql[start : position + 1])
        if following is None:
            statements.append(sql[start : position + 1])
            start, state = position + 1, _Ready()
        else:
            state = following
    if start < len(sql):
        statements.append(sql[start:])
    trimmed = (_strip(statement.rstrip(";")) for statement in statements)
    return [statement for statement in trimmed if statement]
