"""Every way a sync run starts, one function each, under one error policy.

- `cron`: Vercel Cron begins (or, delivered twice, joins) its slot's sweep, publishes the further
  seats a large sweep needs to Vercel Queues (app/sync/fanout.py), and works the sweep itself;
- `seat`: a seat the queue delivered: one more invocation of its sweep, if that is still the
  current slot's (app/sync/seat_consumer.py hands it over from the queue SDK);
- `sync_now`: a person's "Sync now": their account only, at most once a minute;
- `after_connect`: connecting Gmail syncs the newest mail before the inbox opens;
- `cli`: `jessie sync`.

The policy: whatever stops a run from starting (no seat within the connection budget, a missing
setting, the database away, a bug) becomes a `NotStarted`, logged once here (`sync.run.no_seat`,
`sync.run.not_started`) in words safe for logs and answers: a setting's name, never its value;
an unforeseen error's type, never its text. A run that started ends in its `RunSummary`, its
failures recorded by the run itself. Each trigger says what that means for its caller; none
raises. The sync stack is imported inside the functions: an entry point that never syncs never
loads it (cold starts).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING

from pydantic import BaseModel

from app.config import MissingSetting, Settings
from app.db.connection import Database, DatabaseUnavailable
from app.logs import log_event
from app.security import WrongEncryptionKey
from app.statuses import RunStatus

if TYPE_CHECKING:
    from app.sync.engine import AccountResult
    from app.sync.fanout import Seat
    from app.sync.runner import RunSummary

# Exceptions whose text is written for people and safe to show (it names, never reveals).
_SAFE_TO_SHOW = (MissingSetting, DatabaseUnavailable, WrongEncryptionKey)


@dataclass(frozen=True)
class NotStarted:
    """A run that could not begin, and why."""

    reason: str
    no_seat: bool = False  # the connection budget's seats are taken: later, or by another invocation


def _attempt[T](trigger: str, work: Callable[[], T], sweep_id: int | None = None) -> T | NotStarted:
    """The one error policy: `work`'s result, or why a run could not start."""
    from app.sync.runs import NoSeat

    try:
        return work()
    except NoSeat as full:
        log_event("sync.run.no_seat", logging.WARNING, trigger=trigger, sweep_id=sweep_id)
        return NotStarted(str(full), no_seat=True)
    except Exception as error:
        reason = str(error) if isinstance(error, _SAFE_TO_SHOW) else type(error).__name__
        log_event("sync.run.not_started", logging.ERROR, trigger=trigger, sweep_id=sweep_id, error=reason)
        return NotStarted(reason)


def _run(
    trigger: str,
    budget_s: float,
    settings: Settings,
    pool: Database | None,
    sweep_id: int | None = None,
    account_ids: list[int] | None = None,
    on_account: Callable[[AccountResult], None] | None = None,
) -> RunSummary | NotStarted:
    from app.sync.runner import run_sync

    def run() -> RunSummary:
        return run_sync(
            trigger,
            budget_s,
            settings=settings,
            pool=pool,
            sweep_id=sweep_id,
            account_ids=account_ids,
            on_account=on_account,
        )

    return _attempt(trigger, run, sweep_id)


# ---- the cron --------------------------------------------------------------------------------


class RunReport(BaseModel):
    """A run as the cron's answer tells it: `jessie sync --json`'s fields, and more."""

    run_id: int
    status: RunStatus
    accounts_ok: int
    accounts_failed: int
    accounts_incomplete: int
    accounts_busy: int
    accounts_held: int
    messages_added: int
    messages_updated: int
    messages_deleted: int
    quota_units: int
    http_requests: int
    duration_ms: int
    error: str | None


class SweepReport(BaseModel):
    id: int
    begun: bool  # this delivery began it (False: a repeated delivery that joined it)
    due: int  # accounts due when it began


class CronAnswer(BaseModel):
    """The cron endpoint's answer, what `ci/cron.py`, the pipeline and the tests read."""

    message: str
    run: RunReport | None = None
    sweep: SweepReport | None = None
    error: str | None = None

    def json_body(self) -> dict[str, object]:
        return self.model_dump(mode="json", exclude_unset=True)


def cron(settings: Settings, pool: Callable[[], Database]) -> tuple[int, CronAnswer]:
    """The slot's sweep, begun or joined, its seats published, worked in this invocation: the
    HTTP status and the answer. `pool` opens the process's pool (a database that cannot be
    reached is then this policy's to answer)."""
    from app.deadline import invocation_budget_s
    from app.sync import fanout, sweep

    def begin() -> tuple[Database, sweep.Sweep]:
        database = pool()
        with database.connection() as conn:
            slot = sweep.slot_of(datetime.now(UTC), settings.cron_interval_minutes)
            return database, sweep.begin(conn, slot, settings)

    begun = _attempt("cron", begin)
    if isinstance(begun, NotStarted):
        return 500, CronAnswer(message="Email sync failed", error=begun.reason)
    database, current = begun
    if current.invocations_planned > 1:  # every delivery publishes: the queue keeps one of each seat
        held = fanout.publish(settings, current.id, current.slot, current.invocations_planned - 1)
        try:
            if held:
                with database.connection() as conn:
                    sweep.record_started(conn, current.id, 1 + held)
        except Exception as error:  # bookkeeping only: the sweep goes on with this invocation
            log_event("sweep.record_failed", logging.ERROR, sweep_id=current.id, error=type(error).__name__)
    outcome = _run("cron", invocation_budget_s(settings), settings, database, sweep_id=current.id)
    if isinstance(outcome, NotStarted):
        if outcome.no_seat:
            return 503, CronAnswer(message="No seat for another sync run", error=outcome.reason)
        return 500, CronAnswer(message="Email sync failed", error=outcome.reason)
    report = RunReport.model_validate(outcome, from_attributes=True)
    about = SweepReport(id=current.id, begun=current.begun, due=current.due_accounts)
    if outcome.status == RunStatus.FAILED:
        return 500, CronAnswer(message="Email sync failed", run=report, sweep=about)
    return 200, CronAnswer(message="Email sync completed", run=report, sweep=about)


# ---- a seat from the queue -------------------------------------------------------------------


def seat(settings: Settings, pool: Database, delivered: Seat) -> RunSummary | NotStarted | None:
    """One more invocation of the seat's sweep; None when the sweep is no longer the current
    slot's (a late seat does nothing)."""
    from app.deadline import invocation_budget_s
    from app.sync import sweep
    from app.sync.fanout import TRIGGER

    def late() -> bool:
        with pool.connection() as conn:
            slot = sweep.slot_of(datetime.now(UTC), settings.cron_interval_minutes)
            return not sweep.current(conn, delivered.sweep_id, slot)

    checked = _attempt(TRIGGER, late, delivered.sweep_id)
    if isinstance(checked, NotStarted):
        return checked
    if checked:
        log_event("sweep.seat_late", sweep_id=delivered.sweep_id, seat=delivered.number)
        return None
    return _run(TRIGGER, invocation_budget_s(settings), settings, pool, sweep_id=delivered.sweep_id)


# ---- a person's "Sync now" and connecting Gmail -----------------------------------------------


class SyncNow(Enum):
    DONE = "done"
    TOO_SOON = "too soon"  # a sync of the account ran less than the interval ago
    BUSY = "busy"  # another run holds the account
    NOT_STARTED = "not started"


@dataclass(frozen=True)
class SyncNowResult:
    outcome: SyncNow
    wait_s: int = 0  # TOO_SOON: seconds until it may run
    reason: str = ""  # NOT_STARTED: why
    added: int = 0  # DONE: new messages stored
    changed: int = 0  # DONE: messages relabelled or deleted


def sync_now(settings: Settings, pool: Database, account_id: int) -> SyncNowResult:
    """The account synced now, at most once per JESSIE_MANUAL_SYNC_INTERVAL_SECONDS."""
    from app.data import mailbox

    def wait_s() -> int:
        with pool.connection() as conn:
            return mailbox.seconds_until_manual_sync(conn, account_id, settings.manual_sync_interval_s)

    wait = _attempt("manual", wait_s)
    if isinstance(wait, NotStarted):
        return SyncNowResult(SyncNow.NOT_STARTED, reason=wait.reason)
    if wait:
        return SyncNowResult(SyncNow.TOO_SOON, wait_s=wait)
    outcome = _run("manual", settings.manual_sync_budget_s, settings, pool, account_ids=[account_id])
    if isinstance(outcome, NotStarted):
        return SyncNowResult(SyncNow.NOT_STARTED, reason=outcome.reason)
    if outcome.accounts_ok + outcome.accounts_failed + outcome.accounts_incomplete == 0:
        return SyncNowResult(SyncNow.BUSY)
    changed = outcome.messages_updated + outcome.messages_deleted
    return SyncNowResult(SyncNow.DONE, added=outcome.messages_added, changed=changed)


def after_connect(settings: Settings, pool: Database, account_id: int) -> None:
    """The newest mail before the inbox opens; whatever goes wrong, the account stays connected
    (a run records its own error, the inbox shows it, the hourly sync tries again)."""
    _run("connect", settings.connect_sync_budget_s, settings, pool, account_ids=[account_id])


# ---- the command line ------------------------------------------------------------------------


def cli(
    settings: Settings, budget_s: float | None, on_account: Callable[[AccountResult], None] | None
) -> RunSummary | NotStarted:
    """`jessie sync`: every due account, within `budget_s` (else the configured budget)."""
    return _run("cli", budget_s or settings.run_budget_s, settings, None, on_account=on_account)
