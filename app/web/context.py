"""What the routes need, as FastAPI dependencies: settings, the database, who is signed in
(a server-side session), the admin check, the cron caller and the CSRF check; and the page
renderer.

Routes declare what they need with the `Annotated` aliases below (`SettingsDep`, `Pool`,
`SignedIn`, `Admin`, `CronCaller`, `SameSiteForm`); the refusals are exceptions that `main.py`
turns into the right answer (a redirect or page for HTML, JSON for /api/). The settings come
through one dependency, `settings_of`, which tests override (`app.dependency_overrides`); the
app binds what it resolved to the request, so the page renderer and error pages see the same.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from markupsafe import Markup
from pydantic import BeforeValidator
from starlette.background import BackgroundTask

from app.config import MissingSetting, Settings
from app.data import sessions
from app.db.connection import Database, DatabaseUnavailable, open_pool
from app.incidents import BodyTooLarge
from app.security import SESSION_COOKIE, bearer_matches, unsign

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates


def when(moment: datetime | None, seconds: bool = False) -> Markup:
    """Every time on every page the same way: a <time> the page's script shows in the reader's
    zone (as mail apps do, or exact with `seconds`), the exact time on hover; without the
    script, the UTC time, saying so."""
    if moment is None:
        return Markup("")
    utc = moment.astimezone(UTC)
    shown = utc.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")
    style = "exact" if seconds else "mail"
    return Markup('<time datetime="{}" data-style="{}">{}</time>').format(utc.isoformat(), style, shown)


def person(header: str | None) -> str:
    """Who a From header names, as people say it: the display name, else the address."""
    name, mail = parseaddr(header or "")
    return name.strip() or mail or (header or "")


def address(header: str | None) -> str:
    """The address alone of a From header (shown on hover)."""
    return parseaddr(header or "")[1] or (header or "")


@cache
def templates() -> Jinja2Templates:
    """Jinja loads with the first page: the cron, health, drain and worker endpoints never need it."""
    from fastapi.templating import Jinja2Templates

    loaded = Jinja2Templates(directory=Path(__file__).parent / "templates")
    loaded.env.filters["when"] = when
    loaded.env.filters["person"] = person
    loaded.env.filters["address"] = address
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


def _ascii_id(value: object) -> object:
    """Ids in paths and queries are ASCII digits only: int() would read '１', '+1', ' 1' or '1_0'."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("must be a number")
    return value


RowId = Annotated[int, BeforeValidator(_ascii_id)]  # with Path/Query(ge=1, le=MAX_ROW_ID) at the route
MAX_ROW_ID = 2**63 - 1  # Postgres bigint


def settings_of(request: Request) -> Settings:
    """The app's settings, as every route receives them (`SettingsDep`)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(settings_of)]


def bind_settings(request: Request, settings: SettingsDep) -> None:
    """An app-wide dependency: the settings this request's route resolved, for the page renderer."""
    request.state.settings = settings


def request_settings(request: Request) -> Settings:
    """The settings this request was served with (those its route resolved, an override
    included; the app's own for a request no route took, e.g. a 404)."""
    bound: Settings | None = getattr(request.state, "settings", None)
    return bound or settings_of(request)


def app_pool(app: FastAPI, settings: Settings) -> Database:
    """One pool per process, opened on first use (a cold start that serves only static pages
    does not need to wait for it)."""
    with _lock:
        if app.state.pool is None:
            app.state.pool = open_pool(settings)
    pool: Database = app.state.pool
    return pool


def close_pool(app: FastAPI) -> None:
    """The process's pool closed, if it was opened (a server that stops)."""
    with _lock:
        if app.state.pool is not None:
            app.state.pool.close()
            app.state.pool = None


def database(request: Request, settings: SettingsDep) -> Database:
    """The process's pool, as routes receive it (`Pool`). A sync dependency, so FastAPI opens it
    in its thread pool, never on the event loop."""
    return app_pool(request.app, settings)


Pool = Annotated[Database, Depends(database)]


def lazy_database(request: Request, settings: SettingsDep) -> Callable[[], Database]:
    """The process's pool, opened only when the route calls it (`LazyPool`): after it has checked
    a signature, or where a database that cannot be reached is the route's own to answer."""
    return lambda: app_pool(request.app, settings)


LazyPool = Annotated[Callable[[], Database], Depends(lazy_database)]


def cron_caller(request: Request, settings: SettingsDep) -> None:
    """Vercel Cron: `Authorization: Bearer $CRON_SECRET`."""
    try:
        secret = settings.require("cron_secret")
    except MissingSetting as error:
        raise CronRefused(500, str(error)) from None
    if not bearer_matches(request.headers.get("authorization"), secret):
        raise CronRefused(401, "unauthorized")


CronCaller = Depends(cron_caller)  # a route's `dependencies=[CronCaller]`: refused before anything is read


@dataclass(frozen=True)
class Visitor:
    email: str | None = None
    session_id: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.email is not None


def session_cookie(request: Request, settings: Settings) -> str | None:
    """The session id this browser's cookie holds, if the cookie is ours (live or not)."""
    payload = unsign(settings, "session", request.cookies.get(SESSION_COOKIE), sessions.ABSOLUTE_S)
    return payload.get("sid") if payload else None


def _visitor(request: Request, settings: Settings, pool: Callable[[], Database]) -> Visitor:
    cached: Visitor | None = getattr(request.state, "visitor", None)
    if cached is not None:
        return cached
    found = Visitor()
    session_id = session_cookie(request, settings)
    if session_id:
        with pool().connection() as conn:
            email = sessions.user_of(conn, session_id)
        found = Visitor(email, session_id) if email else Visitor()
    request.state.visitor = found
    return found


def visitor(request: Request, settings: SettingsDep) -> Visitor:
    """Who sent the request, from the session cookie and the sessions table (once a request;
    the pool is opened only when there is a cookie to look up)."""
    return _visitor(request, settings, lambda: app_pool(request.app, settings))


def signed_in(who: Annotated[Visitor, Depends(visitor)]) -> Visitor:
    if not who.signed_in:
        raise SignInRequired
    return who


SignedIn = Annotated[Visitor, Depends(signed_in)]


def admin(settings: SettingsDep, who: SignedIn) -> Visitor:
    if who.email not in settings.admins:
        raise AdminOnly
    return who


Admin = Annotated[Visitor, Depends(admin)]


def csrf_token(settings: Settings, session_id: str) -> str:
    """Tied to the session: a page of ours carries it, another site cannot know it."""
    key = settings.require("session_secret").encode()
    return hmac.new(key, f"csrf:{session_id}".encode(), hashlib.sha256).hexdigest()[:40]


async def same_site_form(request: Request, settings: SettingsDep, who: Annotated[Visitor, Depends(visitor)]) -> Visitor:
    """A state-changing form post: from our own origin (Sec-Fetch-Site, which browsers set and
    pages cannot) and carrying the session's CSRF token; anything else changes nothing."""
    if request.headers.get("sec-fetch-site", "same-origin") not in SAFE_FETCH_SITES:
        raise CrossSiteRefused
    if who.session_id is not None:
        presented = str((await request.form()).get("csrf", ""))
        if not hmac.compare_digest(presented, csrf_token(settings, who.session_id)):
            raise CrossSiteRefused
    return who


SameSiteForm = Annotated[Visitor, Depends(same_site_form)]


def _visitor_for_page(request: Request, settings: Settings) -> Visitor:
    """Who to show in the header; a page about a database outage must still render."""
    try:
        return _visitor(request, settings, lambda: app_pool(request.app, settings))
    except DatabaseUnavailable:
        return Visitor()


def page(request: Request, name: str, status_code: int = 200, **values: Any) -> Response:
    settings = request_settings(request)
    who = Visitor() if values.pop("signed_out", False) else _visitor_for_page(request, settings)
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
