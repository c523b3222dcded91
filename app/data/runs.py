"""Sync runs as the dashboard, /api/runs and `jessie runs` read them: sweeps (one cron slot's
runs, one per invocation, as one thing), single runs, and one run's accounts; typed rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from psycopg import sql
from psycopg.rows import class_row

from app import counters
from app.counters import Counters
from app.db.connection import Connection


@dataclass(kw_only=True)
class RunRow(Counters):
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
    duration_ms: int | None
    error: str | None
    sweep_id: int | None  # the sweep (cron slot) this run was one invocation of


@dataclass(kw_only=True)
class Entry(Counters):
    """A sweep with its invocations' totals, or a run outside any sweep."""

    kind: Literal["sweep", "run"]
    id: int  # the sweep's, or the run's
    first_run_id: int
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    invocations: int
    accounts_ok: int
    accounts_failed: int
    accounts_incomplete: int
    accounts_held: int
    duration_ms: int | None
    error: str | None


@dataclass(kw_only=True)
class RunAccountRow(Counters):
    email: str
    status: str
    mode: str
    duration_ms: int | None
    error: str | None
    finished_at: datetime | None


_RUNS = sql.SQL(
    """select id, trigger, status, started_at, finished_at, accounts_ok, accounts_failed, accounts_incomplete,
              accounts_busy, accounts_held, {counters}, duration_ms, error, sweep_id
       from jessie.sync_runs"""
).format(counters=counters.columns())


def recent_runs(conn: Connection, limit: int) -> list[RunRow]:
    """The newest runs first, as the dashboard and /api/runs show them."""
    query = _RUNS + sql.SQL(" order by id desc limit %s")
    return conn.cursor(row_factory=class_row(RunRow)).execute(query, [limit]).fetchall()


def find_run(conn: Connection, run_id: int) -> RunRow | None:
    query = _RUNS + sql.SQL(" where id = %s")
    return conn.cursor(row_factory=class_row(RunRow)).execute(query, [run_id]).fetchone()


def sweep_runs(conn: Connection, sweep_id: int) -> list[RunRow]:
    """The runs of one sweep, one per invocation, in the order they started."""
    query = _RUNS + sql.SQL(" where sweep_id = %s order by id")
    return conn.cursor(row_factory=class_row(RunRow)).execute(query, [sweep_id]).fetchall()


def run_accounts(conn: Connection, run_id: int) -> list[RunAccountRow]:
    """Each account the run took on: its outcome, mode, counts and error; failures first."""
    query = sql.SQL(
        """select a.email, r.status, r.mode, {counters}, r.duration_ms, r.error, r.finished_at
           from jessie.sync_run_accounts r join jessie.accounts a on a.id = r.account_id
           where r.run_id = %s order by (r.status = 'ok'), a.email"""
    ).format(counters=counters.columns("r"))
    return conn.cursor(row_factory=class_row(RunAccountRow)).execute(query, [run_id]).fetchall()


# Each sweep (its runs summed) and each run outside a sweep, as one row; {where} picks the runs.
_ENTRIES = """select case when r.sweep_id is null then 'run' else 'sweep' end as kind,
              coalesce(r.sweep_id, min(r.id)) as id, min(r.id) as first_run_id,
              case when r.sweep_id is null then min(r.trigger) else 'sweep' end as trigger,
              case when bool_or(r.status = 'running') then 'running'
                   when bool_and(r.status = 'failed') then 'failed'
                   when bool_or(r.status in ('failed', 'partial', 'abandoned')) then 'partial'
                   else 'ok' end as status,
              min(r.started_at) as started_at, max(r.finished_at) as finished_at, count(*)::int as invocations,
              sum(r.accounts_ok)::int as accounts_ok, sum(r.accounts_failed)::int as accounts_failed,
              sum(r.accounts_incomplete)::int as accounts_incomplete,
              max(r.accounts_held)::int as accounts_held, {sums},
              case when count(*) = 1 then max(r.duration_ms)
                   else (extract(epoch from max(coalesce(r.finished_at, now())) - min(r.started_at)) * 1000)::int
              end as duration_ms,
              (array_remove(array_agg(r.error order by r.id), null))[1] as error
           from jessie.sync_runs r {where}
           group by r.sweep_id, case when r.sweep_id is null then r.id end"""


def _entries(where: sql.Composable) -> sql.Composed:
    return sql.SQL(_ENTRIES).format(sums=counters.sums("r"), where=where)


def recent_entries(conn: Connection, limit: int) -> list[Entry]:
    """The newest first: each sweep as one entry with its totals (wall time from its first
    invocation's start to its last one's end, and how many invocations ran), each run outside
    a sweep (Sync now, a connect) as itself."""
    query = _entries(sql.SQL("")) + sql.SQL(" order by min(r.started_at) desc, min(r.id) desc limit %s")
    return conn.cursor(row_factory=class_row(Entry)).execute(query, [limit]).fetchall()


@dataclass(kw_only=True)
class Hour:
    """The sweeps and runs that started in one UTC hour, each sweep once (as `recent_entries`
    counts it), their values summed."""

    hour: datetime  # its start, in UTC
    entries: int
    failed: int  # entries failed or partial (some of their invocations or accounts failed)
    accounts_failed: int
    messages_added: int
    duration_ms: int  # their wall times, summed
    quota_units: int


def hourly(conn: Connection, since: datetime, until: datetime) -> list[Hour]:
    """The hours from `since` to before `until` that had a sweep or run start, oldest first.

    A sweep is placed by its first invocation's start; all its invocations are summed even
    when later ones started past the hour (or past `until`)."""
    touching = sql.SQL(
        """where r.started_at >= %(since)s or r.sweep_id in (
               select sweep_id from jessie.sync_runs where sweep_id is not null and started_at >= %(since)s)"""
    )
    query = sql.SQL(
        """select date_trunc('hour', e.started_at at time zone 'UTC') at time zone 'UTC' as hour,
                  count(*)::int as entries,
                  (count(*) filter (where e.status in ('failed', 'partial')))::int as failed,
                  sum(e.accounts_failed)::int as accounts_failed, sum(e.messages_added)::int as messages_added,
                  sum(coalesce(e.duration_ms, 0))::int as duration_ms, sum(e.quota_units)::int as quota_units
           from ({entries}) e
           where e.started_at >= %(since)s and e.started_at < %(until)s
           group by 1 order by 1"""
    ).format(entries=_entries(touching))
    return conn.cursor(row_factory=class_row(Hour)).execute(query, {"since": since, "until": until}).fetchall()
