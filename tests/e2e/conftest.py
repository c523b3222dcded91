"""The Playwright suite's target: `--base-url URL` (a Preview, Production), or a local stack.

Without --base-url, a local app + Gmail sandbox + embedded Postgres are started for the
session and stopped after it. Tests marked `local` walk the product through the
sandbox's consent page and run only against that local stack; `smoke` tests are
harmless anywhere, Production included.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def local_stack(pytestconfig: pytest.Config) -> Iterator[Any]:
    if pytestconfig.getoption("base_url"):
        yield None
        return
    from app.db.embedded import stop_embedded
    from sandbox.local import LocalStack

    data_dir = Path(tempfile.mkdtemp(prefix="jessie-e2e-"))
    stack = LocalStack(data_dir, app_port=0, sandbox_port=0, demo_messages=60, cron_interval_s=10**9)
    try:
        yield stack.start()
    finally:
        stack.stop()
        stop_embedded(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def base_url(pytestconfig: pytest.Config, local_stack: Any) -> str:
    given = pytestconfig.getoption("base_url")
    return str(given or local_stack.app_url).rstrip("/")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """The system Chromium when there is one (Playwright's download is not always reachable)."""
    system = shutil.which("chromium") or shutil.which("chromium-browser")
    if system:
        return {**browser_type_launch_args, "executable_path": system, "args": CHROMIUM_ARGS}
    return browser_type_launch_args


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """Protected Vercel previews let the suite in with the automation bypass secret."""
    arguments = dict(browser_context_args)
    secret = os.environ.get("VERCEL_AUTOMATION_BYPASS_SECRET")
    if secret:
        arguments["extra_http_headers"] = {"x-vercel-protection-bypass": secret, "x-vercel-set-bypass-cookie": "true"}
    if os.environ.get("E2E_IGNORE_HTTPS_ERRORS") == "1":  # the offline pipeline's throw-away local CA
        arguments["ignore_https_errors"] = True
    return arguments


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("base_url"):
        return
    skip = pytest.mark.skip(reason="walks the product through the local Gmail sandbox: local target only")
    for item in items:
        if "local" in item.keywords:
            item.add_marker(skip)
