"""Incidents as the drain endpoint records them and the runs dashboard shows them: one open
incident per (kind, path), its count growing with each new observation until it closes.

New incidents are bounded, per delivery and per hour: one signed delivery can carry thousands of
entries on thousands of paths, and each new incident is an alert. Beyond the bound, what would
have opened folds into one incident per kind on OVERFLOW_PATH, which says how many paths it holds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row

from app.db.connection import Connection
from app.incidents import Observation
from app.statuses import IncidentKind

OBSERVATIONS_KEPT = "1 day"  # longer than Vercel goes on redelivering a batch
NEW_PER_DELIVERY = 10
NEW_PER_HOUR = 30
OVERFLOW_PATH = "(more paths)"


@dataclass(frozen=True)
class Opened:
    """An incident that did not exist before this delivery: the start of an episode."""

    kind: IncidentKind
    path: str
    sample: str
    deployment_id: str | None
    folded: int = 0  # on OVERFLOW_PATH: how many paths beyond the bound it took in this delivery


def _opened_within_the_hour(conn: Connection) -> int:
    row = conn.execute(
        """select count(*) from jessie.incidents
           where opened_at > now() - interval '1 hour' and path <> %s""",
        [OVERFLOW_PATH],
    ).fetchone()
    return int(row[0]) if row else 0


def _bounded(
    conn: Connection, groups: dict[tuple[IncidentKind, str], list[Observation]]
) -> tuple[dict[tuple[IncidentKind, str], list[Observation]], dict[IncidentKind, int]]:
    """The groups to record as they are, and how many paths per kind fold into its overflow."""
    open_now = {
        (IncidentKind(kind), path)
        for kind, path in conn.execute(
            """select kind, path from jessie.incidents
               where closed_at is null and (kind, path) in (select * from unnest(%s::text[], %s::text[]))""",
            [[str(kind) for kind, _ in groups], [path for _, path in groups]],
        )
    }
    allowance = max(0, min(NEW_PER_DELIVERY, NEW_PER_HOUR - _opened_within_the_hour(conn)))
    kept: dict[tuple[IncidentKind, str], list[Observation]] = {}
    folded: dict[IncidentKind, int] = defaultdict(int)
    for key, group in sorted(groups.items(), key=lambda item: min(o.seen_at for o in item[1])):
        if key in open_now or key[1] == OVERFLOW_PATH:
            kept[key] = group
        elif allowance > 0:
            kept[key] = group
            allowance -= 1
        else:
            kept.setdefault((key[0], OVERFLOW_PATH), []).extend(group)
            folded[key[0]] += 1
    return kept, folded


def record(conn: Connection, observations: Iterable[Observation]) -> list[Opened]:
    """Count each observation once (a redelivered entry is not new); returns what opened."""
    unique = {o.entry_id: o for o in observations}
    if not unique:
        return []
    fresh = conn.execute(
        """insert into jessie.incident_observations (id) select unnest(%s::text[])
           on conflict do nothing returning id""",
        [list(unique)],
    ).fetchall()
    conn.execute("delete from jessie.incident_observations where seen_at < now() - %s::interval", [OBSERVATIONS_KEPT])
    groups: dict[tuple[IncidentKind, str], list[Observation]] = defaultdict(list)
    for (entry_id,) in fresh:
        observation = unique[entry_id]
        groups[(observation.kind, observation.path)].append(observation)
    if not groups:
        return []
    kept, folded = _bounded(conn, groups)
    opened = []
    for (kind, path), group in kept.items():
        latest = max(group, key=lambda o: o.seen_at)
        sample = latest.sample
        if path == OVERFLOW_PATH and folded.get(kind):
            sample = f"{folded[kind]:,} more paths, e.g. {latest.path or 'a request'}: {latest.sample}"
        row = conn.execute(
            """insert into jessie.incidents
                   (kind, path, deployment_id, request_id, first_seen, last_seen, count, sample)
               values (%(kind)s, %(path)s, %(deployment)s, %(request)s, %(first)s, %(last)s, %(count)s, %(sample)s)
               on conflict (kind, path) where closed_at is null do update set
                   count = jessie.incidents.count + excluded.count,
                   last_seen = greatest(jessie.incidents.last_seen, excluded.last_seen),
                   deployment_id = excluded.deployment_id, request_id = excluded.request_id,
                   sample = excluded.sample
               returning (xmax = 0) as inserted""",
            {
                "kind": kind,
                "path": path,
                "deployment": latest.deployment_id,
                "request": latest.request_id,
                "first": min(o.seen_at for o in group),
                "last": latest.seen_at,
                "count": len(group),
                "sample": sample,
            },
        ).fetchone()
        if row is not None and row[0]:
            opened.append(Opened(kind, path, sample, latest.deployment_id, folded.get(kind, 0)))
    return opened


def close(
    conn: Connection, kinds: Iterable[IncidentKind], path: str | None = None, quiet_since: datetime | None = None
) -> list[tuple[IncidentKind, str]]:
    """Close the open incidents of these kinds (on this path; quiet since then); returns them."""
    rows = conn.execute(
        """update jessie.incidents set closed_at = now()
           where closed_at is null and kind = any(%(kinds)s)
             and (%(path)s::text is null or path = %(path)s)
             and (%(quiet)s::timestamptz is null or last_seen < %(quiet)s)
           returning kind, path""",
        {"kinds": [str(kind) for kind in kinds], "path": path, "quiet": quiet_since},
    ).fetchall()
    return [(IncidentKind(kind), path) for kind, path in rows]


@dataclass(frozen=True)
class Incident:
    id: int
    kind: str
    path: str
    deployment_id: str | None
    request_id: str | None
    first_seen: datetime
    last_seen: datetime
    count: int
    sample: str
    closed_at: datetime | None


def recent(conn: Connection, limit: int) -> list[Incident]:
    """Open incidents first, then the most recently seen closed ones."""
    return (
        conn.cursor(row_factory=class_row(Incident))
        .execute(
            """select id, kind, path, deployment_id, request_id, first_seen, last_seen, count, sample, closed_at
               from jessie.incidents order by (closed_at is null) desc, last_seen desc limit %s""",
            [limit],
        )
        .fetchall()
    )


def last_cron_progress(conn: Connection) -> datetime | None:
    """When the last cron run that did its work started (ok or partial); before any, when the
    first active account was connected; None when there is nothing to sync."""
    row = conn.execute(
        """select coalesce(
               (select max(started_at) from jessie.sync_runs where trigger = 'cron' and status in ('ok', 'partial')),
               (select min(created_at) from jessie.accounts where status = 'active'))"""
    ).fetchone()
    return row[0] if row else None
