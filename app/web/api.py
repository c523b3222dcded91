"""JSON routes: the cron endpoint Vercel calls, health, and the runs the dashboard draws."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.config import CRON_PATH, MissingSetting
from app.data import runs as runs_data
from app.db.migrate import pending
from app.sync import triggers
from app.sync.triggers import CronAnswer
from app.web.context import Admin, CronCaller, LazyPool, Pool, SettingsDep

router = APIRouter()
HEALTH_DB_TIMEOUT_S = 5.0


@router.get(CRON_PATH, dependencies=[CronCaller], response_model=CronAnswer)
def cron_email_sync(settings: SettingsDep, pool: LazyPool) -> JSONResponse:
    """Vercel Cron: GET with `Authorization: Bearer $CRON_SECRET`, no retries, no redirects.
    The slot's sweep, begun or joined, worked in this invocation (app/sync/triggers.py)."""
    status, answer = triggers.cron(settings, pool)
    return JSONResponse(answer.json_body(), status)


class Health(BaseModel):
    status: Literal["ok", "degraded", "error"]
    environment: str
    commit: str
    database: str | None = None
    migrations: str | dict[str, list[str]] | None = None


@router.get("/api/health", response_model=Health, response_model_exclude_none=True)
def health(settings: SettingsDep, pool: LazyPool, response: Response) -> Health:
    body = Health(status="ok", environment=settings.vercel_env, commit=settings.commit_sha)
    try:
        with pool().connection(timeout=HEALTH_DB_TIMEOUT_S) as conn:
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


class Runs(BaseModel):
    runs: list[runs_data.RunRow]  # pydantic validates and serializes the data layer's dataclass


@router.get("/api/runs", response_model=Runs)
def runs_json(pool: Pool, _admin: Admin, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> Runs:
    with pool.connection() as conn:
        return Runs(runs=runs_data.recent_runs(conn, limit))
