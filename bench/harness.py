"""Processes and clients the benchmarks share."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import requests


@contextmanager
def sandbox_process(*args: str) -> Iterator[str]:
    """`jessie sandbox` in its own process (its own core), yielding its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "sandbox", "--port", "0", *args], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("sandbox ready "):
            raise RuntimeError(f"the sandbox did not start: {line!r}")
        yield line.removeprefix("sandbox ready ")
    finally:
        process.terminate()
        process.wait(timeout=30)


def admin(url: str, method: str, path: str, **json: object) -> dict[str, object]:
    response = requests.request(method, f"{url}/_sandbox{path}", json=json or None, timeout=600)
    response.raise_for_status()
    result: dict[str, object] = response.json()
    return result
