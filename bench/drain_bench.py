"""The Log Drain endpoint's figures: how long a signed delivery of 1,000 entries takes to be
read, verified, classified and recorded (NDJSON, five incidents among ordinary lines). What a
cold start costs is in cold_start_bench.py.

The app runs in this process on a loopback port, on a fresh embedded Postgres.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
import requests

from app.config import CRON_PATH, Settings
from app.db.embedded import embedded_database_url, stop_embedded
from app.db.migrate import migrate
from app.web.context import close_pool
from app.web.main import create_app
from sandbox.serving import ServerThread

ENTRIES = 1_000
DELIVERIES = 20
SECRET = "bench-drain-secret-" + "x7Kq" * 8


def _batch(number: int) -> bytes:
    lines = []
    for index in range(ENTRIES):
        incident = index % 200 == 0  # five per batch: a crash on a page, each its own request
        lines.append(
            {
                "id": f"b{number}-{index}",
                "message": "Error: Runtime exited with error: exit status 137"
                if incident
                else json.dumps({"level": "info", "event": "sync.account", "status": "ok", "added": index}),
                "timestamp": int(time.time() * 1000),
                "type": "stderr",
                "source": "lambda",
                "projectId": "prj_bench",
                "deploymentId": "dpl_bench",
                "host": "jessie.example",
                "path": "/inbox" if incident else CRON_PATH,
                "requestId": f"req-{number}-{index}",
                "statusCode": -1 if incident else 200,
                "level": "error",
                "environment": "production",
            }
        )
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="jessie-drain-bench-") as directory:
        root = Path(directory)
        try:
            database = embedded_database_url(root)
            with psycopg.connect(database) as conn:
                migrate(conn)
            settings = Settings(database_url=database, data_dir=root, log_drain_secret=SECRET)
            app = create_app(settings)
            timings = []
            with ServerThread(app) as server:
                for number in range(DELIVERIES):
                    body = _batch(number)
                    signature = hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
                    started = time.perf_counter()
                    answer = requests.post(
                        f"{server.url}/api/log-drain", data=body, headers={"x-vercel-signature": signature}, timeout=60
                    )
                    timings.append(time.perf_counter() - started)
                    answer.raise_for_status()
                    assert answer.json()["incidents"] == ENTRIES // 200, answer.text
            close_pool(app)
        finally:
            stop_embedded(root)
    timings.sort()
    return {
        "drain_1000_entries_median_ms": round(statistics.median(timings) * 1000, 1),
        "drain_1000_entries_max_ms": round(timings[-1] * 1000, 1),
    }
