"""The signed-in user's mail, as the web pages read it: labels with counts, keyset pages of
conversations (Gmail's threads) in a label or a search, one conversation's messages, and how
far the account's sync has got."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.rows import class_row

from app.db.connection import Connection
from app.search import HIDDEN_UNLESS_ASKED, DateBound, Search


def _key(alias: str) -> sql.Composed:
    """A message's place in date order, as the messages_by_date and messages_by_thread indexes hold it."""
    return sql.SQL("coalesce({}.internal_date, '-infinity'::timestamptz)").format(sql.Identifier(alias))


SORT_KEY = _key("m")
NO_DATE = "-infinity"
# The search vector splits addresses at @ and . (see the migration); so do the words searched for.
SPLIT_ADDRESSES = "translate({}, '@.<>', '    ')"


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: the (date, id) of the message just outside it."""

    date: str  # ISO 8601, or -infinity for a message without a date
    gmail_id: str

    def __str__(self) -> str:
        return f"{self.date}|{self.gmail_id}"

    @classmethod
    def at(cls, date: datetime | None, gmail_id: str) -> Cursor:
        """The cursor of the message with this date and id."""
        return cls(date.isoformat() if date else NO_DATE, gmail_id)

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """ValueError unless `text` is a cursor this module wrote."""
        date, _, gmail_id = text.rpartition("|")
        if date != NO_DATE:
            datetime.fromisoformat(date)
        if not gmail_id:
            raise ValueError("no message id in the cursor")
        return cls(date, gmail_id)


# Gmail's system labels in the words its own interface uses.
SYSTEM_LABEL_WORDS = {
    "INBOX": "Inbox",
    "STARRED": "Starred",
    "SENT": "Sent",
    "DRAFT": "Drafts",
    "SPAM": "Spam",
    "TRASH": "Trash",
    "UNREAD": "Unread",
    "IMPORTANT": "Important",
    "CHAT": "Chats",
    "CATEGORY_PERSONAL": "Primary",
    "CATEGORY_SOCIAL": "Social",
    "CATEGORY_PROMOTIONS": "Promotions",
    "CATEGORY_UPDATES": "Updates",
    "CATEGORY_FORUMS": "Forums",
}


@dataclass(frozen=True)
class Label:
    label_id: str
    name: str
    type: str  # "system" or "user"
    color_background: str | None
    color_text: str | None
    hidden: bool
    messages_total: int
    messages_unread: int

    @property
    def shown(self) -> str:
        """What a person reads: a user label's name, a system label in words."""
        if self.type != "system":
            return self.name
        return SYSTEM_LABEL_WORDS.get(self.label_id, self.name.replace("_", " ").capitalize())


@dataclass(frozen=True)
class Conversation:
    """A thread as a list shows it: its newest message, and what its messages hold between them."""

    thread_id: str
    gmail_id: str  # the message it opens at: the newest that the label or search matches
    newest_id: str  # the thread's newest message, where pages are keyed
    internal_date: datetime | None  # the newest message's, as the snippet and sender
    sender: str | None
    subject: str | None
    snippet: str | None
    senders: list[str]  # of every message, oldest first
    label_ids: list[str]  # of any message
    messages: int
    unread: bool
    has_attachments: bool

    @property
    def participants(self) -> list[str]:
        """Who wrote in it, each once, in the order they first did."""
        return list(dict.fromkeys(self.senders))


@dataclass(frozen=True)
class Stored:
    """A message as its page shows it."""

    gmail_id: str
    thread_id: str
    internal_date: datetime | None
    sender: str | None
    recipients: str | None
    subject: str | None
    snippet: str | None
    label_ids: list[str]
    body_text: str | None
    body_html: str | None  # sanitized at sync time
    body_truncated: bool
    attachments: list[dict[str, Any]]
    parse_error: str | None


@dataclass
class Page:
    conversations: list[Conversation]
    older: Cursor | None  # the next page towards older mail, if there is one
    newer: Cursor | None  # the previous page, if there is one


def labels(conn: Connection, account_id: int) -> list[Label]:
    return (
        conn.cursor(row_factory=class_row(Label))
        .execute(
            """select label_id, name, type, color_background, color_text, hidden, messages_total, messages_unread
               from jessie.labels where account_id = %s order by type, lower(name)""",
            [account_id],
        )
        .fetchall()
    )


def _conditions(account_id: int, view: str | None, search: Search) -> sql.Composed:
    parts = [sql.SQL("m.account_id = {}").format(account_id), sql.SQL("m.deleted_at is null")]
    if view is not None:
        parts.append(sql.SQL("m.label_ids @> array[{}]::text[]").format(view))
    if not (search.anywhere or view in HIDDEN_UNLESS_ASKED):
        parts.append(sql.SQL("not (m.label_ids && {}::text[])").format(list(HIDDEN_UNLESS_ASKED)))
    if search.text:
        query = sql.SQL("websearch_to_tsquery('simple', " + SPLIT_ADDRESSES + ")").format(search.text)
        parts.append(sql.SQL("m.search @@ {}").format(query))
    for match in search.fields:
        query = sql.SQL("phraseto_tsquery('simple', " + SPLIT_ADDRESSES + ")").format(match.words)
        # The index finds the word anywhere; ts_filter then keeps the field's weight only.
        found = sql.SQL('(m.search @@ {q} and ts_filter(m.search, array[{w}]::"char"[]) @@ {q})').format(
            q=query, w=match.weight
        )
        parts.append(sql.SQL("not {}").format(found) if match.negated else found)
    for label in search.labels:
        if label.by_name:
            ids = sql.SQL(
                """array(select l.label_id from jessie.labels l where l.account_id = {account}
                   and (lower(l.label_id) = lower({name}) or lower(l.name) = lower({name})
                        or lower(translate(l.name, ' /', '--')) = lower({name})))"""
            ).format(account=account_id, name=label.label)
        else:
            ids = sql.SQL("array[{}]::text[]").format(label.label)
        found = sql.SQL("m.label_ids && {}").format(ids)
        parts.append(found if label.present else sql.SQL("not {}").format(found))
    parts += [_date_condition(bound) for bound in search.dates]
    parts += [
        sql.SQL("coalesce(m.size_estimate, 0) {} {}").format(sql.SQL(">" if size.larger else "<"), size.bytes)
        for size in search.sizes
    ]
    if search.attachment is not None:
        parts.append(
            sql.SQL("jsonb_array_length(m.attachments) {} 0").format(sql.SQL(">" if search.attachment else "="))
        )
    for file in search.files:
        # A whole name, part of one, or an extension (`filename:pdf`), as Gmail matches them.
        named = sql.SQL(
            """exists (select 1 from jsonb_array_elements(m.attachments) a
                       where strpos(lower(coalesce(a->>'filename', '')), {}) > 0)"""
        ).format(file.name)
        parts.append(sql.SQL("not {}").format(named) if file.negated else named)
    return sql.SQL(" and ").join(parts)


def _date_condition(bound: DateBound) -> sql.Composable:
    """Received before (or from) the bound; a date is midnight Pacific time, as Gmail reads it."""
    if bound.date is not None:
        moment = sql.SQL("({}::timestamp at time zone 'America/Los_Angeles')").format(bound.date)
    elif bound.epoch_s is not None:
        moment = sql.SQL("to_timestamp({})").format(bound.epoch_s)
    else:
        assert bound.age is not None
        amount, unit = bound.age
        moment = sql.SQL("(now() - make_interval({} => {}))").format(sql.Identifier(unit), amount)
    return sql.SQL("{} {} {}").format(SORT_KEY, sql.SQL("<" if bound.before else ">="), moment)


def _shown(alias: str, search: Search, view: str | None) -> sql.Composed:
    """The thread members a list shows: not deleted, and not in Spam or Trash unless asked for."""
    shown = sql.SQL("{}.deleted_at is null").format(sql.Identifier(alias))
    if search.anywhere or view in HIDDEN_UNLESS_ASKED:
        return shown
    return sql.SQL("{} and not ({}.label_ids && {}::text[])").format(
        shown, sql.Identifier(alias), list(HIDDEN_UNLESS_ASKED)
    )


def page(
    conn: Connection,
    account_id: int,
    *,
    view: str | None,
    search: Search,
    size: int,
    older_than: Cursor | None = None,
    newer_than: Cursor | None = None,
) -> Page:
    """Newest first, `size` conversations with a message in a label (`view`) and/or matching a
    search, as Gmail lists threads. A conversation stands where its newest message does, so
    pages are keyed on that message's (date, id) and walk the messages_by_date index: a page deep
    in a large mailbox costs what the first one does."""
    where = _conditions(account_id, view, search)
    if not _matches_any(conn, where):
        return Page([], None, None)
    head, newer = _key("h"), _key("n")
    cursor, towards_older = (newer_than, False) if newer_than else (older_than, True)
    keyset: sql.Composable = sql.SQL("")
    if cursor is not None:
        keyset = sql.SQL("and ({}, h.gmail_id) {} ({}::timestamptz, {})").format(
            head, sql.SQL("<" if towards_older else ">"), cursor.date, cursor.gmail_id
        )
    direction = sql.SQL("desc" if towards_older else "asc")
    query = sql.SQL(
        """select h.thread_id, hit.gmail_id, h.gmail_id as newest_id, h.internal_date, h.sender, h.subject,
                  h.snippet, t.senders, t.messages, t.unread, t.has_attachments,
                  array(select distinct l from jessie.messages a, unnest(a.label_ids) l
                        where a.account_id = h.account_id and a.thread_id = h.thread_id and {shown_a}
                        order by l) as label_ids
           from jessie.messages h
           join lateral (select m.gmail_id from jessie.messages m where m.thread_id = h.thread_id and {where}
                         order by {key} desc, m.gmail_id desc limit 1) hit on true
           cross join lateral (
               select count(*)::int as messages,
                      coalesce(bool_or('UNREAD' = any(a.label_ids)), false) as unread,
                      coalesce(bool_or(jsonb_array_length(a.attachments) > 0), false) as has_attachments,
                      coalesce(array_agg(a.sender order by {member}) filter (where a.sender is not null), '{{}}')
                          as senders
               from jessie.messages a
               where a.account_id = h.account_id and a.thread_id = h.thread_id and {shown_a}) t
           where h.account_id = {account} and {shown_h}
             and h.thread_id in (select m.thread_id from jessie.messages m where {where})
             and not exists (select 1 from jessie.messages n
                             where n.account_id = h.account_id and n.thread_id = h.thread_id and {shown_n}
                               and ({newer}, n.gmail_id) > ({head}, h.gmail_id))
             {keyset}
           order by {head} {direction}, h.gmail_id {direction} limit {limit}"""
    ).format(
        where=where,
        key=SORT_KEY,
        member=sql.SQL("{}, a.gmail_id").format(_key("a")),
        shown_a=_shown("a", search, view),
        shown_h=_shown("h", search, view),
        shown_n=_shown("n", search, view),
        account=account_id,
        newer=newer,
        head=head,
        keyset=keyset,
        direction=direction,
        limit=size + 1,
    )
    rows = conn.cursor(row_factory=class_row(Conversation)).execute(query).fetchall()
    more = len(rows) > size
    rows = rows[:size]
    if not towards_older:
        rows.reverse()
    if not rows:
        return Page([], None, None)
    older = Cursor.at(rows[-1].internal_date, rows[-1].newest_id) if (more if towards_older else True) else None
    newer_page = (
        Cursor.at(rows[0].internal_date, rows[0].newest_id) if (cursor is not None if towards_older else more) else None
    )
    return Page(rows, older, newer_page)


def _matches_any(conn: Connection, where: sql.Composable) -> bool:
    """Whether any message matches, asked first: the label and search indexes answer it at once,
    where the conversation scan below, finding nothing, would walk the whole mailbox to say so."""
    row = conn.execute(sql.SQL("select exists (select 1 from jessie.messages m where {})").format(where)).fetchone()
    return bool(row and row[0])


STORED_COLUMNS = """m.gmail_id, m.thread_id, m.internal_date, m.sender, m.recipients, m.subject, m.snippet,
    m.label_ids, m.body_text, m.body_html, m.body_truncated, m.attachments, m.parse_error"""


def thread(conn: Connection, account_id: int, gmail_id: str) -> list[Stored]:
    """The conversation of the owner's message `gmail_id`, oldest first ([] when there is no such
    message). Its Spam and Trash stay out, unless the message asked for is there itself."""
    return (
        conn.cursor(row_factory=class_row(Stored))
        .execute(
            f"""with asked as (select thread_id, label_ids && %(hidden)s::text[] as hidden from jessie.messages
                              where account_id = %(account)s and gmail_id = %(id)s and deleted_at is null)
               select {STORED_COLUMNS}
               from jessie.messages m join asked on m.thread_id = asked.thread_id
               where m.account_id = %(account)s and m.deleted_at is null
                 and (asked.hidden or m.gmail_id = %(id)s or not m.label_ids && %(hidden)s::text[])
               order by coalesce(m.internal_date, '-infinity'::timestamptz), m.gmail_id""",  # noqa: S608 -- constant columns
            {"account": account_id, "id": gmail_id, "hidden": list(HIDDEN_UNLESS_ASKED)},
        )
        .fetchall()
    )


def message(conn: Connection, account_id: int, gmail_id: str) -> Stored | None:
    """The owner's message `gmail_id`, or None (its thread is not read)."""
    return (
        conn.cursor(row_factory=class_row(Stored))
        .execute(
            f"""select {STORED_COLUMNS} from jessie.messages m
               where m.account_id = %s and m.gmail_id = %s and m.deleted_at is null""",  # noqa: S608 -- constant columns
            [account_id, gmail_id],
        )
        .fetchone()
    )


def stored_count(conn: Connection, account_id: int) -> int:
    row = conn.execute(
        "select count(*) from jessie.messages where account_id = %s and deleted_at is null", [account_id]
    ).fetchone()
    return int(row[0]) if row else 0


def seconds_until_manual_sync(conn: Connection, account_id: int, interval_s: float) -> int:
    """How long "Sync now" must wait after the account's last sync started (0: go ahead)."""
    row = conn.execute(
        """select ceil(extract(epoch from last_sync_started_at + make_interval(secs => %s) - now()))
           from jessie.accounts where id = %s""",
        [interval_s, account_id],
    ).fetchone()
    return max(0, int(row[0])) if row and row[0] is not None else 0
