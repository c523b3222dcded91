"""JSON routes: the cron endpoint Vercel calls, health, and the runs the dashboard draws."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.config import MissingSetting
from app.data import runs as runs_data
from app.db.migrate import pending
from app.logs import log_event
from app.statuses import RunStatus
from app.web.context import Visitor, admin, cron_caller, database, settings_of

router = APIRouter()
HEALTH_DB_TIMEOUT_S = 5.0


@router.get("/api/cron/email-sync", dependencies=[Depends(cron_caller)])
def cron_email_sync(request: Request) -> JSONResponse:
    """Vercel Cron: GET with `Authorization: Bearer $CRON_SECRET`, no retries, no redirects.

    Begins the slot's sweep (or joins it, when Vercel delivers the cron twice), publishes the
    further invocations a large sweep needs to Vercel Queues (app/sync/fanout.py), and works
    the sweep itself as one of them.
    """
    settings = settings_of(request)
    from app.sync import fanout, sweep  # the sync stack loads only where a sync runs (cold starts)

    try:
        with database(request).connection() as conn:
            current = sweep.begin(conn, sweep.slot_of(datetime.now(UTC), settings.cron_interval_minutes), settings)
    except Exception as error:  # no run could even be recorded (database down, …)
        log_event("sync.run.not_started", logging.ERROR, trigger="cron", error=type(error).__name__)
        return JSONResponse({"message": "Email sync failed", "error": type(error).__name__}, 500)
    if current.invocations_planned > 1:  # every delivery publishes: the queue keeps one of each seat
        held = fanout.publish(settings, current.id, current.slot, current.invocations_planned - 1)
        try:
            if held:
                with database(request).connection() as conn:
                    sweep.record_started(conn, current.id, 1 + held)
        except Exception as error:  # bookkeeping only: the sweep goes on with this invocation
            log_event("sweep.record_failed", logging.ERROR, sweep_id=current.id, error=type(error).__name__)
    return _sync_response(request, "cron", current.id, {"begun": current.begun, "due": current.due_accounts})


def _sync_response(request: Request, trigger: str, sweep_id: int, about: dict[str, object]) -> JSONResponse:
    """Run a sync of the sweep in this invocation and answer with its summary."""
    settings = settings_of(request)
    from app.deadline import invocation_budget_s
    from app.sync.runner import run_sync
    from app.sync.runs import NoSeat

    try:
        budget_s = invocation_budget_s(settings)
        summary = run_sync(trigger, budget_s, settings=settings, pool=database(request), sweep_id=sweep_id)
    except NoSeat as full:  # the connection budget is spent: this invocation adds nothing
        log_event("sync.run.no_seat", logging.WARNING, trigger=trigger, sweep_id=sweep_id)
        return JSONResponse({"message": "No seat for another sync run", "error": str(full)}, 503)
    except MissingSetting as error:  # e.g. JESSIE_ENCRYPTION_KEY: named, never its value
        log_event("sync.run.not_started", logging.ERROR, trigger=trigger, error=str(error))
        return JSONResponse({"message": "Email sync failed", "error": str(error)}, 500)
    except Exception as error:  # no run could even be recorded (database down, …)
        log_event("sync.run.not_started", logging.ERROR, trigger=trigger, error=type(error).__name__)
        return JSONResponse({"message": "Email sync failed", "error": type(error).__name__}, 500)
    extra = {
        "accounts_incomplete": summary.accounts_incomplete,
        "accounts_busy": summary.accounts_busy,
        "accounts_held": summary.accounts_held,
    }
    body = {"run": summary.contract() | extra | {"error": summary.error}, "sweep": {"id": sweep_id, **about}}
    if summary.status == RunStatus.FAILED:
        return JSONResponse({"message": "Email sync failed", **body}, 500)
    return JSONResponse({"message": "Email sync completed", **body}, 200)


class Health(BaseModel):
    status: Literal["ok", "degraded", "error"]
    environment: str
    commit: str
    database: str | None = None
    migrations: str | dict[str, list[str]] | None = None


@router.get("/api/health", response_model=Health, response_model_exclude_none=True)
def health(request: Request, response: Response) -> Health:
    settings = settings_of(request)
    body = Health(status="ok", environment=settings.vercel_env, commit=settings.commit_sha)
    try:
        with database(request).connection(timeout=HEALTH_DB_TIMEOUT_S) as conn:
            conn.execute("select 1")
            waiting = pending(conn)
        body.database = "reachable"
        body.migrations = "current" if not waiting else {"pending": waiting}
        if waiting:
            body.status = "degraded"
    except MissingSetting as error:
        body.status, body.database = "error", str(error)
    except Exception as error:  # report, do not raise: health must answer
        body.status, body.database = "error", f"unreachable ({type(error).__name__})"
    response.status_code = 200 if body.status == "ok" else 503
    return body


class Run(BaseModel):
    id: int
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    accounts_ok: int
    accounts_failed: int
    accounts_incomplete: int
    accounts_busy: int
    accounts_held: int  # first syncs left for a later run: the day's Gmail quota share was spent
    messages_added: int
    messages_updated: int
    messages_deleted: int
    quota_units: int
    requests: int
    http_requests: int
    retries: int
    duration_ms: int | None
    error: str | None
    sweep_id: int | None  # the sweep (cron slot) this run was one invocation of


class Runs(BaseModel):
    runs: list[Run]


@router.get("/api/runs", response_model=Runs)
def runs_json(
    request: Request,
    _admin: Annotated[Visitor, Depends(admin)],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Runs:
    with database(request).connection() as conn:
        return Runs(runs=[Run(**run) for run in runs_data.recent_runs(conn, limit)])
