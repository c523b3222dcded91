"""Alerts: one per failure episode, to a Slack-compatible webhook, always logged as errors.

An episode starts when a run fails, when an account has failed
`JESSIE_ALERT_AFTER_FAILURES` runs in a row, when Google revokes an account's token
(it is then parked until reconnected), or when an incident opens (app/incidents.py: what
Vercel's Log Drains report, and a cron that did not run); it ends when the run (or the
account) recovers. Only the start of an episode is sent, so a sync that stays broken for a
day sends one message, not twenty-four.

Incidents of the cron endpoint end when a cron run succeeds; a failed run's when a run
does not fail; "the cron did not run" when a cron run did its work; the others once they
have been quiet for twice the time the cron may be overdue.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from app.config import CRON_PATH, Settings
from app.data import incidents
from app.db.connection import Connection
from app.incidents import Observation
from app.logs import log_event
from app.statuses import AccountStatus, IncidentKind, RunStatus

CRON_ENDPOINT_KINDS = (IncidentKind.TIMEOUT, IncidentKind.CRASH, IncidentKind.CRON_ERROR)
CLOSED_WHEN_QUIET = (*CRON_ENDPOINT_KINDS, IncidentKind.QUEUE_GAVE_UP)
INCIDENT_TEXTS = {
    IncidentKind.TIMEOUT: "Jessie on Vercel: {path} was stopped at its maxDuration: {sample}",
    IncidentKind.CRASH: "Jessie on Vercel: {path} crashed mid-request (the runtime died): {sample}",
    IncidentKind.CRON_ERROR: "Jessie on Vercel: the cron endpoint logged an error: {sample}",
    IncidentKind.RUN_FAILED: "Jessie sync run failed (from Vercel's logs): {sample}",
    IncidentKind.CRON_MISSED: "Jessie: the scheduled sync did not run: {sample}",
    IncidentKind.QUEUE_GAVE_UP: "Jessie: a worker of the hourly sweep failed every delivery from the queue: {sample}",
}
INCIDENT_NAMES = {
    IncidentKind.TIMEOUT: "stopped at maxDuration",
    IncidentKind.CRASH: "crashed mid-request",
    IncidentKind.CRON_ERROR: "cron endpoint error",
    IncidentKind.RUN_FAILED: "sync run failed",
    IncidentKind.CRON_MISSED: "cron did not run",
    IncidentKind.QUEUE_GAVE_UP: "sweep worker gave up",
}
GRANT_WAVE = "grant_wave"
GRANT_WAVE_ACCOUNTS = 3  # tokens refused in one run from which the cause is named, not each account
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


def incident_key(kind: IncidentKind, path: str) -> str:
    """A failed run is one episode however it is seen: the runner's own record or a log line."""
    return IncidentKind.RUN_FAILED if kind == IncidentKind.RUN_FAILED else f"incident:{kind}:{path}"


def incidents_opened(conn: Connection, opened: Iterable[incidents.Opened]) -> list[str]:
    """The alerts for incidents that start an episode: one each, and one summary for the paths
    beyond the bound (app/data/incidents.py), however many kinds they are of."""
    texts, beyond = [], []
    for incident in opened:
        if not _start_episode(conn, incident_key(incident.kind, incident.path)):
            continue
        if incident.path == incidents.OVERFLOW_PATH:
            beyond.append(f"{incident.folded:,} {INCIDENT_NAMES[incident.kind]}")
        else:
            texts.append(
                INCIDENT_TEXTS[incident.kind].format(path=incident.path or "a request", sample=incident.sample)
            )
    if beyond:
        texts.append(
            f"Jessie on Vercel: and more new incidents than are alerted one by one ({', '.join(beyond)} on further "
            "paths), gathered under “(more paths)” on /runs until they end"
        )
    return texts


def _close_incidents(
    conn: Connection, kinds: Iterable[IncidentKind], path: str | None = None, quiet_since: datetime | None = None
) -> None:
    for kind, closed_path in incidents.close(conn, kinds, path, quiet_since):
        _end_episode(conn, incident_key(kind, closed_path))


def check_incidents(conn: Connection, settings: Settings, now: datetime | None = None) -> list[str]:
    """On every drain delivery and every view of /runs: quiet incidents close, and a cron
    overdue opens "the cron did not run" (alerted once, like every incident)."""
    now = now or datetime.now(UTC)
    overdue = timedelta(seconds=settings.cron_overdue_after_s)
    _close_incidents(conn, CLOSED_WHEN_QUIET, quiet_since=now - 2 * overdue)
    since = incidents.last_cron_progress(conn)
    if since is None or now - since <= overdue:
        return []
    missed = Observation(
        kind=IncidentKind.CRON_MISSED,
        path=CRON_PATH,
        entry_id=f"cron_missed:{since.isoformat()}",
        seen_at=now,
        deployment_id=None,
        request_id=None,
        sample=(
            f"no cron run has done its work since {since:%Y-%m-%d %H:%M} UTC, and one is due every "
            f"{settings.cron_interval_minutes:g} minutes: check the project's Cron Jobs on Vercel "
            "(or the GitHub cron) and the cron endpoint's logs"
        ),
    )
    return incidents_opened(conn, incidents.record(conn, [missed]))


def _grant_wave(conn: Connection, run_id: int) -> list[str]:
    """Many tokens refused in one run is rarely many users revoking access: an OAuth app in
    Google's "Testing" publishing status gets refresh tokens that expire after 7 days. One alert
    names that cause, in place of an alert per account (their episodes start with it); it is
    sent again only once every parked account has reconnected."""
    refused = [
        row[0]
        for row in conn.execute(
            """select a.email from jessie.sync_run_accounts r join jessie.accounts a on a.id = r.account_id
               where r.run_id = %s and r.status = 'needs_reauth' order by a.email""",
            [run_id],
        ).fetchall()
    ]
    parked = conn.execute("select count(*) from jessie.accounts where status = 'needs_reauth'").fetchone()
    if parked is not None and parked[0] == 0:
        _end_episode(conn, GRANT_WAVE)
    if len(refused) < GRANT_WAVE_ACCOUNTS:
        return []
    for email in refused:
        _start_episode(conn, f"account:{email}")
    if not _start_episode(conn, GRANT_WAVE):
        return []
    return [
        f"Jessie: Google refused the tokens of {len(refused)} accounts in sync run {run_id} (invalid_grant). "
        "So many at once usually means the OAuth app is in “Testing” publishing status, whose refresh "
        "tokens expire after 7 days: publish the app (Google Auth Platform → Audience; gmail.readonly is a "
        "restricted scope and needs Google's verification), then each account reconnects once"
    ]


def evaluate(conn: Connection, settings: Settings, run: dict[str, Any], trigger: str) -> list[str]:
    """After a run: start or end episodes; returns the alerts to send for episodes that start."""
    sent = []
    if run["status"] == RunStatus.FAILED:
        if _start_episode(conn, IncidentKind.RUN_FAILED):
            sent.append(f"Jessie sync run {run['run_id']} failed: {run.get('error') or 'every account failed'}")
    else:
        _end_episode(conn, IncidentKind.RUN_FAILED)
        _close_incidents(conn, [IncidentKind.RUN_FAILED])
        if trigger == "cron":
            _close_incidents(conn, [IncidentKind.CRON_MISSED])
    if run["status"] == RunStatus.OK and trigger == "cron":
        _close_incidents(conn, CRON_ENDPOINT_KINDS, CRON_PATH)
    sent += _grant_wave(conn, run["run_id"])
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
