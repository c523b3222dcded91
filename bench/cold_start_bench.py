"""What a cold start costs each entry point of the function, beside a bare FastAPI app.

Every invocation on a fresh instance imports `api/index.py` (the app, its routes); a route then
imports what only it needs, on its first request (the sync stack for the cron and the sweep
workers, Jinja for pages, Google's OAuth client for sign-in). Each entry point is timed as a
fresh interpreter importing exactly that (best of five), and so is a one-route FastAPI app in the
same run; the figure is their ratio.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BARE = """
from fastapi import FastAPI
app = FastAPI()
@app.get("/")
def hello() -> dict[str, str]:
    return {"hello": "world"}
"""
# Entry point → what its first request imports beyond api/index.py (the lazy imports in app/web).
ENTRY_POINTS = {
    "health": [],
    "log_drain": [],
    "page": ["fastapi.templating"],
    "oauth": ["app.google_oauth"],
    "cron": ["app.sync.runner", "app.sync.fanout"],
    "queue_consumer": ["app.sync.runner", "app.sync.seat_consumer"],  # the cron too, when it fans out
}
RUNS = 5


def _import_ms(code: str) -> float:
    timed = f"import time; t = time.perf_counter()\n{code}\nprint(time.perf_counter() - t)"
    best = min(
        float(
            subprocess.run([sys.executable, "-c", timed], capture_output=True, text=True, check=True, cwd=ROOT).stdout
        )
        for _ in range(RUNS)
    )
    return round(best * 1000, 1)


def measure() -> dict[str, float]:
    bare = _import_ms(BARE)
    figures = {"cold_import_bare_fastapi_ms": bare}
    for name, extra in ENTRY_POINTS.items():
        entry = _import_ms("\n".join(["import api.index", *(f"import {module}" for module in extra)]))
        figures[f"cold_import_{name}_ms"] = entry
        figures[f"cold_import_ratio_{name}"] = round(entry / bare, 2)
    return figures
