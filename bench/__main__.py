"""Run every benchmark; the last line of output is one JSON object of all figures."""

from __future__ import annotations

import json
import sys

from sandbox.serving import interrupt_on_sigterm

from . import (
    cold_start_bench,
    drain_bench,
    mailbox_bench,
    queue_bench,
    quota_bench,
    sandbox_throughput,
    sweep_bench,
    sync_bench,
)


def main() -> None:
    interrupt_on_sigterm()  # a `kill` cleans up like Ctrl-C: each part stops its Postgres and sandbox
    figures: dict[str, object] = {}
    parts = [
        ("sandbox", sandbox_throughput.measure),
        ("sync", sync_bench.measure),
        ("quota", quota_bench.measure),
        ("drain", drain_bench.measure),
        ("mailbox", mailbox_bench.measure),
        ("cold start", cold_start_bench.measure),
        ("sweep", sweep_bench.measure),
        ("queue", queue_bench.measure),
    ]
    only = set(sys.argv[1:])  # `nox -s bench -- queue sweep`: only those parts
    parts = [(name, measure) for name, measure in parts if not only or name in only]
    for name, measure in parts:
        result = measure()
        print(f"{name}: {json.dumps(result)}", flush=True)
        figures.update(result)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
