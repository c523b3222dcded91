"""Alerts: one per failure episode, to a Slack-compatible webhook, always logged as errors.

An episode starts when a run fails, when an account has failed
`JESSIE_ALERT_AFTER_FAILURES` runs in a row, or when Google revokes an account's token
(it is then parked until reconnected); it ends when the run (or the account) recovers.
Only the start of an episode is sent, so a sync that stays broken for a day sends one
message, not twenty-four.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

from app.config import Settings
from app.db.connection import Connection
from app.logs import log_event
from app.statuses import AccountStatus, RunStatus

RUN_FAILED = "run_failed"
WEBHOOK_TIMEOUT_S = 10  # an alert must not hold up the run that sends it


def send(settings: Settings, texts: list[str]) -> None:
    """Deliver alerts (after the transaction that decided them has committed)."""
    for text in texts:
        _send(settings, text)


def _send(settings: Settings, text: str) -> None:
    log_event("alert", logging.ERROR, text=text)
    if settings.alert_webhook_url is None:
        return
    request = urllib.request.Request(  # noqa: S310 -- the operator's configured https webhook
        settings.alert_webhook_url.get_secret_value(),
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S):  # noqa: S310
            pass
    except OSError as error:  # an unreachable webhook must not fail the sync
        log_event("alert.delivery_failed", logging.ERROR, error=type(error).__name__)


def _start_episode(conn: Connection, key: str) -> bool:
    """True if this is a new episode (nothing was alerted for `key` yet)."""
    row = conn.execute(
        """insert into jessie.alert_state (key, alerted_at) values (%s, now())
           on conflict (key) do nothing returning key""",
        [key],
    ).fetchone()
    return row is not None


def _end_episode(conn: Connection, key: str) -> None:
    conn.execute("delete from jessie.alert_state where key = %s", [key])


def evaluate(conn: Connection, settings: Settings, run: dict[str, Any]) -> list[str]:
    """After a run: start or end episodes; returns the alerts to send for episodes that start."""
    sent = []
    if run["status"] == RunStatus.FAILED:
        if _start_episode(conn, RUN_FAILED):
            sent.append(f"Jessie sync run {run['run_id']} failed: {run.get('error') or 'every account failed'}")
    else:
        _end_episode(conn, RUN_FAILED)
    # A revoked token parks the account (needs_reauth): it fails no more runs, so it is news at once.
    failing = conn.execute(
        """select email, consecutive_failures, last_sync_error, status from jessie.accounts
           where consecutive_failures >= %s or status = 'needs_reauth'""",
        [settings.alert_after_failures],
    ).fetchall()
    for email, failures, error, status in failing:
        if not _start_episode(conn, f"account:{email}"):
            continue
        if status == AccountStatus.NEEDS_REAUTH:
            sent.append(f"Jessie: {email} must reconnect Gmail: {error or 'Google refused its token'}")
        else:
            sent.append(f"Jessie: {email} has failed {failures} sync runs in a row: {error or 'unknown error'}")
    healthy = conn.execute(
        """select 'account:' || email from jessie.accounts
           where consecutive_failures < %s and status <> 'needs_reauth'""",
        [settings.alert_after_failures],
    ).fetchall()
    if healthy:
        conn.execute("delete from jessie.alert_state where key = any(%s)", [[row[0] for row in healthy]])
    return sent
