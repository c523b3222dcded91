"""What the routes need, as FastAPI dependencies: settings, the database, who is signed in
(a server-side session), the admin check and the CSRF check; and the page renderer.

Sign-in and admin checks exist only here: a route that needs a user declares
`Depends(signed_in)` or `Depends(admin)`, and the refusals are exceptions that
`main.py` turns into the right answer (a redirect or page for HTML, JSON for /api/).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request, Response
from pydantic import BeforeValidator
from starlette.background import BackgroundTask

from app.config import MissingSetting, Settings
from app.data import sessions
from app.db.connection import Database, DatabaseUnavailable, open_pool
from app.incidents import BodyTooLarge
from app.security import SESSION_COOKIE, bearer_matches, unsign

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates


def when(moment: datetime | None, seconds: bool = False) -> str:
    """Every time on every page the same way: in UTC, and saying so."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


@cache
def templates() -> Jinja2Templates:
    """Jinja loads with the first page: the cron, health, drain and worker endpoints never need it."""
    from fastapi.templating import Jinja2Templates

    loaded = Jinja2Templates(directory=Path(__file__).parent / "templates")
    loaded.env.filters["when"] = when
    return loaded


_lock = threading.Lock()
SAFE_FETCH_SITES = {"same-origin", "none"}  # a form of ours, or the user typing the address


class SignInRequired(Exception):
    """The route needs a signed-in user."""


class AdminOnly(Exception):
    """The route is for ADMIN_EMAILS."""


class CrossSiteRefused(Exception):
    """A state-changing request that did not come from one of our own pages."""


class CronRefused(Exception):
    """A call to the cron or worker endpoint without the cron secret (401), or with no secret
    configured to check it against (500, naming it): refused before anything else is read."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status


def after_the_answer(work: Callable[..., None], *args: object) -> BackgroundTask | None:
    """Work for once the answer is sent. Where Vercel's runtime tracks the invocation's
    post-response work, it is handed to `wait_until` (vercel.functions), which keeps the
    invocation alive for it within maxDuration; elsewhere it is the answer's background task.
    (`wait_until` outside an invocation drops the work silently, so the context is asked first.)"""
    from vercel.cache.context import get_context

    if get_context().wait_until is None:
        return BackgroundTask(work, *args)
    from vercel.functions import wait_until

    wait_until(asyncio.to_thread(work, *args))
    return None


async def read_limited(request: Request, limit: int) -> bytes:
    """A request's body, refused (BodyTooLarge) as soon as it is known to pass `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"the request body is over {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(f"the request body is over {limit} bytes")
    return bytes(body)


def cron_caller(request: Request) -> None:
    """Vercel Cron: `Authorization: Bearer $CRON_SECRET`."""
    try:
        secret = settings_of(request).require("cron_secret")
    except MissingSetting as error:
        raise CronRefused(500, str(error)) from None
    if not bearer_matches(request.headers.get("authorization"), secret):
        raise CronRefused(401, "unauthorized")


def _ascii_id(value: object) -> object:
    """Ids in paths and queries are ASCII digits only: int() would read '１', '+1', ' 1' or '1_0'."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("must be a number")
    return value


RowId = Annotated[int, BeforeValidator(_ascii_id)]  # with Path/Query(ge=1, le=MAX_ROW_ID) at the route
MAX_ROW_ID = 2**63 - 1  # Postgres bigint


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def database(request: Request) -> Database:
    """One small pool per process, opened on first use (a cold start that serves only
    static pages does not need to wait for it)."""
    state = request.app.state
    with _lock:
        if state.pool is None:
            settings = settings_of(request)
            state.pool = open_pool(settings, size=settings.sync_pool_size)
    pool: Database = state.pool
    return pool


@dataclass(frozen=True)
class Visitor:
    email: str | None = None
    session_id: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.email is not None


def session_cookie(request: Request) -> str | None:
    """The session id this browser's cookie holds, if the cookie is ours (live or not)."""
    payload = unsign(settings_of(request), "session", request.cookies.get(SESSION_COOKIE), sessions.ABSOLUTE_S)
    return payload.get("sid") if payload else None


def visitor(request: Request) -> Visitor:
    """Who sent the request, from the session cookie and the sessions table (once a request)."""
    cached: Visitor | None = getattr(request.state, "visitor", None)
    if cached is not None:
        return cached
    found = Visitor()
    session_id = session_cookie(request)
    if session_id:
        with database(request).connection() as conn:
            email = sessions.user_of(conn, session_id)
        found = Visitor(email, session_id) if email else Visitor()
    request.state.visitor = found
    return found


def signed_in(who: Annotated[Visitor, Depends(visitor)]) -> Visitor:
    if not who.signed_in:
        raise SignInRequired
    return who


def admin(request: Request, who: Annotated[Visitor, Depends(signed_in)]) -> Visitor:
    if who.email not in settings_of(request).admins:
        raise AdminOnly
    return who


def csrf_token(settings: Settings, session_id: str) -> str:
    """Tied to the session: a page of ours carries it, another site cannot know it."""
    key = settings.require("session_secret").encode()
    return hmac.new(key, f"csrf:{session_id}".encode(), hashlib.sha256).hexdigest()[:40]


async def same_site_form(request: Request, who: Annotated[Visitor, Depends(visitor)]) -> Visitor:
    """A state-changing form post: from our own origin (Sec-Fetch-Site, which browsers set and
    pages cannot) and carrying the session's CSRF token; anything else changes nothing."""
    if request.headers.get("sec-fetch-site", "same-origin") not in SAFE_FETCH_SITES:
        raise CrossSiteRefused
    if who.session_id is not None:
        presented = str((await request.form()).get("csrf", ""))
        if not hmac.compare_digest(presented, csrf_token(settings_of(request), who.session_id)):
            raise CrossSiteRefused
    return who


def _visitor_for_page(request: Request) -> Visitor:
    """Who to show in the header; a page about a database outage must still render."""
    try:
        return visitor(request)
    except DatabaseUnavailable:
        return Visitor()


def page(request: Request, name: str, status_code: int = 200, **values: Any) -> Response:
    settings = settings_of(request)
    who = Visitor() if values.pop("signed_out", False) else _visitor_for_page(request)
    context = {
        "environment": settings.vercel_env,
        "commit": settings.commit_sha,
        "is_admin": bool(who.email and who.email in settings.admins),
        "email": who.email,
        "csrf": csrf_token(settings, who.session_id) if who.session_id else "",
        **values,
    }
    response: Response = templates().TemplateResponse(request, name, context, status_code=status_code)
    return response


def cookie_options(settings: Settings) -> dict[str, Any]:
    """HttpOnly and SameSite=Lax always; Secure everywhere but local development (plain http)."""
    return {"httponly": True, "samesite": "lax", "secure": not settings.is_development, "path": "/"}
