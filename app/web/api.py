"""JSON routes: the cron endpoint Vercel calls, health, and the runs the dashboard draws."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.config import MissingSetting
from app.db.migrate import pending
from app.logs import log_event
from app.security import bearer_matches
from app.sync import store
from app.sync.runner import run_sync
from app.web.context import pool_of, settings_of, signed_in_email

router = APIRouter()
HEALTH_DB_TIMEOUT_S = 5.0


def _json_safe(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in row.items()}


@router.get("/api/cron/email-sync")
def cron_email_sync(request: Request) -> JSONResponse:
    """Vercel Cron: GET with `Authorization: Bearer $CRON_SECRET`, no retries, no redirects."""
    settings = settings_of(request)
    try:
        secret = settings.require("cron_secret")
    except MissingSetting as error:  # never an open endpoint
        return JSONResponse({"error": str(error)}, 500)
    if not bearer_matches(request.headers.get("authorization"), secret):
        return JSONResponse({"error": "unauthorized"}, 401, headers={"WWW-Authenticate": "Bearer"})
    try:
        summary = run_sync("cron", settings.cron_budget_s, settings=settings, pool=pool_of(request))
    except Exception as error:  # no run could even be recorded (database down, …)
        log_event("sync.run.not_started", logging.ERROR, trigger="cron", error=type(error).__name__)
        return JSONResponse({"message": "Email sync failed", "error": type(error).__name__}, 500)
    body = {"run": summary.contract() | {"accounts_incomplete": summary.accounts_incomplete, "error": summary.error}}
    if summary.status == "failed":
        return JSONResponse({"message": "Email sync failed", **body}, 500)
    return JSONResponse({"message": "Email sync completed", **body}, 200)


@router.get("/api/health")
def health(request: Request) -> JSONResponse:
    settings = settings_of(request)
    body: dict[str, Any] = {"status": "ok", "environment": settings.vercel_env, "commit": settings.commit_sha}
    try:
        with pool_of(request).connection(timeout=HEALTH_DB_TIMEOUT_S) as conn:
            conn.execute("select 1")
            waiting = pending(conn)
        body["database"] = "reachable"
        body["migrations"] = "current" if not waiting else {"pending": waiting}
        if waiting:
            body["status"] = "degraded"
    except MissingSetting as error:
        body |= {"status": "error", "database": str(error)}
    except Exception as error:  # report, do not raise: health must answer
        body |= {"status": "error", "database": f"unreachable ({type(error).__name__})"}
    return JSONResponse(body, 200 if body["status"] == "ok" else 503)


@router.get("/api/runs")
def runs_json(request: Request, limit: int = 50) -> JSONResponse:
    email = signed_in_email(request)
    if email is None:
        return JSONResponse({"error": "sign in first"}, 401)
    if email not in settings_of(request).admins:
        return JSONResponse({"error": "the dashboard is for ADMIN_EMAILS only"}, 403)
    with pool_of(request).connection() as conn:
        runs = store.recent_runs(conn, max(1, min(limit, 500)))
    return JSONResponse({"runs": [_json_safe(run) for run in runs]})
