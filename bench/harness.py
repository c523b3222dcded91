"""Processes and clients the benchmarks share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from sandbox.gmail.cli import spawn


class SandboxURL(str):
    """The sandbox's URL, which also knows the process serving it (for its CPU time)."""

    pid: int


@contextmanager
def sandbox_process(*args: str) -> Iterator[SandboxURL]:
    """`jessie sandbox` in its own process (its own core), yielding its URL."""
    process, url = spawn("--port", "0", *args)
    try:
        served = SandboxURL(url)
        served.pid = process.pid
        yield served
    finally:
        process.terminate()
        process.wait(timeout=30)


def admin(url: str, method: str, path: str, **json: object) -> dict[str, Any]:
    response = requests.request(method, f"{url}/_sandbox{path}", json=json or None, timeout=600)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result
