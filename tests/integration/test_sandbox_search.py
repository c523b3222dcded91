"""The sandbox answers Gmail searches and partial responses as Gmail documents them ("Search
operators you can use with Gmail"; "Partial response" in Google's API performance guide),
driven through google-api-python-client as other Gmail clients drive it."""

from __future__ import annotations

import base64

import pytest

from tests.conftest import Sandbox, gmail_client

USER = "searcher@example.com"
MAIL = {
    "m1": ("Amy <amy@example.com>", "Dinner plans", "Let's have dinner and a movie on Friday", ["INBOX", "UNREAD"]),
    "m2": ("David <david@example.com>", "Movie night after dinner", "The movie starts at eight", ["INBOX"]),
    "m3": ("Amy <amy@example.com>", "Quarterly report", "Numbers attached", ["INBOX", "STARRED", "Label_1"]),
    "m4": ("Bob <bob@example.org>", "Dinner", "dinner movie", ["SPAM"]),
    "m5": ("carol@example.net", "Re: dinner plans", "count me in", ["TRASH"]),
    "m6": (f"Me <{USER}>", "Sent one", "see you there", ["SENT"]),
}
SEARCHES = {
    "from:amy OR from:david": {"m1", "m2", "m3"},
    "{from:amy from:david}": {"m1", "m2", "m3"},
    "from:{amy david}": {"m1", "m2", "m3"},
    "from:amy -subject:dinner": {"m3"},
    '"dinner plans"': {"m1"},
    '"dinner plans" in:anywhere': {"m1", "m5"},
    '-"dinner plans" dinner': {"m2"},
    "subject:(dinner movie)": {"m2"},
    "subject:{report plans}": {"m1", "m3"},
    "(from:amy OR from:bob) is:unread": {"m1"},
    "-(from:amy OR from:david)": {"m6"},
    "in:spam dinner": {"m4"},
    "label:spam OR label:trash": {"m4", "m5"},
    "is:starred label:receipts": {"m3"},
    "is:read in:inbox": {"m2", "m3"},
    "-in:inbox": {"m6"},
    "to:amy": {"m6"},
    "movie -friday": {"m2"},
    "mov": set(),  # whole words, not substrings
    "newer_than:1d": {"m1", "m2", "m3", "m6"},
    "older_than:1d in:anywhere": set(),
    "from:amy after:2000/01/01 before:2100/01/01": {"m1", "m3"},
}


def _raw(sender: str, subject: str, body: str) -> str:
    message = f"From: {sender}\r\nTo: {'amy@example.com' if 'Me' in sender else USER}\r\nSubject: {subject}\r\n"
    message += f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    return base64.urlsafe_b64encode(message.encode()).decode()


@pytest.fixture
def searcher(sandbox: Sandbox) -> tuple[object, dict[str, str]]:
    account = sandbox.create_account(USER)
    ids = {}
    for key, (sender, subject, body, labels) in MAIL.items():
        delivered = sandbox.admin(
            "POST", f"/accounts/{USER}/messages", raw=_raw(sender, subject, body), labelIds=labels
        )
        ids[delivered["ids"][0]] = key
    return gmail_client(sandbox, account["refresh_token"]).service, ids


@pytest.mark.parametrize("q", list(SEARCHES))
def test_gmail_search_grammar(searcher: tuple[object, dict[str, str]], q: str) -> None:
    service, ids = searcher
    found = service.users().messages().list(userId="me", q=q).execute()  # type: ignore[attr-defined]
    assert {ids[m["id"]] for m in found.get("messages", [])} == SEARCHES[q]


def test_partial_responses_with_nested_paths(searcher: tuple[object, dict[str, str]]) -> None:
    service, ids = searcher
    messages = service.users().messages()  # type: ignore[attr-defined]
    listed = messages.list(userId="me", maxResults=2, fields="nextPageToken,messages/id").execute()
    assert set(listed) == {"nextPageToken", "messages"}
    assert [set(m) for m in listed["messages"]] == [{"id"}, {"id"}]
    merged = messages.list(userId="me", fields="messages/id,messages/threadId").execute()
    assert all(set(m) == {"id", "threadId"} for m in merged["messages"])
    whole = messages.list(userId="me", maxResults=1, fields="messages,messages/id").execute()
    assert set(whole["messages"][0]) == {"id", "threadId"}  # a field selected whole stays whole
    one = next(iter(ids))
    got = messages.get(userId="me", id=one, format="metadata", fields="id,payload/headers(name,value)").execute()
    assert set(got) == {"id", "payload"} and set(got["payload"]) == {"headers"}
    assert {"name", "value"} == {key for header in got["payload"]["headers"] for key in header}
