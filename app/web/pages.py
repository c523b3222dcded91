"""HTML pages: home, the signed-in user's inbox, "Sync now", and the operations dashboard."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from markupsafe import Markup
from psycopg.rows import dict_row

from app import accounts
from app.sync import store
from app.sync.runner import run_sync
from app.web.charts import bar_chart
from app.web.context import page, pool_of, settings_of, signed_in_email

router = APIRouter()
PAGE_SIZE = 50
MANUAL_SYNC_BUDGET_S = 50.0


@router.get("/")
def home(request: Request) -> Any:
    return page(request, "home.html")


def _inbox_account(request: Request) -> dict[str, Any] | None:
    email = signed_in_email(request)
    if email is None:
        return None
    with pool_of(request).connection() as conn:
        return accounts.find_account(conn, email)


@router.get("/inbox")
def inbox(request: Request, q: str = "", page_number: int = 1) -> Any:
    account = _inbox_account(request)
    if account is None:
        return RedirectResponse("/", 303)
    page_number = max(1, page_number)
    pattern = f"%{q.strip()}%"
    with pool_of(request).connection() as conn:
        rows = (
            conn.cursor(row_factory=dict_row)
            .execute(
                """select gmail_id, internal_date, sender, subject, snippet, label_ids from jessie.messages
                   where account_id = %(id)s and deleted_at is null
                     and (%(q)s = '' or sender ilike %(pattern)s or subject ilike %(pattern)s)
                   order by internal_date desc nulls last, gmail_id desc
                   limit %(limit)s offset %(offset)s""",
                {
                    "id": account["id"],
                    "q": q.strip(),
                    "pattern": pattern,
                    "limit": PAGE_SIZE + 1,
                    "offset": (page_number - 1) * PAGE_SIZE,
                },
            )
            .fetchall()
        )
    return page(
        request,
        "inbox.html",
        account=account,
        messages=rows[:PAGE_SIZE],
        q=q,
        page_number=page_number,
        has_next=len(rows) > PAGE_SIZE,
    )


@router.get("/inbox/{gmail_id}")
def message(request: Request, gmail_id: str) -> Any:
    account = _inbox_account(request)
    if account is None:
        return RedirectResponse("/", 303)
    with pool_of(request).connection() as conn:
        row = (
            conn.cursor(row_factory=dict_row)
            .execute(
                """select * from jessie.messages where account_id = %s and gmail_id = %s and deleted_at is null""",
                [account["id"], gmail_id],
            )
            .fetchone()
        )
    if row is None:  # someone else's message looks exactly like a missing one
        return page(request, "message.html", 404, title="No such message", detail="It may have been deleted.")
    return page(request, "mail.html", mail=row)


@router.post("/inbox/sync")
def sync_now(request: Request) -> Any:
    """Sync this account only, at most once a minute (JESSIE_MANUAL_SYNC_INTERVAL_SECONDS)."""
    settings = settings_of(request)
    account = _inbox_account(request)
    if account is None:
        return RedirectResponse("/", 303)
    with pool_of(request).connection() as conn:
        wait = conn.execute(
            """select ceil(extract(epoch from last_sync_started_at + make_interval(secs => %s) - now()))
               from jessie.accounts where id = %s""",
            [settings.manual_sync_interval_s, account["id"]],
        ).fetchone()
    if wait and wait[0] is not None and wait[0] > 0:
        detail = f"A sync ran a moment ago. Try again in {int(wait[0])} seconds."
        return page(request, "message.html", 429, title="Not so fast", detail=detail)
    summary = run_sync(
        "manual", MANUAL_SYNC_BUDGET_S, settings=settings, pool=pool_of(request), account_ids=[account["id"]]
    )
    if summary.accounts_ok + summary.accounts_failed + summary.accounts_incomplete == 0:
        detail = "Another sync of your account is running; its mail will appear shortly."
        return page(request, "message.html", 409, title="Already syncing", detail=detail)
    return RedirectResponse("/inbox", 303)


@router.get("/runs")
def runs_dashboard(request: Request) -> Any:
    settings = settings_of(request)
    email = signed_in_email(request)
    if email is None:
        return page(request, "message.html", 401, title="Sign in first", detail="Connect Gmail to sign in.")
    if email not in settings.admins:
        return page(request, "message.html", 403, title="Not for you", detail="The dashboard is for ADMIN_EMAILS.")
    with pool_of(request).connection() as conn:
        runs = store.recent_runs(conn, 50)
    oldest_first = list(reversed(runs))

    def series(key: str, scale: float = 1) -> list[tuple[str, float]]:
        return [(f"run {run['id']}", round((run[key] or 0) / scale, 2)) for run in oldest_first]

    charts = [
        Markup(bar_chart("Emails synced per run", series("messages_added"))),  # noqa: S704 -- escaped SVG
        Markup(bar_chart("Duration per run", series("duration_ms", 1000), " s")),  # noqa: S704
        Markup(bar_chart("Gmail quota units per run", series("quota_units"))),  # noqa: S704
    ]
    return page(request, "runs.html", runs=runs, charts=charts)
