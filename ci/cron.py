"""`python -m ci.cron URL`: call Production's cron endpoint as Vercel Cron would (Hobby plans).

GET with `Authorization: Bearer $CRON_SECRET`; prints the run summary; fails when the
endpoint answers anything but 200. Waits as long as the function may run.
"""

from __future__ import annotations

import os
import sys

from pydantic import ValidationError

from app.config import CRON_PATH
from app.sync.triggers import CronAnswer
from ci.http import Api, ApiError
from ci.plans import function_max_duration

ANSWER_MARGIN_S = 20  # the function's own answer after it stops


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].startswith("https://"):
        print("usage: python -m ci.cron https://your-production-domain (set the PRODUCTION_URL variable)")
        return 2
    secret = os.environ.get("CRON_SECRET")
    if not secret:
        print("error: missing CRON_SECRET: set it as a GitHub Actions secret (the same value as on Vercel)")
        return 1
    api = Api(
        argv[0],
        {"Authorization": f"Bearer {secret}", "User-Agent": "jessie-github-cron/1.0"},
        timeout_s=function_max_duration() + ANSWER_MARGIN_S,
        max_attempts=2,
    )
    try:
        response = api.request("GET", CRON_PATH, allow_redirects=False)
    except ApiError as error:
        print(f"error: {error}")
        return 1
    print(f"HTTP {response.status_code}: {_summary(response.text)}")
    return 0 if response.status_code == 200 else 1


def _summary(body: str) -> str:
    """The answer in one line, read as the endpoint's model (CronAnswer); the raw text if it is not one."""
    try:
        answer = CronAnswer.model_validate_json(body)
    except ValidationError:
        return body[:2000]
    parts = [answer.message]
    if answer.sweep is not None:
        parts.append(f"sweep {answer.sweep.id} ({'begun' if answer.sweep.begun else 'joined'}, {answer.sweep.due} due)")
    if answer.run is not None:
        run = answer.run
        parts.append(
            f"run {run.run_id} {run.status}: {run.accounts_ok} ok, {run.accounts_failed} failed, "
            f"+{run.messages_added} ~{run.messages_updated} -{run.messages_deleted} messages, "
            f"{run.quota_units} quota units, {run.duration_ms} ms"
        )
    error = answer.error or (answer.run.error if answer.run is not None else None)
    if error:
        parts.append(f"error: {error}")
    return " · ".join(parts)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
