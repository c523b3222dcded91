"""The generated mailbox: reproducible from its seed, and as nasty as promised."""

from __future__ import annotations

import base64
import email
import subprocess
import sys
from email.header import decode_header
from typing import Any

import pytest
import requests

from sandbox.gmail.generator import KINDS, MessageFactory
from sandbox.gmail.server import SandboxServer
from sandbox.gmail.state import SandboxState
from tests.conftest import Sandbox, gmail_client

USER = "seeded@example.com"


def _mailbox_dump(seed: int) -> list[tuple[dict[str, Any], str]]:
    with SandboxServer(SandboxState()) as server:
        sandbox = Sandbox(server)
        sandbox.admin("PUT", "/quota", units_per_second=0)
        account = sandbox.create_account(USER, messages=150, seed=seed)
        service = gmail_client(sandbox, account["refresh_token"]).service
        truth = sandbox.truth(USER)
        raws = [service.users().messages().get(userId="me", id=m["id"], format="raw").execute()["raw"] for m in truth]
        return list(zip(truth, raws, strict=True))


def test_same_seed_same_mailbox_other_seed_other_mailbox() -> None:
    first, second, other = _mailbox_dump(11), _mailbox_dump(11), _mailbox_dump(12)
    assert first == second
    assert [raw for _, raw in first] != [raw for _, raw in other]


def test_every_nasty_kind_is_in_a_mailbox_of_twenty() -> None:
    generated = MessageFactory(USER, seed=3).history(20)
    assert set(KINDS) <= {message.kind for message in generated}
    by_kind = {message.kind: message for message in generated}
    raw = {kind: message.raw for kind, message in by_kind.items()}
    assert b"\x00" in raw["nul_bytes"]
    assert len(raw["huge_body"]) > 1_000_000
    assert b"charset=shift_jis" in raw["shift_jis"]
    assert b"charset=iso-8859-1" in raw["latin1"]
    assert b"charset=windows-1252" in raw["cp1252"]
    with_bad_utf8 = raw["mislabelled"].split(b"charset=utf-8", 1)[1]
    try:
        with_bad_utf8.decode("utf-8")
        raise AssertionError("the mislabelled part must not be valid UTF-8")
    except UnicodeDecodeError:
        pass
    missing = email.message_from_bytes(raw["missing_headers"])
    assert missing["From"] is None
    assert missing["Subject"] is None
    assert missing["Date"] is None
    subject = email.message_from_bytes(raw["long_subject"])["Subject"]
    assert len(subject.replace("\r\n", "")) == 1000  # unfolding removes only the CRLFs
    encoded = email.message_from_bytes(raw["rfc2047"])["Subject"]
    assert any(charset for _, charset in decode_header(encoded))
    html_only = email.message_from_bytes(raw["html_only"])
    assert html_only.get_content_type() == "text/html"
    assert email.message_from_bytes(raw["inline_image"]).get_content_type() == "multipart/related"


def test_threads_spam_trash_and_user_labels_appear(sandbox: Sandbox) -> None:
    account = sandbox.create_account(USER, messages=400, seed=9)
    truth = sandbox.truth(USER)
    labels = {label for message in truth for label in message["labelIds"]}
    assert {"SPAM", "TRASH", "INBOX", "UNREAD", "SENT"} <= labels
    assert any(label.startswith("Label_") for label in labels)
    threads = [m["threadId"] for m in truth]
    assert len(set(threads)) < len(threads)
    reply = next(m for m in truth if m["threadId"] != m["id"])
    service = gmail_client(sandbox, account["refresh_token"]).service
    headers = (
        service.users()
        .messages()
        .get(userId="me", id=reply["id"], format="metadata", metadataHeaders=["In-Reply-To", "References"])
        .execute()["payload"]["headers"]
    )
    assert {h["name"] for h in headers} == {"In-Reply-To", "References"}


def test_new_mail_continues_the_same_sequence(sandbox: Sandbox) -> None:
    account = sandbox.create_account(USER, messages=5, seed=9)
    ids = sandbox.admin("POST", f"/accounts/{USER}/messages", count=4)["ids"]
    assert ids == sorted(ids)  # ids grow with arrival time
    client = gmail_client(sandbox, account["refresh_token"])
    newest = client.service.users().messages().list(userId="me", includeSpamTrash=True, maxResults=4).execute()
    assert [m["id"] for m in newest["messages"]] == list(reversed(ids))
    raw = base64.urlsafe_b64encode(b"Subject: raw\r\n\r\nbody").decode()
    added = sandbox.admin("POST", f"/accounts/{USER}/messages", raw=raw)["ids"]
    got = client.service.users().messages().get(userId="me", id=added[0], format="raw").execute()
    assert base64.urlsafe_b64decode(got["raw"]) == b"Subject: raw\r\n\r\nbody"
    assert got["labelIds"] == ["INBOX", "UNREAD"]


def _deliver(sandbox: Sandbox, headers: str) -> str:
    raw = base64.urlsafe_b64encode(f"{headers}\r\n\r\nbody".encode()).decode()
    return str(sandbox.admin("POST", f"/accounts/{USER}/messages", raw=raw)["ids"][0])


def test_delivered_replies_join_the_thread_they_answer_as_gmail_threads_them(sandbox: Sandbox) -> None:
    """A reply naming a message of a thread (In-Reply-To or References) with the same subject,
    but for "Re:"/"Fwd:", joins it; naming it with another subject, or a message it never
    saw, starts a thread of its own."""
    account = sandbox.create_account(USER, messages=0, seed=1)
    first = _deliver(sandbox, "Subject: Lunch on Friday?\r\nMessage-ID: <a@x>")
    reply = _deliver(sandbox, "Subject: RE: Lunch on Friday?\r\nMessage-ID: <b@x>\r\nIn-Reply-To: <a@x>")
    forward = _deliver(sandbox, "Subject: Fwd: Re: lunch on friday?\r\nReferences: <a@x> <b@x>")
    renamed = _deliver(sandbox, "Subject: Something else\r\nIn-Reply-To: <b@x>")
    stranger = _deliver(sandbox, "Subject: Re: Lunch on Friday?\r\nIn-Reply-To: <unknown@x>")
    thread_of = {m["id"]: m["threadId"] for m in sandbox.truth(USER)}
    assert thread_of[reply] == thread_of[forward] == thread_of[first] == first
    assert thread_of[renamed] == renamed and thread_of[stranger] == stranger
    service = gmail_client(sandbox, account["refresh_token"]).service
    thread = service.users().threads().get(userId="me", id=first, format="minimal").execute()
    assert [m["id"] for m in thread["messages"]] == [first, reply, forward]


def test_jessie_sandbox_command_announces_itself() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "sandbox", "--port", "0", "--accounts", "2", "--messages", "3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("sandbox ready http://127.0.0.1:")
        url = line.removeprefix("sandbox ready ")
        accounts = requests.get(f"{url}/_sandbox/accounts", timeout=10).json()["accounts"]
        assert [(a["email"], a["messages"]) for a in accounts] == [("user1@example.com", 3), ("user2@example.com", 3)]
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    with pytest.raises(requests.ConnectionError):  # stopping `jessie sandbox` stopped the sandbox itself
        requests.get(f"{url}/_sandbox/accounts", timeout=10)
