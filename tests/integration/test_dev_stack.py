"""`nox -s dev` keeps its promises across restarts: what it kept (the database, the sandbox's
accounts and grants) still fits together when it starts again."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from app.data.accounts import list_accounts
from app.db.connection import connect
from app.db.embedded import stop_embedded
from sandbox.local import DEMO_ACCOUNT, LocalStack
from tests.integration.web_helpers import consent

pytestmark = pytest.mark.timeout(240)
CHECKOUT = Path(__file__).parents[2]
SET_BY_THE_STACK = ("JESSIE_", "GMAIL_", "GOOGLE_", "OAUTH_", "DATABASE_URL", "POSTGRES_URL", "VERCEL_")


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """The stack's JESSIE_DATA_DIR, `.jessie` as in a checkout; its embedded Postgres is stopped at the end."""
    folder = tmp_path / ".jessie"
    yield folder
    stop_embedded(folder)


def dev_stack(data_dir: Path) -> LocalStack:
    return LocalStack(data_dir, app_port=0, sandbox_port=0, demo_messages=5, cron_interval_s=None)


def connect_the_demo_account(stack: LocalStack) -> None:
    """Connect Gmail, pick the demo account, Allow: as a person does in a browser."""
    browser = requests.Session()
    started = browser.get(f"{stack.app_url}/auth/google", allow_redirects=False, timeout=10)
    callback = consent(browser, started.headers["Location"], DEMO_ACCOUNT)
    assert browser.get(callback, allow_redirects=False, timeout=60).headers["Location"] == "/inbox"


def test_a_restarted_stack_still_syncs_the_account_connected_before(data_dir: Path) -> None:
    with dev_stack(data_dir) as stack:
        connect_the_demo_account(stack)
    with dev_stack(data_dir) as stack:
        answer = stack.call_cron()
        assert answer.status_code == 200, answer.text
        with connect(stack.settings()) as conn:
            [account] = list_accounts(conn)
    assert (account.email, account.status, account.last_sync_status) == (DEMO_ACCOUNT, "active", "ok")


def test_jessie_sync_in_the_checkout_of_a_running_stack_needs_no_variables(data_dir: Path) -> None:
    with dev_stack(data_dir) as stack:
        connect_the_demo_account(stack)
        bare = {k: v for k, v in os.environ.items() if not k.startswith(SET_BY_THE_STACK)}
        synced = subprocess.run(
            [sys.executable, "-m", "app.cli", "sync"],
            cwd=data_dir.parent,
            env={**bare, "PYTHONPATH": str(CHECKOUT)},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert synced.returncode == 0, synced.stderr
    assert re.match(r"run \d+ ok: 1 ok, 0 failed", synced.stdout.splitlines()[-1]), synced.stdout
