"""The mailbox a user sees: label views with counts, keyset pages, search with Gmail's operators,
first-sync progress, disconnect with confirmation. Expected results are computed here from the
stored rows, independently of the SQL that answers the page."""

from __future__ import annotations

import base64
import html
import random
import re
from collections.abc import Callable, Iterator
from datetime import datetime, time
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
import requests

from tests.conftest import Sandbox
from tests.integration.sync_helpers import query
from tests.integration.web_helpers import Web, connect, post_form

ALICE = "alice@example.com"
CRON = "/api/cron/email-sync"
HIDDEN = {"SPAM", "TRASH"}
PACIFIC = ZoneInfo("America/Los_Angeles")  # Gmail reads a search's dates as midnight there
Row = dict[str, Any]


COLUMNS = ["gmail_id", "thread_id", "internal_date", "sender", "recipients", "subject", "label_ids", "body_text"]
COLUMNS += ["size_estimate", "attachments"]
STORED = f"select {', '.join(COLUMNS)} from jessie.messages where deleted_at is null"  # noqa: S608


def stored(web: Web) -> list[Row]:
    return [dict(zip(COLUMNS, row, strict=True)) for row in query(web.pool, STORED)]


def newest_first(rows: list[Row]) -> list[str]:
    """Date, then id, descending; a message without a date last."""

    def key(row: Row) -> tuple[bool, float, str]:
        date: datetime | None = row["internal_date"]
        return (date is not None, date.timestamp() if date else 0.0, row["gmail_id"])

    return [row["gmail_id"] for row in sorted(rows, key=key, reverse=True)]


def conversations(rows: list[Row], matches: Callable[[Row], bool], hidden_too: bool = False) -> list[str]:
    """What a list shows, computed from the stored rows as Gmail lists threads: each thread with a
    match once, linking to its newest match, where the thread's newest shown message stands."""
    shown_rows = [r for r in rows if hidden_too or not HIDDEN & set(r["label_ids"])]
    place = {gmail_id: n for n, gmail_id in enumerate(newest_first(shown_rows))}
    threads: dict[str, list[Row]] = {}
    for row in shown_rows:
        threads.setdefault(row["thread_id"], []).append(row)
    listed = []
    for members in threads.values():
        hits = [r for r in members if matches(r)]
        if hits:
            listed.append((min(place[r["gmail_id"]] for r in members), newest_first(hits)[0]))
    return [link for _, link in sorted(listed)]


def thread_of(rows: list[Row], gmail_id: str) -> list[Row]:
    """The shown members of a message's thread."""
    thread_id = next(r["thread_id"] for r in rows if r["gmail_id"] == gmail_id)
    return [r for r in rows if r["thread_id"] == thread_id and not HIDDEN & set(r["label_ids"])]


def anywhere_in(row: Row, word: str) -> bool:
    return any(word in words(row[f]) for f in ("subject", "sender", "recipients", "body_text"))


def shown(html: str) -> list[str]:
    return re.findall(r'href="/inbox/([^"?]+)"', html)


def link(html: str, testid: str) -> str | None:
    found = re.search(rf'href="([^"]+)" data-testid="{testid}"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def walk(browser: requests.Session, web: Web, start: str) -> tuple[list[list[str]], str]:
    """Every page from `start` on, following "Older"; and the last page's html."""
    pages, html, url = [], "", start
    while url:
        html = browser.get(web.url + url, timeout=10).text
        pages.append(shown(html))
        url = link(html, "older") or ""
        assert len(pages) < 50, "paging does not end"
    return pages, html


def words(text: str | None) -> list[str]:
    return re.findall(r"\w+", (text or "").lower().replace("@", " ").replace(".", " "))


def has_phrase(text: str | None, phrase: str) -> bool:
    wanted, found = words(phrase), words(text)
    return any(found[i : i + len(wanted)] == wanted for i in range(len(found)))


@pytest.fixture
def alice(web: Web, sandbox: Sandbox) -> requests.Session:
    return connect(web, sandbox, ALICE, messages=160, seed=3)  # connecting syncs the whole mailbox


@pytest.mark.parametrize("view", ["INBOX", "SENT", "SPAM", "TRASH", "STARRED", "Label_1"])
def test_each_label_view_pages_newest_first_by_keyset(web: Web, alice: requests.Session, view: str) -> None:
    expected = conversations(stored(web), lambda r: view in r["label_ids"], view in HIDDEN)
    assert expected, f"the generated mailbox has nothing in {view}"
    pages, last = walk(alice, web, f"/inbox?label={view}")
    assert [i for page in pages for i in page] == expected
    assert all(len(page) == 50 for page in pages[:-1])
    # And back: "Newer" from the last page retraces the same pages.
    back, url = [], link(last, "newer")
    while url:
        html = alice.get(web.url + url, timeout=10).text
        back.append(shown(html))
        url = link(html, "newer")
    assert list(reversed(back)) == pages[:-1]


def test_the_sidebar_counts_follow_the_mailbox(web: Web, sandbox: Sandbox, alice: requests.Session) -> None:
    def unread_in(html: str, label: str) -> int:
        found = re.search(
            rf'data-label="{label}"[^>]*>\s*<span>.*?</span>\s*(?:<b class="count"[^>]*>(\d+)</b>)?', html, re.S
        )
        assert found, f"no {label} in the sidebar"
        return int(found.group(1) or 0)

    def truth(label: str) -> int:
        return sum(label in r["label_ids"] and "UNREAD" in r["label_ids"] for r in stored(web))

    page = alice.get(web.url + "/inbox", timeout=10).text
    assert unread_in(page, "INBOX") == truth("INBOX") > 0
    for name in ("Receipts", "Travel", "Work/Projects", "Family", "Newsletters"):
        assert f"</i>{name}</span>" in page
    assert "background: #16a766" in page  # Receipts' colour, from labels.list
    assert 'data-label="CHAT"' not in page  # hidden in Gmail's label list, hidden here

    rows = stored(web)
    unread = next(  # a conversation of one: reading it leaves nothing else unread there
        r for r in rows if {"INBOX", "UNREAD"} <= set(r["label_ids"]) and len(thread_of(rows, r["gmail_id"])) == 1
    )
    plain = next(r for r in stored(web) if "INBOX" in r["label_ids"] and "Label_2" not in r["label_ids"])
    sandbox.admin("POST", f"/accounts/{ALICE}/messages/{unread['gmail_id']}/labels", remove=["UNREAD"])
    sandbox.admin("POST", f"/accounts/{ALICE}/messages/{plain['gmail_id']}/labels", add=["Label_2"])
    requests.get(web.url + CRON, headers={"Authorization": "Bearer test-cron-secret"}, timeout=60)

    page = alice.get(web.url + "/inbox", timeout=10).text
    assert unread_in(page, "INBOX") == truth("INBOX")
    row = re.search(rf'<li class="[^"]*" data-unread="(\w+)"[^>]*>\s*<a href="/inbox/{unread["gmail_id"]}"', page)
    assert row and row.group(1) == "no"
    travel = alice.get(web.url + "/inbox?label=Label_2", timeout=10).text
    assert plain["gmail_id"] in shown(travel)


SEARCHES: dict[str, Callable[[Row], bool]] = {
    "from:taro@example.jp": lambda r: has_phrase(r["sender"], "taro@example.jp"),
    "from:ada": lambda r: "ada" in words(r["sender"]),
    "FROM:example.de": lambda r: has_phrase(r["sender"], "example.de"),
    "to:alice": lambda r: "alice" in words(r["recipients"]),
    "subject:invoice": lambda r: "invoice" in words(r["subject"]),
    'subject:"quarterly review"': lambda r: has_phrase(r["subject"], "quarterly review"),
    "label:receipts": lambda r: "Label_1" in r["label_ids"],
    "label:work-projects": lambda r: "Label_3" in r["label_ids"],
    "is:unread": lambda r: "UNREAD" in r["label_ids"],
    "is:starred -is:unread": lambda r: "STARRED" in r["label_ids"] and "UNREAD" not in r["label_ids"],
    "in:spam": lambda r: "SPAM" in r["label_ids"],
    "in:anywhere budget": lambda r: anywhere_in(r, "budget"),
    '"project update"': lambda r: any(has_phrase(r[f], "project update") for f in ("subject", "body_text")),
    "meeting -invoice": lambda r: anywhere_in(r, "meeting") and not anywhere_in(r, "invoice"),
    "meeting OR invoice": lambda r: anywhere_in(r, "meeting") or anywhere_in(r, "invoice"),
    "label:no-such-label": lambda r: False,
    "has:attachment": lambda r: bool(r["attachments"]),
    "-has:attachment meeting": lambda r: not r["attachments"] and anywhere_in(r, "meeting"),
    "filename:pdf": lambda r: any("pdf" in (a.get("filename") or "").lower() for a in r["attachments"]),
    "filename:invoice.pdf": lambda r: any((a.get("filename") or "").lower() == "invoice.pdf" for a in r["attachments"]),
    "larger:6K": lambda r: (r["size_estimate"] or 0) > 6 * 1024,
    "smaller:3000 is:unread": lambda r: (r["size_estimate"] or 0) < 3000 and "UNREAD" in r["label_ids"],
    "older_than:3d": lambda r: r["internal_date"] is not None,  # all of the generated mail is older
    "newer_than:2d": lambda r: False,
}
FINDS_NOTHING = {"label:no-such-label", "newer_than:2d"}


@pytest.mark.parametrize("q", list(SEARCHES))
def test_search_understands_gmail_operators(web: Web, alice: requests.Session, q: str) -> None:
    anywhere = "in:anywhere" in q or "in:spam" in q
    expected = conversations(stored(web), SEARCHES[q], anywhere)
    pages, _ = walk(alice, web, "/inbox?" + requests.compat.urlencode({"q": q}))
    assert [i for page in pages for i in page] == expected
    assert expected or q in FINDS_NOTHING, f"{q!r} should find something in the generated mailbox"


def test_dates_are_midnight_pacific_as_gmail_reads_them(web: Web, alice: requests.Session) -> None:
    rows = [r for r in stored(web) if not HIDDEN & set(r["label_ids"])]
    dated = sorted(r["internal_date"] for r in rows if r["internal_date"] is not None)
    middle = dated[len(dated) // 2].astimezone(PACIFIC).date()
    midnight = datetime.combine(middle, time(), PACIFIC)

    def from_midnight(row: Row) -> bool:
        return row["internal_date"] is not None and row["internal_date"] >= midnight

    for q, keep in (
        (f"after:{middle:%Y/%m/%d}", from_midnight),
        (f"before:{middle:%Y/%m/%d}", lambda r: not from_midnight(r)),
        (f"-before:{middle:%Y-%m-%d}", from_midnight),
        (f"after:{int(midnight.timestamp())}", from_midnight),
    ):
        expected = conversations(rows, keep)
        pages, _ = walk(alice, web, "/inbox?" + requests.compat.urlencode({"q": q}))
        assert [i for page in pages for i in page] == expected, q
        assert 0 < len(expected) < len(conversations(rows, bool)), q


@pytest.mark.parametrize(
    ("q", "said"),
    [
        ("cc:bob", "cannot search by cc:"),
        ("has:drive", "cannot search by has:drive"),
        ("after:yesterday", "takes a date like 2026/12/31"),
        ("older_than:soon", "takes an age like 2d"),
        ("larger:huge", "takes a size in bytes"),
        ("x" * 201, "at most 200 characters"),
    ],
)
def test_a_search_jessie_cannot_run_keeps_the_query_and_the_inbox(
    web: Web, alice: requests.Session, q: str, said: str
) -> None:
    inbox = alice.get(web.url + "/inbox", timeout=10).text
    refused = alice.get(web.url + "/inbox", params={"q": q}, timeout=10)
    assert refused.status_code == 400
    notice = re.search(r'data-testid="notice">([^<]+)<', refused.text)
    assert notice is not None and said in notice.group(1) and "Showing Inbox instead" in notice.group(1)
    assert f'value="{q}"' in refused.text  # the query stays in the box
    assert shown(refused.text) == shown(inbox) != []  # and the inbox stays on the page


def test_messages_show_their_labels_and_unread_state(web: Web, alice: requests.Session) -> None:
    """A conversation is unread, starred or labelled when any of its messages is."""
    page = alice.get(web.url + "/inbox", timeout=10).text
    rows = stored(web)
    items = re.findall(r'<li class="[^"]*" data-unread="(\w+)"[^>]*>(.*?)</li>', page, re.S)
    assert items
    names = {"Label_1": "Receipts", "Label_2": "Travel", "Label_3": "Work/Projects", "Label_4": "Family"}
    names["Label_5"] = "Newsletters"
    for unread, body in items:
        labels = {label for r in thread_of(rows, shown(body)[0]) for label in r["label_ids"]}
        assert (unread == "yes") == ("UNREAD" in labels)
        chips = re.findall(r'data-testid="chip"[^>]*>([^<]+)<', body)
        assert chips == [names[i] for i in sorted(labels) if i in names]
        assert ("★" in body) == ("STARRED" in labels)


def test_senders_go_by_their_names_and_a_message_names_its_labels(web: Web, alice: requests.Session) -> None:
    page = alice.get(web.url + "/inbox", timeout=10).text
    rows = stored(web)
    listed = re.findall(
        r'<a href="/inbox/([^"]+)">\s*<span class="from">(.*?)</span>\s*<span class="subject">', page, re.S
    )
    assert listed
    for gmail_id, senders in listed:
        members = sorted(thread_of(rows, gmail_id), key=lambda r: newest_first(rows).index(r["gmail_id"]), reverse=True)
        people = list(dict.fromkeys(r["sender"] for r in members if r["sender"]))[-3:]
        expected = [(parseaddr(p)[0] or parseaddr(p)[1], parseaddr(p)[1]) for p in people]
        said = re.findall(r'<span title="([^"]*)">([^<]*)</span>', senders)
        assert [(html.unescape(name), html.unescape(hover)) for hover, name in said] == expected
    assert "Grace Hopper" in page and "&lt;grace@" not in page  # names, not raw headers
    labelled = next(r for r in rows if {"INBOX", "Label_1"} <= set(r["label_ids"]))
    opened = alice.get(f"{web.url}/inbox/{labelled['gmail_id']}", timeout=10).text
    chips = re.findall(r'data-testid="chip"[^>]*>([^<]+)<', opened)
    assert "Inbox" in chips and "Receipts" in chips
    assert not {"INBOX", "Label_1", "UNREAD", "IMPORTANT"} & set(chips)  # no raw ids
    assert "background: #16a766" in opened  # Receipts' colour, as the list shows it


def test_attachments_download_from_gmail_for_their_owner_only(
    web: Web, sandbox: Sandbox, alice: requests.Session
) -> None:
    """Fetched from Gmail on demand (counted by the quota meter), sent as a download with the
    name as sent, and never as a type a browser would run."""
    report, page_html = random.Random(7).randbytes(200_000), b"<script>alert(1)</script>"
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "Ada Lovelace <ada@example.org>", ALICE, "Two files"
    mail.set_content("See attached.")
    mail.add_attachment(report, maintype="application", subtype="pdf", filename="Übersicht 2026.pdf")
    mail.add_attachment(page_html, maintype="text", subtype="html", filename="page.html")
    raw = base64.urlsafe_b64encode(mail.as_bytes()).decode()
    (gmail_id,) = sandbox.admin("POST", f"/accounts/{ALICE}/messages", raw=raw, labelIds=["INBOX"])["ids"]
    requests.get(web.url + CRON, headers={"Authorization": "Bearer test-cron-secret"}, timeout=60)
    inbox = alice.get(web.url + "/inbox", timeout=10).text
    row = re.search(rf'href="/inbox/{gmail_id}">.*?</li>', inbox, re.S)
    assert row is not None and 'data-testid="has-attachments"' in row.group(0)
    opened = alice.get(f"{web.url}/inbox/{gmail_id}", timeout=10).text
    assert re.findall(r'href="(/inbox/[^"]+/attachments/\d+)" download', opened) == [
        f"/inbox/{gmail_id}/attachments/0",
        f"/inbox/{gmail_id}/attachments/1",
    ]
    before = sandbox.stats(ALICE)["methods"]
    pdf = alice.get(f"{web.url}/inbox/{gmail_id}/attachments/0", timeout=30)
    assert pdf.status_code == 200 and pdf.content == report
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == (
        "attachment; filename=\"_bersicht 2026.pdf\"; filename*=UTF-8''%C3%9Cbersicht%202026.pdf"
    )
    html_file = alice.get(f"{web.url}/inbox/{gmail_id}/attachments/1", timeout=30)
    assert html_file.content == page_html and html_file.headers["content-type"] == "application/octet-stream"
    after = sandbox.stats(ALICE)["methods"]
    fetched = {method: after.get(method, 0) - before.get(method, 0) for method in after}
    assert fetched["gmail.users.messages.attachments.get"] >= 1  # the large one by its id, from Gmail, now
    assert fetched["gmail.users.messages.get"] == 2  # the message read again for each: ids change
    assert alice.get(f"{web.url}/inbox/{gmail_id}/attachments/2", timeout=10).status_code == 404
    bob = connect(web, sandbox, "bob@example.com", messages=1)
    assert bob.get(f"{web.url}/inbox/{gmail_id}/attachments/0", timeout=10).status_code == 404  # not his
    sandbox.admin("POST", f"/accounts/{ALICE}/revoke")  # the owner took Jessie's access away at Google
    refused = alice.get(f"{web.url}/inbox/{gmail_id}/attachments/0", timeout=30)
    assert refused.status_code == 409 and "reconnect Gmail from the inbox" in refused.text
    inbox = alice.get(web.url + "/inbox", timeout=10).text
    assert 'href="/auth/google" data-testid="reconnect">Reconnect Gmail</a>' in inbox  # the way back


def _reply(sender: str, subject: str, body: str, message_id: str, answers: list[str]) -> str:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"], mail["Message-ID"] = sender, ALICE, subject, message_id
    if answers:
        mail["In-Reply-To"], mail["References"] = answers[-1], " ".join(answers)
    mail.set_content(body)
    return base64.urlsafe_b64encode(mail.as_bytes()).decode()


def test_a_conversation_is_one_row_and_opens_as_its_messages_in_order(
    web: Web, sandbox: Sandbox, alice: requests.Session
) -> None:
    """Three messages of a thread list once (its count, the newest's snippet, who wrote) and open
    together, oldest first, the newest open; a search matching the first opens it there."""
    said = [
        ("Grace Hopper <grace@example.com>", "Compiler demo", "Can we show the zebrafinch compiler on Friday?"),
        ("Ada Lovelace <ada@example.com>", "Re: Compiler demo", "Friday works for me."),
        ("Grace Hopper <grace@example.com>", "RE: Compiler demo", "Booked the big room."),
    ]
    ids: list[str] = []
    for n, (sender, subject, body) in enumerate(said):
        raw = _reply(sender, subject, body, f"<demo{n}@example.com>", [f"<demo{i}@example.com>" for i in range(n)])
        ids += sandbox.admin("POST", f"/accounts/{ALICE}/messages", raw=raw)["ids"]
    requests.get(web.url + CRON, headers={"Authorization": "Bearer test-cron-secret"}, timeout=60)

    inbox = alice.get(web.url + "/inbox", timeout=10).text
    first = re.search(
        r'<li class="[^"]*" data-unread="yes" data-thread="(\w+)" data-messages="(\d+)">(.*?)</li>', inbox, re.S
    )
    assert first is not None and first.groups()[:2] == (ids[0], "3")  # the thread is its first message's id
    assert shown(first.group(3)) == [ids[2]] and shown(inbox).count(ids[2]) == 1
    assert "Booked the big room." in first.group(3) and "Friday works" not in first.group(3)
    assert re.findall(r'<span title="[^"]*">([^<]*)</span>', first.group(3)) == ["Grace Hopper", "Ada Lovelace"]
    assert not {ids[0], ids[1]} & set(shown(inbox))

    opened = alice.get(f"{web.url}/inbox/{ids[2]}", timeout=10).text
    parts = re.findall(
        r'<details class="mail" id="m-\w+" data-testid="thread-message" data-id="(\w+)"( open)?>', opened
    )
    assert parts == [(ids[0], ""), (ids[1], ""), (ids[2], " open")]
    assert "<h1>Compiler demo</h1>" in opened

    found = alice.get(web.url + "/inbox", params={"q": "zebrafinch"}, timeout=10).text
    assert shown(found) == [ids[0]]  # the message that matched, in its conversation
    there = alice.get(f"{web.url}/inbox/{ids[0]}", timeout=10).text
    parts = re.findall(r'data-testid="thread-message" data-id="(\w+)"( open)?>', there)
    assert parts == [(ids[0], " open"), (ids[1], ""), (ids[2], " open")]


PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
NEWSLETTER = """<html><head><script>alert("head")</script></head><body>
<h1 style="color: #0b57d0; background: url(https://tracker.example/bg.png)">November news</h1>
<ul><li>First point</li><li>Second point</li></ul>
<p onclick="steal()">Read <a href="https://example.com/more" onmouseover="x()">more</a>
<a href="javascript:alert(1)">or this</a></p>
<img src="cid:logo@news" alt="Logo"><img src="https://tracker.example/open.gif" alt="">
<form action="https://evil.example/"><input name="password"></form>
<iframe src="https://evil.example/"></iframe><script>alert("body")</script>
</body></html>"""


def test_html_mail_shows_as_sent_in_a_frame_that_runs_nothing_and_loads_nothing_unasked(
    web: Web, sandbox: Sandbox, alice: requests.Session
) -> None:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "News <news@example.com>", ALICE, "November news"
    mail.set_content("November news\n\n- First point\n- Second point")
    mail.add_alternative(NEWSLETTER, subtype="html")
    html_part = mail.get_body(("html",))
    assert isinstance(html_part, EmailMessage)
    html_part.add_related(PIXEL, maintype="image", subtype="png", cid="<logo@news>")
    raw = base64.urlsafe_b64encode(mail.as_bytes()).decode()
    (gmail_id,) = sandbox.admin("POST", f"/accounts/{ALICE}/messages", raw=raw, labelIds=["INBOX"])["ids"]
    requests.get(web.url + CRON, headers={"Authorization": "Bearer test-cron-secret"}, timeout=60)

    opened = alice.get(f"{web.url}/inbox/{gmail_id}", timeout=10).text
    frame = re.search(r'<iframe class="html-body"[^>]*>', opened)
    assert frame is not None and f'src="/inbox/{gmail_id}/html"' in frame.group(0)
    assert 'sandbox="allow-same-origin allow-popups allow-popups-to-escape-sandbox"' in frame.group(0)  # no scripts
    assert 'data-testid="show-images"' in opened and 'data-testid="attachments"' not in opened  # the logo is inline
    assert '<summary>As plain text</summary><pre class="body">November news' in opened  # the text view stays

    served = alice.get(f"{web.url}/inbox/{gmail_id}/html", timeout=10)
    policy = served.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "img-src 'self' data:;" in policy and "script-src" not in policy
    assert "frame-ancestors 'self'" in policy and served.headers["x-frame-options"] == "SAMEORIGIN"
    body = served.text
    assert '<h1 style="color:#0b57d0">' in body and "<li>First point</li>" in body  # as sent
    assert "url(" not in body  # CSS that would fetch is not kept
    for unsafe in ("<script", "alert(", "onclick", "onmouseover", "javascript:", "<form", "<input", "<iframe"):
        assert unsafe not in body, unsafe
    assert 'target="_blank"' in body and 'rel="noopener noreferrer"' in body
    logo = re.search(r'<img src="(/inbox/[^"]+)" alt="Logo"', body)
    assert logo is not None and alice.get(web.url + logo.group(1), timeout=10).content == PIXEL
    assert '<img src="https://tracker.example/open.gif"' in body  # kept, and held back by the policy

    asked = alice.get(f"{web.url}/inbox/{gmail_id}", params={"images": "true"}, timeout=10).text
    assert f'src="/inbox/{gmail_id}/html?images=true"' in asked and 'data-testid="show-images"' not in asked
    consented = alice.get(f"{web.url}/inbox/{gmail_id}/html", params={"images": "true"}, timeout=10)
    assert "img-src 'self' data: https: http:;" in consented.headers["content-security-policy"]
    bob = connect(web, sandbox, "bob@example.com", messages=1)
    assert bob.get(f"{web.url}/inbox/{gmail_id}/html", timeout=10).status_code == 404  # not his


def test_a_first_sync_in_progress_says_how_far_it_has_got(web: Web, alice: requests.Session) -> None:
    count = len(stored(web))
    with web.pool.connection() as conn:  # as a large mailbox looks after the connect's budget ran out
        conn.execute("update jessie.accounts set sync_state = 'full', mailbox_total = 20000")
    progress = re.search(
        r'data-testid="sync-progress">(.*?)</span>', alice.get(web.url + "/inbox", timeout=10).text, re.S
    )
    assert progress is not None
    assert f"{count} of 20,000 messages stored (1 %)" in " ".join(progress.group(1).split())
    with web.pool.connection() as conn:
        conn.execute("update jessie.accounts set sync_state = 'incremental', last_sync_error = 'Gmail said no'")
    page = alice.get(web.url + "/inbox", timeout=10).text
    assert 'data-testid="sync-progress"' not in page
    assert "Last problem: Gmail said no" in page
    assert re.search(
        r'Next sync around <time datetime="[^"]+" data-style="mail">\d{4}-\d\d-\d\d \d\d:00 UTC</time>', page
    )


def test_disconnect_asks_first_and_says_what_goes(web: Web, alice: requests.Session) -> None:
    count = len(stored(web))
    inbox = alice.get(web.url + "/inbox", timeout=10).text
    assert 'action="/auth/disconnect"' not in inbox  # one click on the inbox deletes nothing
    confirm = alice.get(web.url + "/account/disconnect", timeout=10)
    assert confirm.status_code == 200
    assert f"delete the <strong>{count} messages</strong>" in confirm.text
    assert query(web.pool, "select count(*) from jessie.messages") == [(count,)]
    done = post_form(alice, web, "/auth/disconnect")
    assert "Gmail disconnected" in done.text
    assert query(web.pool, "select count(*) from jessie.messages") == [(0,)]
    assert query(web.pool, "select count(*) from jessie.labels") == [(0,)]


def test_favicon_and_the_script_are_served(web: Web) -> None:
    icon = requests.get(web.url + "/favicon.ico", timeout=10)
    script = requests.get(web.url + "/static/jessie.js", timeout=10)
    assert (icon.status_code, icon.headers["content-type"]) == (200, "image/svg+xml")
    assert icon.text.startswith("<svg")
    assert script.status_code == 200 and "form.dataset.busy" in script.text


LARGE_QUERIES: dict[str, Callable[[Row], bool]] = {
    "": lambda r: "INBOX" in r["label_ids"],  # the Inbox view
    "invoice": lambda r: anywhere_in(r, "invoice"),
    '"quarterly review"': lambda r: any(has_phrase(r[f], "quarterly review") for f in ("subject", "body_text")),
    "from:person7@example0.com": lambda r: has_phrase(r["sender"], "person7@example0.com"),
    "from:person21 is:unread label:project-4": lambda r: (
        "person21" in words(r["sender"]) and {"UNREAD", "Label_4"} <= set(r["label_ids"])
    ),
    "subject:coffee -hotel": lambda r: "coffee" in words(r["subject"]) and not anywhere_in(r, "hotel"),
}


@pytest.fixture(scope="module")
def large_mailbox(postgres_admin_url: str, template_database: str) -> Iterator[tuple[psycopg.Connection, int]]:
    """20,000 generated messages (the bench's generator), made once for these tests."""
    from bench.mailbox_bench import generate_mailbox

    with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
        admin.execute(f"create database large_mailbox template {template_database}")
    try:
        with psycopg.connect(psycopg.conninfo.make_conninfo(postgres_admin_url, dbname="large_mailbox")) as conn:
            account = generate_mailbox(conn, "large@example.com", 20_000)
            conn.commit()
            yield conn, account
    finally:
        with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
            admin.execute("drop database large_mailbox")


@pytest.mark.parametrize("q", list(LARGE_QUERIES))
def test_a_large_mailbox_pages_and_searches_exactly(large_mailbox: tuple[psycopg.Connection, int], q: str) -> None:
    """Three pages of each view or search are exactly the newest matches, by keyset, as the
    stored rows say they should be."""
    from app.data import mailbox
    from app.search import parse

    conn, account = large_mailbox
    rows = [dict(zip(COLUMNS, row, strict=True)) for row in conn.execute(STORED)]
    expected = conversations(rows, LARGE_QUERIES[q])[:150]
    assert expected, "the generated mailbox should have matches"
    got, cursor = [], None
    for _ in range(3):
        page = mailbox.page(
            conn, account, view="INBOX" if q == "" else None, search=parse(q), size=50, older_than=cursor
        )
        got += [c.gmail_id for c in page.conversations]
        cursor = page.older
        if cursor is None:
            break
    assert got == expected
