"""A sandbox saved with `--state` comes back as the same sandbox: mailboxes and refresh tokens."""

from __future__ import annotations

from pathlib import Path

from sandbox.gmail.oauth import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from sandbox.gmail.persistence import load, save
from sandbox.gmail.state import SandboxState


def test_a_saved_sandbox_loads_with_the_same_mail_history_and_grants(tmp_path: Path) -> None:
    before = SandboxState()
    token = str(before.create_account("me@example.com", 20, seed=3)["refresh_token"])
    mailbox = before.mailboxes["me@example.com"]
    first = next(iter(mailbox.messages))
    mailbox.relabel(first, ["STARRED"], ["UNREAD"])
    mailbox.deliver(b"Subject: hi\r\n\r\nbody", None, 1_800_000_000_000)
    mailbox.deliver(None, None, 1_800_000_001_000, attachment_bytes=10)
    mailbox.delete(first)
    save(before, tmp_path / "sandbox.json")

    after = SandboxState()
    load(after, tmp_path / "sandbox.json")
    again = after.mailboxes["me@example.com"]
    assert [m.summary() for m in again.messages.values()] == [m.summary() for m in mailbox.messages.values()]
    assert (again.history_id, again.history_floor) == (mailbox.history_id, mailbox.history_floor)
    assert [m.view.raw for m in again.messages.values()] == [m.view.raw for m in mailbox.messages.values()]
    form = {"grant_type": "refresh_token", "refresh_token": token}
    form |= {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}
    assert after.oauth.token(form, None)["access_token"]


def test_no_saved_file_is_an_empty_sandbox(tmp_path: Path) -> None:
    state = SandboxState()
    load(state, tmp_path / "sandbox.json")
    assert state.mailboxes == {}
