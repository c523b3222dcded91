"""What every route needs: settings, the database pool, templates, the signed-in user."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.templating import Jinja2Templates
from psycopg_pool import ConnectionPool

from app.config import Settings
from app.db.connection import open_pool
from app.security import SESSION_COOKIE, SESSION_MAX_AGE_S, unsign

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
_lock = threading.Lock()


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def pool_of(request: Request) -> ConnectionPool:
    """One small pool per process, opened on first use (a cold start that serves only
    /api/health does not need to wait for it)."""
    state = request.app.state
    with _lock:
        if state.pool is None:
            settings = settings_of(request)
            state.pool = open_pool(settings, size=settings.sync_concurrency + 2)
    pool: ConnectionPool = state.pool
    return pool


def signed_in_email(request: Request) -> str | None:
    payload = unsign(settings_of(request), "session", request.cookies.get(SESSION_COOKIE), SESSION_MAX_AGE_S)
    return payload.get("email") if payload else None


def page(request: Request, name: str, status_code: int = 200, **values: Any) -> Response:
    settings = settings_of(request)
    email = values["email"] if "email" in values else signed_in_email(request)
    context = {
        "environment": settings.vercel_env,
        "commit": settings.commit_sha,
        "is_admin": bool(email and email in settings.admins),
        **values,
        "email": email,
    }
    response: Response = templates.TemplateResponse(request, name, context, status_code=status_code)
    return response


def cookie_options(settings: Settings) -> dict[str, Any]:
    """HttpOnly and SameSite=Lax always; Secure everywhere but local development (plain http)."""
    return {"httponly": True, "samesite": "lax", "secure": not settings.is_development, "path": "/"}
