"""Vercel plans, and what vercel.json says the function may do.

Hobby refuses to create a deployment whose crons run more than once a day, so on Hobby
the build gives Vercel a daily cron (a backstop) and `cron.yml` makes the hourly call
(`JESSIE_GITHUB_CRON=true`). Pro and Enterprise run vercel.json's hourly cron as written.
The plan is the `JESSIE_VERCEL_PLAN` variable of the workflows (default `pro`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from app.config import CRON_PATH

PLANS = ("hobby", "pro", "enterprise")
HOURLY = "0 * * * *"
DAILY = "0 5 * * *"


class UnknownPlan(ValueError):
    pass


FUNCTION = "api/index.py"


def function_max_duration(root: Path = Path()) -> float:
    """vercel.json's maxDuration for the function: what Vercel enforces (and so what a caller
    of the cron endpoint should wait for)."""
    config = json.loads((root / "vercel.json").read_text())
    return float(config["functions"][FUNCTION]["maxDuration"])


def plan_from_env(env: Mapping[str, str] = os.environ) -> str:
    plan = (env.get("JESSIE_VERCEL_PLAN") or "pro").strip().lower()
    if plan not in PLANS:
        raise UnknownPlan(f"JESSIE_VERCEL_PLAN is {plan!r}; expected one of {', '.join(PLANS)}")
    return plan


def cron_for(plan: str) -> dict[str, str]:
    """The cron the Build Output must carry on this plan."""
    return {"path": CRON_PATH, "schedule": DAILY if plan == "hobby" else HOURLY}


@contextlib.contextmanager
def vercel_json_for(plan: str, root: Path = Path()) -> Iterator[None]:
    """vercel.json as this plan accepts it, for the length of a build; restored afterwards."""
    path = root / "vercel.json"
    original = path.read_text()
    wanted = cron_for(plan)
    if wanted["schedule"] == HOURLY:
        yield
        return
    config = json.loads(original)
    config["crons"] = [wanted if cron.get("path") == CRON_PATH else cron for cron in config.get("crons", [])]
    path.write_text(json.dumps(config, indent=2) + "\n")
    try:
        yield
    finally:
        path.write_text(original)
