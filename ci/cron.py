"""`python -m ci.cron URL`: call Production's cron endpoint as Vercel Cron would (Hobby plans).

GET with `Authorization: Bearer $CRON_SECRET`; prints the run summary; fails when the
endpoint answers anything but 200. Waits as long as the function may run.
"""

from __future__ import annotations

import os
import sys

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
        response = api.request("GET", "/api/cron/email-sync", allow_redirects=False)
    except ApiError as error:
        print(f"error: {error}")
        return 1
    print(f"HTTP {response.status_code}: {response.text[:2000]}")
    return 0 if response.status_code == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
