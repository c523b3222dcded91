"""A sandbox that outlives its process: its accounts and OAuth grants saved to a file on stop
and loaded on start (`--state FILE`; `nox -s dev` keeps it beside its database, so the refresh
token Jessie stored still works after a restart).

A mailbox is saved as its seed and journal (sandbox/gmail/mailbox.py) and rebuilt by replaying
it, so what comes back is the same mailbox: the same ids, history ids and contents. Quota,
faults, stats and access tokens are not kept: they are the run's, as with Google.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from .mailbox import Mailbox
from .state import AccountStats, SandboxState

VERSION = 1


def save(state: SandboxState, path: Path) -> None:
    """Written whole, then renamed over the old file: a stop never leaves half a file."""
    saved = {
        "version": VERSION,
        "accounts": [
            {"email": box.email, "seed": box.seed, "reply_rate": box.reply_rate, "journal": box.journal}
            for box in state.mailboxes.values()
        ],
        "oauth": state.oauth.grants(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    draft.write_text(json.dumps(saved))
    draft.replace(path)


def load(state: SandboxState, path: Path) -> None:
    """The saved accounts and grants into a fresh `state` (nothing when there is no file yet)."""
    if not path.exists():
        return
    saved: dict[str, Any] = json.loads(path.read_text())
    if saved.get("version") != VERSION:
        raise ValueError(f"{path}: not a saved sandbox of version {VERSION}")
    for account in saved["accounts"]:
        mailbox = Mailbox(account["email"], account["seed"], account["reply_rate"])
        for change in account["journal"]:
            _replay(mailbox, change)
        state.mailboxes[mailbox.email] = mailbox
        state.stats[mailbox.email] = AccountStats()
    state.oauth.restore_grants(saved["oauth"])


def _replay(mailbox: Mailbox, change: list[Any]) -> None:
    name, *arguments = change
    if name == "deliver":
        raw, label_ids, now_ms, attachment_bytes = arguments
        mailbox.deliver(None if raw is None else base64.b64decode(raw), label_ids, now_ms, attachment_bytes)
    elif name == "populate":
        mailbox.populate(*arguments)
    elif name == "delete":
        mailbox.delete(*arguments)
    elif name == "relabel":
        mailbox.relabel(*arguments)
    elif name == "expire_history":
        mailbox.expire_history()
    else:
        raise ValueError(f"unknown mailbox change {name!r}")
