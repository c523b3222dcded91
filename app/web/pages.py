"""HTML pages: home, the signed-in user's inbox, "Sync now", and the operations dashboard.

Input is checked at the edge: text with NUL characters (Postgres cannot hold them) and
message ids that cannot be Gmail's are refused or not found before any query runs.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from markupsafe import Markup

from app import alerts, html_mail
from app.config import Settings
from app.data import accounts, incidents, mailbox
from app.data import runs as runs_data
from app.db.connection import Connection, Database
from app.logs import log_event
from app.search import Search, SearchRefused
from app.search import parse as parse_search
from app.statuses import AccountStatus, SyncState
from app.sync import daily_quota, triggers
from app.sync.sweep import next_slot
from app.sync.triggers import SyncNow
from app.web import run_charts
from app.web.context import MAX_ROW_ID, Admin, Pool, RowId, SameSiteForm, SettingsDep, SignedIn, Visitor, page

router = APIRouter()
PAGE_SIZE = 50
MAX_CURSOR_CHARS = 200
LABEL_ID = r"^[A-Za-z0-9_-]{1,100}$"
MAILBOX_VIEWS = [
    (label_id, mailbox.SYSTEM_LABEL_WORDS[label_id])
    for label_id in ("INBOX", "STARRED", "SENT", "DRAFT", "SPAM", "TRASH")
]
MAX_QUERY_CHARS = 200
MAX_COUNT = 10_000_000  # what a count in a link may say
MAX_URL_QUERY_CHARS = 8_000  # past this the request itself is refused; up to it, the page says why
GMAIL_ID = re.compile(r"^[0-9a-zA-Z_-]{1,64}$")
RECENT_INCIDENTS = 20
MAX_ATTACHMENTS = 999
CHUNK_BYTES = 64 * 1024
SAFE_TYPE = re.compile(r"(application|audio|font|image|video|text)/[a-z0-9.+-]{1,100}")
ACTIVE_TYPES = {"text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml", "text/javascript"}
UNSHOWN_LABELS = {"UNREAD"}  # a state the page shows by being opened, not a label people file by


class BadInput(Exception):
    """Input a page cannot use; the message says what is wrong, in words for the user."""


def _account(pool: Database, who: Visitor) -> accounts.Account | None:
    with pool.connection() as conn:
        return accounts.find_account(conn, str(who.email))


def _owned_message(
    pool: Database, who: Visitor, gmail_id: str
) -> tuple[accounts.Account | None, mailbox.Stored | None]:
    """The visitor's account and their message `gmail_id` (None for an id that cannot be Gmail's,
    or a message of someone else's, which looks exactly like a missing one)."""
    account = _account(pool, who)
    if account is None or not GMAIL_ID.match(gmail_id):
        return account, None
    with pool.connection() as conn:
        return account, mailbox.message(conn, account.id, gmail_id)


@router.get("/")
def home(request: Request, signed_out: bool = False) -> Any:
    """What Jessie is, and the way in; after signing out, it says so."""
    return page(request, "home.html", just_signed_out=signed_out)


def _search(q: str) -> Search:
    """The search `q` asks for; SearchRefused, in words, when Jessie cannot run it."""
    if "\x00" in q:
        raise SearchRefused("Search text cannot contain NUL characters.")
    if len(q) > MAX_QUERY_CHARS:
        raise SearchRefused(f"A search can be at most {MAX_QUERY_CHARS} characters long; this one has {len(q)}.")
    return parse_search(q.strip())


def _cursor(text: str | None) -> mailbox.Cursor | None:
    if not text:
        return None
    try:
        return mailbox.Cursor.parse(text)
    except ValueError:
        raise BadInput("That page link is not valid; start again from the newest mail.") from None


def _progress(conn: Connection, account: accounts.Account) -> dict[str, Any] | None:
    """How far a first (or repeated full) sync has got: stored of Gmail's total."""
    if account.sync_state == SyncState.INCREMENTAL:
        return None
    stored, total = mailbox.stored_count(conn, account.id), account.mailbox_total
    percent = min(100, round(100 * stored / total)) if total else None
    return {"stored": stored, "total": total, "percent": percent}


@dataclass(frozen=True)
class Notice:
    """A line above the mail saying what just happened; `problem` when it did not go as asked."""

    text: str
    problem: bool = False


@router.get("/inbox")
def inbox(
    request: Request,
    settings: SettingsDep,
    pool: Pool,
    who: SignedIn,
    q: Annotated[str, Query(max_length=MAX_URL_QUERY_CHARS)] = "",
    label: Annotated[str, Query(pattern=LABEL_ID)] = "INBOX",
    before: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS)] = None,
    after: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS)] = None,
    synced: Annotated[int | None, Query(ge=0, le=MAX_COUNT)] = None,
    changed: Annotated[int, Query(ge=0, le=MAX_COUNT)] = 0,
) -> Any:
    """A label's mail (Inbox by default) or, with `q`, a search across the mailbox; keyset pages.
    A search Jessie cannot run keeps the query in the box and shows the label, saying why. After
    Sync now (`synced` new messages, `changed` relabelled or deleted), it says what the sync did."""
    account = _account(pool, who)
    if account is None:
        return RedirectResponse("/", 303)
    notice = None if synced is None else Notice(_sync_said(synced, changed))
    return _inbox(request, settings, pool, account, q, label, _cursor(before), _cursor(after), notice)


def _sync_said(added: int, changed: int) -> str:
    if not (added or changed):
        return "Synced: already up to date."
    new = f"{added:,} new message{'' if added == 1 else 's'}"
    return f"Synced: {new}" + (f", {changed:,} changed." if changed else ".")


def _inbox(
    request: Request,
    settings: Settings,
    pool: Database,
    account: accounts.Account,
    q: str = "",
    label: str = "INBOX",
    older_than: mailbox.Cursor | None = None,
    newer_than: mailbox.Cursor | None = None,
    notice: Notice | None = None,
    status: int = 200,
) -> Response:
    """The inbox page, with `notice` above the mail."""
    try:
        search = _search(q)
    except SearchRefused as refused:
        search, older_than, newer_than, status = Search(), None, None, 400
        notice = Notice(str(refused), problem=True)
        q = q.replace("\x00", "")  # kept in the box as typed, but for what no page can hold
    view = label if search.empty else None
    with pool.connection() as conn:
        labels = mailbox.labels(conn, account.id)
        found = mailbox.page(
            conn,
            account.id,
            view=view,
            search=search,
            size=PAGE_SIZE,
            older_than=older_than,
            newer_than=newer_than,
        )
        progress = _progress(conn, account)
    by_id = {row.label_id: row for row in labels}
    return page(
        request,
        "inbox.html",
        status,
        account=account,
        found=found,
        q=q,
        searched=view is None,
        notice=notice,
        view=view,
        views=[(label_id, name, by_id.get(label_id)) for label_id, name in MAILBOX_VIEWS],
        user_labels=[row for row in labels if row.type == "user" and not row.hidden],
        label_names=by_id,
        progress=progress,
        next_sync=next_slot(datetime.now(UTC), settings.cron_interval_minutes),
    )


@router.get("/inbox/{gmail_id}")
def conversation(request: Request, pool: Pool, who: SignedIn, gmail_id: str, images: bool = False) -> Any:
    """The conversation of one message, oldest first: that message and the newest open. HTML
    mail shows as sent in a sandboxed frame, its remote images only once asked (`images`)."""
    account = _account(pool, who)
    if account is None:
        return RedirectResponse("/", 303)
    messages, labels = [], []
    if GMAIL_ID.match(gmail_id):
        with pool.connection() as conn:
            messages = mailbox.thread(conn, account.id, gmail_id)
            labels = mailbox.labels(conn, account.id) if messages else []
    if not messages:  # someone else's message looks exactly like a missing one
        return page(request, "message.html", 404, title="No such message", detail="It may have been deleted.")
    in_any = {label_id for m in messages for label_id in m.label_ids}
    shown = [label for label in labels if label.label_id in in_any and label.label_id not in UNSHOWN_LABELS]
    return page(
        request,
        "mail.html",
        messages=messages,
        subject=messages[0].subject,
        opened={gmail_id, messages[-1].gmail_id},
        labels=shown,
        images=images,
        inline={m.gmail_id: html_mail.inline_numbers(m.body_html, m.attachments) for m in messages if m.body_html},
        remote={m.gmail_id for m in messages if m.body_html and html_mail.has_remote_images(m.body_html)},
    )


@router.get("/inbox/{gmail_id}/html")
def html_body(pool: Pool, who: SignedIn, gmail_id: str, images: bool = False) -> Response:
    """A message's HTML as sent (sanitized at sync time), for the sandboxed frame of its page:
    its policy runs no script and, until the reader asks (`images`), loads nothing from elsewhere."""
    _, row = _owned_message(pool, who, gmail_id)
    if row is None or not row.body_html:
        return Response("No such message.", 404, media_type="text/plain")
    shown = html_mail.with_inline_images(row.body_html, f"/inbox/{gmail_id}/attachments/", row.attachments)
    document = f'<!doctype html><meta charset="utf-8">{shown}'
    headers = {"Content-Security-Policy": html_mail.frame_policy(images), "X-Frame-Options": "SAMEORIGIN"}
    return Response(document, media_type="text/html", headers=headers)


@router.get("/inbox/{gmail_id}/attachments/{number}")
def attachment(
    request: Request,
    settings: SettingsDep,
    pool: Pool,
    who: SignedIn,
    gmail_id: str,
    number: Annotated[int, Path(ge=0, le=MAX_ATTACHMENTS)],
) -> Response:
    """One attachment of the owner's message, fetched from Gmail now with the account's token
    (Jessie stores no attachment), counted by the quota meter, sent as a download."""
    account, row = _owned_message(pool, who, gmail_id)
    if account is None or row is None or number >= len(row.attachments):  # another's looks missing too
        return page(request, "message.html", 404, title="No such attachment", detail="It may have been deleted.")
    try:
        data = _attachment_bytes(settings, pool, account, gmail_id, number)
    except NotDownloaded as refused:
        return page(request, "message.html", refused.status, title=refused.title, detail=refused.detail)
    described = row.attachments[number]
    name = str(described.get("filename") or f"attachment-{number + 1}")
    return StreamingResponse(
        (data[start : start + CHUNK_BYTES] for start in range(0, len(data), CHUNK_BYTES)),
        media_type=_download_type(str(described.get("mime_type") or "")),
        headers={"Content-Disposition": _disposition(name), "Content-Length": str(len(data))},
    )


class NotDownloaded(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


def _attachment_bytes(
    settings: Settings, pool: Database, account: accounts.Account, gmail_id: str, number: int
) -> bytes:
    """The attachment from Gmail; NotDownloaded says why not, in words. A grant Google refused
    parks the account as a sync would, so the inbox offers to reconnect it."""
    from googleapiclient.errors import HttpError  # Google's client loads only where Gmail is called

    from app.deadline import Deadline
    from app.gmail.client import GmailSession
    from app.gmail.errors import GrantRevoked
    from app.security import TokenCipher

    token = TokenCipher.from_settings(settings).decrypt(account.refresh_token_encrypted)
    session = GmailSession(settings, token, Deadline(settings.manual_sync_budget_s))
    try:
        with session:
            return session.attachment(gmail_id, number)
    except GrantRevoked:
        with pool.connection() as conn:
            accounts.set_status(conn, account.email, AccountStatus.NEEDS_REAUTH)
        detail = "Google no longer lets Jessie read this mailbox: reconnect Gmail from the inbox."
        raise NotDownloaded(409, "Reconnect Gmail", detail) from None
    except (IndexError, HttpError) as error:
        if isinstance(error, HttpError) and error.status_code != 404:
            raise _failed(account, error) from None
        raise NotDownloaded(404, "No such attachment", "Gmail no longer has it.") from None
    except Exception as error:  # Gmail's trouble or a spent minute: the page says so, the log says what
        raise _failed(account, error) from None
    finally:
        meter = session.meter
        log_event("attachment.fetched", account=account.email, quota_units=meter.units, requests=meter.requests)


def _failed(account: accounts.Account, error: Exception) -> NotDownloaded:
    log_event("attachment.failed", logging.WARNING, account=account.email, error=type(error).__name__)
    return NotDownloaded(502, "Not downloaded", "Gmail did not send the attachment just now; try again in a moment.")


def _download_type(mime_type: str) -> str:
    """The attachment's type, unless it is one a browser would run or render as a page."""
    if SAFE_TYPE.fullmatch(mime_type) and mime_type not in ACTIVE_TYPES:
        return mime_type
    return "application/octet-stream"


def _disposition(name: str) -> str:
    """Always a download; the name as sent (RFC 6266 filename*), and a plain ASCII fallback."""
    plain = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.post("/inbox/sync")
def sync_now(request: Request, settings: SettingsDep, pool: Pool, who: SignedIn, _form: SameSiteForm) -> Any:
    """Sync this account only, at most once a minute (JESSIE_MANUAL_SYNC_INTERVAL_SECONDS)."""
    account = _account(pool, who)
    if account is None:
        return RedirectResponse("/", 303)
    result = triggers.sync_now(settings, pool, account.id)
    if result.outcome is SyncNow.DONE:
        return RedirectResponse(f"/inbox?synced={result.added}&changed={result.changed}", 303)
    if result.outcome is SyncNow.TOO_SOON:
        when = f"{result.wait_s} second{'' if result.wait_s == 1 else 's'}"
        notice = Notice(f"A sync ran a moment ago: Sync now can run again in {when}.", problem=True)
        return _inbox(request, settings, pool, account, notice=notice, status=429)
    if result.outcome is SyncNow.BUSY:
        notice = Notice("Another sync of your account is running; its mail will appear shortly.", problem=True)
        return _inbox(request, settings, pool, account, notice=notice, status=409)
    text = f"The sync did not start ({result.reason}); the hourly sync will try again."
    return _inbox(request, settings, pool, account, notice=Notice(text, problem=True), status=503)


@router.get("/runs")
def runs_dashboard(
    request: Request, settings: SettingsDep, pool: Pool, _admin: Admin, span: run_charts.Span = "day"
) -> Any:
    """Sweeps and runs, charts per hour of the last day (or `span=week`) and incidents; viewing
    it also checks that the cron has run lately."""
    now = datetime.now(UTC)
    slots = run_charts.hours(span, now)
    with pool.connection() as conn:
        texts = alerts.check_incidents(conn, settings)
        entries = runs_data.recent_entries(conn, 50)
        hourly = runs_data.hourly(conn, slots[0], slots[-1] + timedelta(hours=1))
        recent_incidents = incidents.recent(conn, RECENT_INCIDENTS)
        quota_today = daily_quota.today(conn, settings.daily_units_budget)
    alerts.send(settings, texts)
    charts = run_charts.charts(hourly, span, now, settings.gmail_project_units_per_minute)
    return page(
        request,
        "runs.html",
        entries=entries,
        span=span,
        charts=[Markup(chart) for chart in charts],  # noqa: S704 -- escaped SVG
        incidents=recent_incidents,
        incident_names=alerts.INCIDENT_NAMES,
        quota_today=quota_today,
    )


@router.get("/runs/sweeps/{sweep_id}")
def sweep_detail(
    request: Request, pool: Pool, sweep_id: Annotated[RowId, Path(ge=1, le=MAX_ROW_ID)], _admin: Admin
) -> Any:
    """One sweep's invocations: a row each, linking to its accounts."""
    with pool.connection() as conn:
        invocations = runs_data.sweep_runs(conn, sweep_id)
    if not invocations:
        return page(request, "message.html", 404, title="Not found", detail=f"There is no sweep {sweep_id}.")
    return page(request, "sweep.html", sweep_id=sweep_id, invocations=invocations)


@router.get("/runs/{run_id}")
def run_detail(request: Request, pool: Pool, run_id: Annotated[RowId, Path(ge=1, le=MAX_ROW_ID)], _admin: Admin) -> Any:
    """One run's accounts: which mailbox failed, and why."""
    with pool.connection() as conn:
        run = runs_data.find_run(conn, run_id)
        results = runs_data.run_accounts(conn, run_id) if run else []
    if run is None:
        return page(request, "message.html", 404, title="Not found", detail=f"There is no run {run_id}.")
    return page(request, "run.html", run=run, results=results)
