"""N sync runs at once in this one process, sharing its pool: what Fluid compute does when the
sweep's worker invocations land in one instance (`python -m bench.colocated N`)."""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor

from app.config import get_settings
from app.db.connection import open_pool
from app.statuses import RunStatus
from app.sync.runner import run_sync

BUDGET_S = 3000

if __name__ == "__main__":
    runs = int(sys.argv[1])
    settings = get_settings()
    with open_pool(settings) as pool, ThreadPoolExecutor(runs) as threads:
        summaries = list(threads.map(lambda _: run_sync("bench", BUDGET_S, settings=settings, pool=pool), range(runs)))
    print(json.dumps([summary.contract() for summary in summaries]))
    # As `jessie sync` exits: 1 only for a failed run (a run that met accounts another one held is partial).
    sys.exit(1 if any(summary.status == RunStatus.FAILED for summary in summaries) else 0)
