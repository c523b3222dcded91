"""One sync run: record it, claim due accounts under a lease, sync them concurrently, report.

Overlapping runs (Vercel may deliver a cron twice; a person may press "Sync now") split
the accounts between them and never sync one account twice at once; a run reports the due
accounts another run held when it ended (`accounts_busy`, and the run is then 'partial'). A
run of a sweep waits, while its budget allows, for what others hold: released once synced, or
taken over when a dead run's lease lapses. Once the day's Gmail units pass their share of the
project's daily budget, a run takes only incremental syncs; the first syncs it leaves for a
later run are `accounts_held` (app/sync/daily_quota.py). Leases are
short (JESSIE_LEASE_SECONDS) and a heartbeat renews them while the run lives, so when a
run dies its accounts are free again within that time, and the next run marks it
'abandoned' with what its committed batches stored. A run that loses the database records
its failure, with that cause, as soon as the database answers again (`_record_outcome`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from app import alerts
from app.config import Settings, get_settings
from app.counters import Counters
from app.db.connection import DATABASE_DOWN, Database, open_pool
from app.deadline import Deadline
from app.logs import log_event
from app.security import TokenCipher
from app.statuses import AccountOutcome, RunStatus
from app.sync import daily_quota, runs
from app.sync.engine import AccountResult, AccountSync

# No account is claimed once less than this is left: 5 s, or a tenth of a short budget.
CLAIM_CUTOFF_S = 5.0
CLAIM_CUTOFF_SHARE = 0.1
LEASE_POLL_S = 1.0  # how often a sweep's run looks again at accounts another run holds
RECORD_RETRY_S = 1.0  # how often a run's record is tried again while the database is away


@dataclass(kw_only=True)
class RunSummary(Counters):
    run_id: int
    status: RunStatus
    accounts_ok: int = 0
    accounts_failed: int = 0
    accounts_incomplete: int = 0
    accounts_busy: int = 0
    accounts_held: int = 0  # first syncs left for a later run: the day's quota share was spent
    duration_ms: int = 0
    error: str | None = None

    def contract(self) -> dict[str, object]:
        """The `jessie sync --json` line (ARCHITECTURE.md)."""
        keys = [
            "run_id",
            "status",
            "accounts_ok",
            "accounts_failed",
            "messages_added",
            "messages_updated",
            "messages_deleted",
            "quota_units",
            "http_requests",
            "duration_ms",
        ]
        return {key: getattr(self, key) for key in keys}


def _status(summary: RunSummary) -> RunStatus:
    if summary.error:
        return RunStatus.FAILED
    if summary.accounts_failed and not (summary.accounts_ok or summary.accounts_incomplete):
        return RunStatus.FAILED
    if summary.accounts_failed or summary.accounts_incomplete or summary.accounts_busy:
        return RunStatus.PARTIAL
    return RunStatus.OK


def run_sync(
    trigger: str,
    budget_s: float,
    *,
    settings: Settings | None = None,
    pool: Database | None = None,
    account_ids: list[int] | None = None,
    sweep_id: int | None = None,
    on_started: Callable[[int], None] | None = None,
    on_account: Callable[[AccountResult], None] | None = None,
) -> RunSummary:
    """Sync every due account (or only `account_ids`) within `budget_s` seconds.

    A run of a sweep (`sweep_id`) takes a seat within the connection budget first (NoSeat
    if the connections it adds would pass it: see `_ProcessRuns`). `on_started(run_id)` is
    called once the run is recorded, `on_account(result)` after each account.
    """
    settings = settings or get_settings()
    own_pool = pool is None
    pool = pool or open_pool(settings)
    added = _in_process.enter(pool, settings)  # the connections this run adds
    try:
        return _run(trigger, budget_s, settings, pool, added, account_ids, sweep_id, on_started, on_account)
    finally:
        _in_process.leave(pool, settings)
        if own_pool:
            pool.close()


class _ProcessRuns:
    """The runs alive in this process, per pool. With Fluid compute one instance serves several
    invocations at once, so the sweep's workers can share a process and its pool: the first run
    on a pool adds the pool's connections and its probe; each further one grows the pool by a
    connection per worker, and adds only those (the bookkeeping and heartbeat ones are shared)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[int, int] = {}  # id(pool) → live runs on it

    def enter(self, pool: Database, settings: Settings) -> int:
        """The connections this run adds to the process (the pool grown for it)."""
        with self._lock:
            live = self._runs.get(id(pool), 0)
            self._runs[id(pool)] = live + 1
            if live == 0:
                return settings.connections_per_invocation
            pool.resize(pool.size + settings.sync_concurrency)
            return settings.sync_concurrency

    def leave(self, pool: Database, settings: Settings) -> None:
        with self._lock:
            live = self._runs.pop(id(pool)) - 1
            if live:
                self._runs[id(pool)] = live
                pool.resize(pool.size - settings.sync_concurrency)


_in_process = _ProcessRuns()


def _run(
    trigger: str,
    budget_s: float,
    settings: Settings,
    pool: Database,
    connections: int,
    account_ids: list[int] | None,
    sweep_id: int | None,
    on_started: Callable[[int], None] | None,
    on_account: Callable[[AccountResult], None] | None,
) -> RunSummary:
    started = time.monotonic()
    deadline = Deadline(budget_s)
    cipher = TokenCipher.from_settings(settings)
    seats = (settings.db_connection_budget, settings.lease_s) if sweep_id is not None else None
    _record_kept(pool, settings)
    with pool.connection() as conn:
        abandoned = runs.abandon_stale_runs(conn, settings.lease_s)
    with pool.connection() as conn:
        run_id, run_started_at = runs.create_run(
            conn, trigger, budget_s, sweep_id=sweep_id, connections=connections, seats=seats
        )
        # What is due: not synced since the run began, or, in a sweep, since the sweep began
        # (a repeated cron delivery joins it and does not sync its accounts again).
        due_before = runs.sweep_started_at(conn, sweep_id) if sweep_id is not None else run_started_at
    log_event("sync.run.started", run_id=run_id, trigger=trigger, budget_s=budget_s, abandoned_runs=abandoned)
    if on_started:
        on_started(run_id)
    summary = RunSummary(run_id=run_id, status=RunStatus.RUNNING)
    lock = threading.Lock()
    held: set[int] = set()
    watch = daily_quota.DayWatch(settings.daily_units_budget)
    stop_claiming_at = min(CLAIM_CUTOFF_S, budget_s * CLAIM_CUTOFF_SHARE)

    def worker() -> None:
        while deadline.remaining() > stop_claiming_at and summary.error is None:
            with pool.connection() as conn:
                account = runs.claim_next(
                    conn,
                    run_id,
                    due_before,
                    settings.lease_s,
                    account_ids,
                    incremental_only=watch.holds_full_syncs(conn),
                )
                # A sweep's run sees its slot through: what another run holds is released when
                # synced, or lapses when that run died, and is then taken over, while time allows.
                wait_for_others = account is None and sweep_id is not None
                lapse = (
                    runs.held_elsewhere(conn, run_id, due_before, account_ids).first_lapse_s
                    if wait_for_others
                    else None
                )
            if account is None:
                if lapse is None or lapse + stop_claiming_at > deadline.remaining():
                    return
                deadline.sleep(min(lapse, LEASE_POLL_S), "waiting for a held account")
                with pool.connection() as conn:
                    runs.abandon_stale_runs(conn, settings.lease_s)
                continue
            with lock:
                held.add(account.id)
            result = AccountSync(pool, settings, account, deadline, cipher, run_id).run()
            with pool.connection() as conn:
                runs.record_account_result(conn, run_id, result.record())
                runs.release(conn, account.id, run_id, result.status, result.error, blame=not result.systemic)
            with lock:
                held.discard(account.id)
                _add(summary, result)
                if result.systemic and summary.error is None:  # every account would fail alike: stop
                    summary.error = result.error
            _log_account(run_id, result)
            if on_account:
                on_account(result)

    def heartbeat(stop: threading.Event) -> None:
        while not stop.wait(settings.lease_s / 3):
            with lock:
                ids = sorted(held)
            try:
                with pool.connection() as conn:
                    runs.heartbeat(conn, run_id, ids, settings.lease_s)
            except Exception as error:  # the workers meet the same trouble and report it
                log_event("sync.heartbeat_failed", logging.WARNING, run_id=run_id, error=type(error).__name__)

    stop_beating = threading.Event()
    beating = threading.Thread(target=heartbeat, args=(stop_beating,), daemon=True, name="heartbeat")
    beating.start()
    try:
        with ThreadPoolExecutor(settings.sync_concurrency, thread_name_prefix="sync") as workers:
            for future in [workers.submit(worker) for _ in range(settings.sync_concurrency)]:
                future.result()
        with pool.connection() as conn:
            summary.accounts_busy = runs.held_elsewhere(conn, run_id, due_before, account_ids).count
            if watch.held_by is not None:
                summary.accounts_held = runs.full_syncs_due(conn, due_before, account_ids)
        if summary.accounts_held and (day := watch.held_by) is not None:
            log_event(
                "sync.run.first_syncs_held",
                logging.WARNING,
                run_id=run_id,
                accounts_held=summary.accounts_held,
                units_today=day.used,
                allowance=day.allowance,
                daily_budget=day.budget,
            )
    except DATABASE_DOWN as error:
        summary.error = f"the database stopped answering during the run ({type(error).__name__}: {error})"[:500]
    except Exception as error:  # the run as a whole failed
        summary.error = f"{type(error).__name__}: {error}"[:500]
    finally:
        stop_beating.set()
        beating.join()
    summary.duration_ms = round((time.monotonic() - started) * 1000)
    summary.status = _status(summary)
    level = logging.ERROR if summary.status == RunStatus.FAILED else logging.INFO
    log_event("sync.run", level, **asdict(summary))
    _record_outcome(pool, settings, summary, trigger, deadline)
    return summary


# Outcomes this process could not record while the database was away (run id → what to record).
# The next run of the process records them first: on Vercel an instance serves many invocations.
_unrecorded: dict[int, tuple[RunSummary, str]] = {}
_unrecorded_lock = threading.Lock()


def _finish(pool: Database, settings: Settings, summary: RunSummary, trigger: str) -> list[str]:
    """Record the run's outcome and decide its alerts (sent once this has committed)."""
    with pool.connection() as conn:
        runs.finish_run(conn, summary.run_id, {k: v for k, v in asdict(summary).items() if k != "run_id"})
        if summary.status == RunStatus.FAILED and summary.error:
            runs.settle_failed(conn, summary.run_id, summary.error)
        return alerts.evaluate(conn, settings, asdict(summary), trigger)


def _record_outcome(pool: Database, settings: Settings, summary: RunSummary, trigger: str, deadline: Deadline) -> None:
    """The run's record tells what happened, a failure on the database included: while the
    database does not answer, the record is tried again as long as the budget lasts, then kept
    for this process's next run (another process would only see the heartbeat stop)."""
    while True:
        try:
            texts = _finish(pool, settings, summary, trigger)
        except DATABASE_DOWN as error:
            if deadline.remaining() < RECORD_RETRY_S:
                with _unrecorded_lock:
                    _unrecorded[summary.run_id] = (summary, trigger)
                log_event("sync.run.not_recorded", logging.ERROR, run_id=summary.run_id, error=type(error).__name__)
                return
            deadline.sleep(RECORD_RETRY_S, "recording the run")
            continue
        alerts.send(settings, texts)
        return


def _record_kept(pool: Database, settings: Settings) -> None:
    """Runs this process finished while the database was away, recorded now that it answers."""
    with _unrecorded_lock:
        kept = list(_unrecorded.items())
    for run_id, (summary, trigger) in kept:
        texts = _finish(pool, settings, summary, trigger)
        with _unrecorded_lock:
            _unrecorded.pop(run_id, None)
        log_event("sync.run.recorded_late", run_id=run_id, status=summary.status)
        alerts.send(settings, texts)


def _add(summary: RunSummary, result: AccountResult) -> None:
    if result.status == AccountOutcome.OK:
        summary.accounts_ok += 1
    elif result.status == AccountOutcome.INCOMPLETE:
        summary.accounts_incomplete += 1
    else:
        summary.accounts_failed += 1
    summary += result


def _log_account(run_id: int, result: AccountResult) -> None:
    level = logging.ERROR if result.status in (AccountOutcome.FAILED, AccountOutcome.NEEDS_REAUTH) else logging.INFO
    log_event(
        "sync.account",
        level,
        run_id=run_id,
        account=result.email,
        status=result.status,
        mode=result.mode,
        **result.counts(),
        messages_refused=len(result.refused),
        duration_ms=result.duration_ms,
        error=result.error,
    )
