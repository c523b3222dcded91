"""The /runs charts: what sweeps and runs did in each UTC hour of the last day or week.

Both spans have hourly bars. A sweep is an hour's cron slot, so a bar is about one sweep and
an hour when none ran is a gap on the axis. The week keeps its 7 × 24 hours rather than 7 daily
totals, so a failed hour is still marked as one, not averaged into its day's good sweeps;
its axis names each midnight (day and date), the day's every sixth hour.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

from app.data.runs import Hour
from app.web.charts import Bar, bar_chart, number

Span = Literal["day", "week"]
HOURS: dict[Span, int] = {"day": 24, "week": 7 * 24}
DAY_TICK_EVERY = 6  # hours between the day's labels: "06:00" fits about six bars' width on a phone
X_TITLES: dict[Span, str] = {"day": "hour started (UTC)", "week": "day (UTC), a bar per hour"}


def hours(span: Span, now: datetime) -> list[datetime]:
    """The span's hours, oldest first, ending with the one `now` (a UTC time) is in."""
    current = now.replace(minute=0, second=0, microsecond=0)
    return [current - timedelta(hours=back) for back in reversed(range(HOURS[span]))]


def _tick(hour: datetime, span: Span) -> str:
    if span == "day":
        return f"{hour:%H}:00" if hour.hour % DAY_TICK_EVERY == 0 else ""
    return f"{hour:%a} {hour.day}" if hour.hour == 0 else ""


def _failed(row: Hour) -> str:
    """`1 failed, 3 accounts failed`: the hour's failed or partial sweeps and runs, and accounts."""
    said = [f"{number(row.failed)} failed"] if row.failed else []
    if row.accounts_failed:
        said.append(f"{number(row.accounts_failed)} account{'' if row.accounts_failed == 1 else 's'} failed")
    return ", ".join(said)


def charts(rows: list[Hour], span: Span, now: datetime, project_units_per_minute: int) -> list[str]:
    """Emails synced, wall time and Gmail quota per hour; the quota as a share of the most
    Gmail lets the project spend in an hour (its per-minute quota, sixty times)."""
    by_hour = {row.hour: row for row in rows}
    slots = hours(span, now)

    def bars(value: Callable[[Hour], float]) -> list[Bar]:
        drawn = []
        for hour in slots:
            row = by_hour.get(hour)
            drawn.append(
                Bar(
                    key=hour.isoformat(),
                    name=f"{hour:%a} {hour.day} {hour:%b %H}:00 UTC" + ("" if row else ", nothing ran"),
                    value=value(row) if row else 0,
                    tick=_tick(hour, span),
                    failed=_failed(row) if row else "",
                )
            )
        return drawn

    ceiling = project_units_per_minute * 60
    x_title = X_TITLES[span]
    return [
        bar_chart(
            "Emails synced per hour",
            bars(lambda row: row.messages_added),
            y_title="emails",
            x_title=x_title,
            whole=True,
        ),
        bar_chart(
            "Wall time per hour",
            bars(lambda row: row.duration_ms / 1000),
            y_title="seconds",
            unit=" s",
            x_title=x_title,
        ),
        bar_chart(
            "Gmail quota used per hour, % of the ceiling",
            bars(lambda row: 100 * row.quota_units / ceiling),
            y_title="% of ceiling",
            unit=" %",
            x_title=x_title,
            note=f"100 % = {number(ceiling)} units: the project's {number(project_units_per_minute)} a minute × 60",
        ),
    ]
