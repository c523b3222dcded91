"""Vercel Cron, locally: the Production deployment's crons, called as Vercel calls them.

GET https://<production domain><path> with `Authorization: Bearer $CRON_SECRET` (the
Production environment's) and user agent `vercel-cron/1.0`; no retries, redirects not
followed; every call recorded. Schedules are read from the deployment's config.json and
fire when the clock passes a matching minute; tests advance the clock.
"""

from __future__ import annotations

import datetime
from typing import Any

import requests

from .state import VercelState

_FIELDS = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 6)]


def _matches(field: str, value: int, low: int, high: int) -> bool:
    for part in field.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part == "*":
            start, end = low, high
        elif "-" in part:
            start, end = (int(x) for x in part.split("-", 1))
        else:
            start = end = int(part)
        if start <= value <= end and (value - start) % step == 0:
            return True
    return False


def due(schedule: str, moment: datetime.datetime) -> bool:
    """Standard five-field cron (minute hour day month weekday, Sunday = 0), in UTC."""
    fields = schedule.split()
    if len(fields) != 5:
        raise ValueError(f"not a five-field cron expression: {schedule!r}")
    values = [moment.minute, moment.hour, moment.day, moment.month, (moment.weekday() + 1) % 7]
    return all(_matches(f, v, lo, hi) for f, v, (lo, hi) in zip(fields, values, _FIELDS, strict=True))


def at_most_daily(schedule: str) -> bool:
    """True when the expression fires at most once a day (one fixed minute and hour)."""
    minute, hour, *_ = schedule.split()
    return minute.isdigit() and hour.isdigit()


class CronRunner:
    def __init__(self, state: VercelState, ca_bundle: str) -> None:
        self.state = state
        self.ca_bundle = ca_bundle
        self.now = datetime.datetime.now(datetime.UTC).replace(second=0, microsecond=0)

    def call(self, path: str, reason: str) -> dict[str, Any]:
        with self.state.lock:
            production = self.state.production()
            secret = self.state.env_values("production").get("CRON_SECRET", "")
        record: dict[str, Any] = {
            "path": path,
            "reason": reason,
            "at": self.now.isoformat(),
            "method": "GET",
            "deployment": production.id if production else None,
        }
        if production is None:
            record["error"] = "no production deployment"
        else:
            try:
                response = requests.get(
                    f"https://{self.state.alias_host}{path}",
                    headers={"Authorization": f"Bearer {secret}", "User-Agent": "vercel-cron/1.0"},
                    allow_redirects=False,
                    verify=self.ca_bundle,
                    timeout=330,
                )
                record |= {"status": response.status_code, "body": response.text[:2000]}
            except requests.RequestException as error:
                record["error"] = type(error).__name__
        with self.state.lock:
            self.state.cron_calls.append(record)
        return record

    def advance(self, seconds: float) -> list[dict[str, Any]]:
        """Move the clock; every cron whose schedule matches a minute passed is called, once."""
        calls = []
        end = self.now + datetime.timedelta(seconds=seconds)
        while self.now + datetime.timedelta(minutes=1) <= end:
            self.now += datetime.timedelta(minutes=1)
            with self.state.lock:
                production = self.state.production()
                crons = [] if production is None or self.state.crons_disabled else list(production.crons)
            calls += [self.call(cron["path"], "schedule") for cron in crons if due(cron["schedule"], self.now)]
        return calls
