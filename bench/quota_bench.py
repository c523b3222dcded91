"""Gmail's two quota models side by side: what the fetch plan costs and how fast a first sync runs
at each model's ceiling, clean and under faults.

One conversational mailbox of 2,000 messages (reply_rate 0.6: about 1.8 messages a thread,
two in five in threads of three or more), the same for every run; the sandbox enforces the
model's per-minute windows, with 50 ms latency; `jessie sync` runs in its own process with
the same model. For each model:
- plan: units per stored message, the share of the per-user ceiling the sync reached (units
  spent against what the model's minutes allowed over its wall time: at least one minute's),
  wall time; and what the plan before threads and `format=full` spent on the same mail (a raw
  get per message, its pages and size census), as the change;
- faults: the same first sync with 20 % 5xx and 10 % 429 per call (seeded): wall time against
  the clean run's, and whether the copy is exact (every message with its labels, nothing extra).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import psycopg

from app.db.embedded import stop_embedded
from app.gmail.quota import MODELS

from .harness import admin, sandbox_process
from .sync_bench import Bench

MESSAGES = 2_000
REPLY_RATE = 0.6
FAULTS: dict[str, object] = {"error_rate": 0.2, "rate_limit_rate": 0.1, "seed": 3}


def _exact(bench: Bench, email: str) -> bool:
    truth = admin(bench.sandbox, "GET", f"/accounts/{email}/messages")["messages"]
    expected = {m["id"]: sorted(m["labelIds"]) for m in truth}
    with psycopg.connect(bench.url) as conn:
        rows = conn.execute("select gmail_id, label_ids from jessie.messages where deleted_at is null").fetchall()
    return {row[0]: sorted(row[1]) for row in rows} == expected


def _first_sync(root: Path, model: str, name: str, faults: dict[str, object] | None) -> dict[str, Any]:
    with sandbox_process("--quota-model", model, "--latency-ms", "50") as url:
        bench = Bench(root, url, name)
        (email,) = bench.accounts(1, MESSAGES, name, reply_rate=REPLY_RATE)
        if faults:
            admin(url, "PUT", "/faults", **faults)
        summary = bench.sync(JESSIE_GMAIL_QUOTA_MODEL=model)
        stats = admin(url, "GET", "/stats")["accounts"][email]
        summary["methods"] = stats["methods"]
        summary["sandbox_units"] = stats["quota_units"]
        summary["faulted"] = stats["errors_injected"]
        summary["exact"] = _exact(bench, email)
    return summary


def _previous_plan_units(summary: dict[str, Any], model: str) -> int:
    """The plan before this one on the same mail: the same listing, profile, labels and census,
    and a raw get per message where this one fetched messages and threads."""
    costs = MODELS[model].costs  # type: ignore[index]
    gets = ("gmail.users.messages.get", "gmail.users.threads.get")
    fetched = sum(summary["methods"].get(name, 0) * costs[name] for name in gets)
    return int(summary["quota_units"]) - int(fetched) + MESSAGES * costs["gmail.users.messages.get"]


def measure_model(root: Path, model: str) -> dict[str, float]:
    clean = _first_sync(root, model, f"clean{model}", None)
    faulty = _first_sync(root, model, f"faults{model}", FAULTS)
    assert clean["messages_added"] == MESSAGES, clean
    assert clean["exact"], clean
    seconds = clean["duration_ms"] / 1000
    # What the model's windows allowed over the run: a minute's units however short the run
    # (Google refills whole wall-clock minutes), then a minute's worth per minute.
    ceiling = MODELS[model].per_user_per_minute * max(1.0, seconds / 60)  # type: ignore[index]
    previous = _previous_plan_units(clean, model)
    methods = clean["methods"]
    return {
        f"quota_{model}_units_per_message": round(clean["quota_units"] / MESSAGES, 2),
        f"quota_{model}_previous_plan_units_per_message": round(previous / MESSAGES, 2),
        f"quota_{model}_plan_change": round(clean["quota_units"] / previous - 1, 3),
        f"quota_{model}_ceiling_fraction": round(clean["quota_units"] / ceiling, 3),
        f"quota_{model}_seconds": round(seconds, 1),
        f"quota_{model}_thread_gets": methods.get("gmail.users.threads.get", 0),
        f"quota_{model}_message_gets": methods.get("gmail.users.messages.get", 0),
        f"quota_{model}_meter_matches_gmail": int(clean["quota_units"] == clean["sandbox_units"]),
        f"faults_{model}_seconds": round(faulty["duration_ms"] / 1000, 1),
        f"faults_{model}_to_clean_ratio": round(faulty["duration_ms"] / clean["duration_ms"], 2),
        f"faults_{model}_exact": int(faulty["exact"] and faulty["status"] == "ok"),
        f"faults_{model}_errors_injected": faulty["faulted"],
        f"faults_{model}_http_requests": faulty["http_requests"],
    }


def measure() -> dict[str, float]:
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="jessie-quota-bench-") as directory:
        root = Path(directory)
        try:
            for model in ("legacy", "2026"):
                result = measure_model(root, model)
                print(f"quota model {model}: {json.dumps(result)}", flush=True)
                figures.update(result)
        finally:
            stop_embedded(root)
    return figures


if __name__ == "__main__":
    print(json.dumps(measure()))
