"""Every status and mode, one type each, shared by the code and the database's CHECK
constraints (a test compares the two, so neither can drift alone)."""

from __future__ import annotations

from enum import StrEnum


class AccountStatus(StrEnum):
    ACTIVE = "active"
    NEEDS_REAUTH = "needs_reauth"  # Google refused its grant: parked until its user reconnects
    DISABLED = "disabled"


class SyncState(StrEnum):
    NEW = "new"
    FULL = "full"  # a full listing is under way (resumable)
    INCREMENTAL = "incremental"  # history from a checkpoint


class SyncMode(StrEnum):
    FULL = "full"
    RESYNC = "resync"  # a full listing that also marks what is gone
    INCREMENTAL = "incremental"


class RunStatus(StrEnum):
    RUNNING = "running"
    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"
    ABANDONED = "abandoned"  # its process died; what it stored is recorded


class AccountOutcome(StrEnum):
    RUNNING = "running"
    OK = "ok"
    INCOMPLETE = "incomplete"  # the budget ended first; the next run resumes
    FAILED = "failed"
    NEEDS_REAUTH = "needs_reauth"
    INTERRUPTED = "interrupted"  # its run died


class IncidentKind(StrEnum):
    TIMEOUT = "timeout"  # Vercel killed the function at maxDuration
    CRASH = "crash"  # the runtime died mid-request (Vercel logs statusCode -1)
    CRON_ERROR = "cron_error"  # an error line of the cron endpoint the app did not alert itself
    RUN_FAILED = "run_failed"  # the app's own `sync.run` line says failed
    CRON_MISSED = "cron_missed"  # no successful cron run for longer than the schedule allows
    QUEUE_GAVE_UP = "queue_gave_up"  # a sweep seat failed its every delivery from Vercel Queues


CHECKED = {  # table.column → the type its CHECK constraint must allow exactly
    "accounts.status": AccountStatus,
    "accounts.sync_state": SyncState,
    "sync_runs.status": RunStatus,
    "sync_run_accounts.status": AccountOutcome,
    "sync_run_accounts.mode": SyncMode,
    "incidents.kind": IncidentKind,
}
