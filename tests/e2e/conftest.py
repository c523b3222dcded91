"""The Playwright suite's target: `--base-url URL` (a Preview, Production), or a local stack.

Without --base-url, a local app + Gmail sandbox + embedded Postgres are started for the session
and stopped after it. The product walk (test_walk.py) connects Gmail on the target's own Gmail:
the local sandbox, or a test-mode Preview's stand-in (`/_test/google` on the Preview itself, its
admin API behind the Preview's CRON_SECRET, which the PR check passes as CRON_SECRET). `smoke`
tests are harmless anywhere, Production included; a test marked `local(reason=…)` needs the
local stack, and says why in its skip elsewhere.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import APIRequestContext, Page, Playwright, expect

from app.config import TEST_MODE_PATH

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Target:
    """Where the suite walks, and the Gmail that target uses."""

    url: str
    google: str | None  # the Gmail + Google OAuth it talks to, when the suite can drive it
    cron_secret: str
    local: bool
    why_no_google: str = ""

    def admin(self, request: APIRequestContext, method: str, path: str, **body: object) -> Any:
        """The Gmail stand-in's admin API (set-up and ground truth)."""
        assert self.google is not None, self.why_no_google
        answer = request.fetch(
            f"{self.google}/_sandbox{path}",
            method=method,
            data=body or None,
            headers={"Authorization": f"Bearer {self.cron_secret}"},
        )
        assert answer.status < 300, answer.text()
        return answer.json()


def connect_gmail(page: Page, base_url: str, email: str) -> None:
    """Press Connect Gmail, pick `email` on the target's consent page, Allow: the inbox opens."""
    page.goto(base_url + "/")
    page.get_by_test_id("connect-gmail").click()
    expect(page).to_have_title("Sign in - Google Accounts")  # the target's own Gmail stand-in
    page.get_by_label(email).check()
    page.get_by_role("button", name="Allow").click()
    expect(page).to_have_url(base_url + "/inbox")


@pytest.fixture(scope="session")
def local_stack(pytestconfig: pytest.Config) -> Iterator[Any]:
    if pytestconfig.getoption("base_url"):
        yield None
        return
    from app.db.embedded import stop_embedded
    from sandbox.local import LocalStack

    data_dir = Path(tempfile.mkdtemp(prefix="jessie-e2e-"))
    stack = LocalStack(data_dir, app_port=0, sandbox_port=0, demo_messages=60, cron_interval_s=None)
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
def target(
    base_url: str, local_stack: Any, playwright: Playwright, browser_context_args: dict[str, Any]
) -> Iterator[Target]:
    if local_stack is not None:
        yield Target(base_url, local_stack.sandbox_url, local_stack.settings().require("cron_secret"), local=True)
        return
    secret = os.environ.get("CRON_SECRET", "")
    probe = playwright.request.new_context(**_request_options(browser_context_args))
    try:
        answer = probe.get(
            f"{base_url}{TEST_MODE_PATH}/_sandbox/accounts", headers={"Authorization": f"Bearer {secret}"}
        )
        status = answer.status
    finally:
        probe.dispose()
    if status == 200:
        yield Target(base_url, base_url + TEST_MODE_PATH, secret, local=False)
        return
    why = (
        f"{base_url} has no Gmail stand-in (test mode is off: JESSIE_PREVIEW_TEST_MODE=false, or Production)"
        if status == 404
        else f"the Preview's Gmail stand-in refused the suite (HTTP {status}): pass the Preview's CRON_SECRET"
    )
    yield Target(base_url, None, secret, local=False, why_no_google=why)


@pytest.fixture(scope="session")
def google(target: Target) -> Target:
    """The target, for tests that drive its Gmail (skipped, saying why, where there is none)."""
    if target.google is None:
        pytest.skip(target.why_no_google)
    return target


def _request_options(context_args: dict[str, Any]) -> dict[str, Any]:
    """What an APIRequestContext takes of the browser contexts' options."""
    return {key: value for key, value in context_args.items() if key in ("extra_http_headers", "ignore_https_errors")}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """The system Chromium when there is one (Playwright's download is not always reachable);
    E2E_PROXY names a proxy that reaches hostnames this machine cannot resolve (the offline
    pipeline's local Vercel serves aliases such as jessie-pr-7.vercel.app through one)."""
    arguments = dict(browser_type_launch_args)
    system = shutil.which("chromium") or shutil.which("chromium-browser")
    if system:
        arguments |= {"executable_path": system, "args": CHROMIUM_ARGS}
    if os.environ.get("E2E_PROXY"):
        arguments["proxy"] = {"server": os.environ["E2E_PROXY"], "bypass": "127.0.0.1,localhost"}
    return arguments


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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Each test's outcome on its item (`rep_call`), for fixtures that keep what a failure left."""
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("base_url"):
        return
    for item in items:
        marker = item.get_closest_marker("local")
        if marker is not None:
            item.add_marker(pytest.mark.skip(reason=f"local stack only: {marker.kwargs['reason']}"))
