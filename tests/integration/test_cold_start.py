"""Each entry point imports only what it uses: a fresh interpreter serves one request and reports
which of the heavy libraries it loaded. (How long imports take is measured in bench/, not here.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from sandbox.gmail import environment_for
from tests.conftest import Sandbox

HEAVY = ["jinja2", "googleapiclient", "httplib2", "cryptography.fernet", "bs4", "app.sync.runner", "vercel.queue"]
SERVE_ONE = (
    f"HEAVY = {HEAVY!r}\n"
    + """
import json, sys
import api.index
from starlette.testclient import TestClient
before = set(sys.modules)
with TestClient(api.index.app, base_url="http://localhost") as client:
    answer = client.request(sys.argv[1], sys.argv[2], headers=json.loads(sys.argv[3]))
loaded = set(sys.modules) - before
print(json.dumps({"status": answer.status_code, "loaded": sorted(m for m in HEAVY if m in loaded)}))
"""
)


def _first_request(
    env: dict[str, str], method: str, path: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", SERVE_ONE, method, path, json.dumps(headers or {})],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture
def env(settings: Settings, sandbox: Sandbox) -> dict[str, str]:
    assert settings.database_url is not None
    return {
        **os.environ,
        **environment_for(sandbox.url),
        "DATABASE_URL": settings.database_url.get_secret_value(),
        "JESSIE_DATA_DIR": str(settings.data_dir),
        "CRON_SECRET": "test-cron-secret",
        "LOG_DRAIN_SECRET": "test-drain-secret",
        "VERCEL_ENV": "development",
    }


def test_api_index_itself_loads_none_of_them(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import api.index, sys; print([m for m in {HEAVY!r} if m in sys.modules])"],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        check=True,
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("method", "path", "status", "expected"),
    [
        ("GET", "/api/health", 200, []),
        ("POST", "/api/log-drain", 403, []),  # refused for its signature, after reading nothing heavy
        ("GET", "/favicon.ico", 200, []),
        ("GET", "/", 200, ["jinja2"]),
        ("POST", "/api/queue/sweep", 400, []),  # refused: not a queue delivery
    ],
)
def test_an_entry_point_loads_only_what_it_uses(
    env: dict[str, str], method: str, path: str, status: int, expected: list[str]
) -> None:
    assert _first_request(env, method, path) == {"status": status, "loaded": expected}


def test_the_cron_loads_the_sync_stack_and_not_the_pages(env: dict[str, str]) -> None:
    result = _first_request(env, "GET", "/api/cron/email-sync", {"Authorization": "Bearer test-cron-secret"})
    assert result["status"] == 200
    assert {"app.sync.runner", "googleapiclient"} <= set(result["loaded"])
    assert "vercel.queue" not in result["loaded"]  # one invocation, nothing to publish: no queue SDK
    assert "jinja2" not in result["loaded"]
