"""`nox -s dev` keeps its promises across restarts: what it kept (the database, the sandbox's
accounts and grants) still fits together when it starts again."""

from __future__ import annotations

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


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """The stack's JESSIE_DATA_DIR; its embedded Postgres is stopped at the end."""
    folder = tmp_path / "dev"
    yield folder
    stop_embedded(folder)


def dev_stack(data_dir: Path) -> LocalStack:
    return LocalStack(data_dir, app_port=0, sandbox_port=0, demo_messages=5, cron_interval_s=None)


def test_a_restarted_stack_still_syncs_the_account_connected_before(data_dir: Path) -> None:
    with dev_stack(data_dir) as stack:
        browser = requests.Session()
        started = browser.get(f"{stack.app_url}/auth/google", allow_redirects=False, timeout=10)
        callback = consent(browser, started.headers["Location"], DEMO_ACCOUNT)
        assert browser.get(callback, allow_redirects=False, timeout=60).headers["Location"] == "/inbox"
    with dev_stack(data_dir) as stack:
        answer = stack.call_cron()
        assert answer.status_code == 200, answer.text
        with connect(stack.settings()) as conn:
            [account] = list_accounts(conn)
    assert (account.email, account.status, account.last_sync_status) == (DEMO_ACCOUNT, "active", "ok")
