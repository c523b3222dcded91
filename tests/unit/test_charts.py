"""The /runs charts: round ticks, one number format, an hourly time axis, failures marked."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from app.data.runs import Hour
from app.web.charts import WIDTH, number, ticks
from app.web.run_charts import charts, hours

NOW = datetime(2026, 12, 2, 14, 35, tzinfo=UTC)  # a Wednesday
HOUR = datetime(2026, 12, 2, 14, tzinfo=UTC)
PER_MINUTE = 1_200_000


def _hour(start: datetime, **values: int) -> Hour:
    fields = {"entries": 1, "failed": 0, "accounts_failed": 0, "messages_added": 0, "duration_ms": 0, "quota_units": 0}
    return Hour(hour=start, **(fields | values))


def _ticks_of(svg: str) -> list[str]:
    return re.findall(r'class="tick">([^<]+)</text>', svg)


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0, "0"), (7, "7"), (1269, "1,269"), (1_234_567.8, "1,234,568"), (12.34, "12.3"), (0.025, "0.025"), (2.5, "2.5")],
)
def test_every_number_is_printed_one_way(value: float, shown: str) -> None:
    assert number(value) == shown


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        (1269, [0, 500, 1000, 1500]),  # not 634 / 1,269
        (634, [0, 200, 400, 600, 800]),
        (1, [0, 0.25, 0.5, 0.75, 1]),
        (0.3, [0, 0.1, 0.2, 0.3]),
        (0.000417, [0, 0.0002, 0.0004, 0.0006]),
        (0, [0, 1]),
    ],
)
def test_ticks_are_round_steps_that_reach_the_top(top: float, expected: list[float]) -> None:
    assert ticks(top) == expected


def test_counts_tick_in_whole_steps() -> None:
    assert ticks(1, whole=True) == [0, 1]
    assert ticks(3, whole=True) == [0, 1, 2, 3]


def test_the_span_ends_with_the_current_hour() -> None:
    day = hours("day", NOW)
    assert (len(day), day[-1], day[0]) == (24, HOUR, HOUR - timedelta(hours=23))
    assert len(hours("week", NOW)) == 7 * 24


def test_the_day_is_24_hourly_slots_labelled_with_times_and_empty_hours_kept() -> None:
    emails = charts([_hour(HOUR, messages_added=1234)], "day", NOW, PER_MINUTE)[0]
    assert emails.count('<g class="bar') == 24  # every hour a slot, the empty ones too
    assert _ticks_of(emails) == ["0", "500", "1,000", "1,500", "18:00", "00:00", "06:00", "12:00"]
    assert ">hour started (UTC)</text>" in emails
    assert "<title>Wed 2 Dec 14:00 UTC: 1,234</title>" in emails
    assert "<title>Wed 2 Dec 13:00 UTC, nothing ran: 0</title>" in emails


def test_the_week_is_labelled_by_day() -> None:
    week = charts([], "week", NOW, PER_MINUTE)[0]
    assert week.count('<g class="bar') == 7 * 24
    assert _ticks_of(week)[2:] == ["Thu 26", "Fri 27", "Sat 28", "Sun 29", "Mon 30", "Tue 1", "Wed 2"]
    assert ">day (UTC), a bar per hour</text>" in week


def test_an_hour_with_a_failure_is_marked_even_with_nothing_synced() -> None:
    failed = _hour(HOUR - timedelta(hours=2), failed=1, accounts_failed=3)
    for chart in charts([failed, _hour(HOUR, messages_added=5)], "day", NOW, PER_MINUTE):
        marked = re.findall(r'<g class="bar failed" data-key="([^"]+)"><title>([^<]+)</title>.*?</g>', chart)
        assert len(marked) == 1
        key, title = marked[0]
        assert key == (HOUR - timedelta(hours=2)).isoformat()
        assert title.endswith("; 1 failed, 3 accounts failed")
        assert chart.count('fill="#cf222e"') == 1  # the red mark


def test_quota_is_a_share_of_the_projects_hourly_ceiling() -> None:
    quota = charts([_hour(HOUR, quota_units=720_000)], "day", NOW, PER_MINUTE)[2]
    assert "100 % = 72,000,000 units: the project&#x27;s 1,200,000 a minute × 60" in quota
    assert "<title>Wed 2 Dec 14:00 UTC: 1 %</title>" in quota
    assert ">% of ceiling</text>" in quota


def test_the_chart_is_drawn_at_a_phones_width() -> None:
    """Wider than the page's column on a 390 px phone (366 px), its 10 px text would shrink."""
    assert WIDTH <= 390 - 2 * 12
