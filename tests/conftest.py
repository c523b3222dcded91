"""Fixtures shared by every test: the Gmail sandbox on a free loopback port, real Postgres."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httplib2
import psycopg
import pytest
import requests
from cryptography.fernet import Fernet
from google.oauth2.credentials import Credentials
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build

from app.config import Settings
from app.db.connection import Database, open_pool
from app.db.migrate import migrate
from sandbox.gmail import environment_for
from sandbox.gmail.oauth import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from sandbox.gmail.quota import QuotaConfig
from sandbox.gmail.server import SandboxServer
from sandbox.gmail.state import SandboxState
from tests.postgres import Postgres
from tests.processes import leftovers


class Sandbox:
    """A running sandbox plus the admin calls tests use to set it up and read ground truth."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.url = server.url
        self.state = server.state
        self.http = requests.Session()

    def admin(self, method: str, path: str, **json: Any) -> Any:
        response = self.http.request(method, f"{self.url}/_sandbox{path}", json=json or None, timeout=30)
        assert response.status_code < 300, response.text
        return response.json()

    def create_account(self, email: str, messages: int = 0, seed: int = 0) -> dict[str, str]:
        result: dict[str, str] = self.admin("POST", "/accounts", email=email, messages=messages, seed=seed)
        return result

    def truth(self, email: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.admin("GET", f"/accounts/{email}/messages")["messages"]
        return messages

    def stats(self, email: str) -> dict[str, Any]:
        stats: dict[str, Any] = self.admin("GET", "/stats")["accounts"][email]
        return stats


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """Quota enforcement starts off so tests run at full speed; quota tests switch it on."""
    state = SandboxState(seed=1)
    state.quota.configure(QuotaConfig(units_per_second=0))
    with SandboxServer(state) as server:
        yield Sandbox(server)


@dataclass
class GmailClient:
    service: Any
    http: AuthorizedHttp
    credentials: Credentials


def gmail_client(sandbox: Sandbox, refresh_token: str) -> GmailClient:
    """The real google-api-python-client + google-auth, pointed at the sandbox."""
    credentials = Credentials(  # type: ignore[no-untyped-call]  # google-auth is untyped
        None,
        refresh_token=refresh_token,
        token_uri=f"{sandbox.url}/token",
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
    )
    http = AuthorizedHttp(credentials, http=httplib2.Http(timeout=30))
    service = build("gmail", "v1", http=http, client_options={"api_endpoint": sandbox.url + "/"}, static_discovery=True)
    return GmailClient(service, http, credentials)


# ---- Postgres: one embedded server per test session, one migrated database per test ----


@pytest.fixture(scope="session", autouse=True)
def nothing_left_running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Set up first, so checked last: when the session's fixtures are gone, no process this test session
    started is left (a child of pytest, or anything naming the session's temporary directory)."""
    yield
    left = leftovers(str(tmp_path_factory.getbasetemp()), descendants_of=os.getpid())
    assert not left, "left running after the tests:\n" + "\n".join(map(str, left))


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    """The session's Postgres, on a Unix socket and on a loopback port (for the Supabase CLI)."""
    server = Postgres.initialized(tmp_path_factory.mktemp("pg") / "data")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_admin_url(postgres_server: Postgres) -> str:
    return postgres_server.url()


def _with_database(admin_url: str, name: str) -> str:
    return psycopg.conninfo.make_conninfo(admin_url, dbname=name)


@pytest.fixture(scope="session")
def template_database(postgres_admin_url: str) -> str:
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute("create database jessie_template")
    with psycopg.connect(_with_database(postgres_admin_url, "jessie_template")) as conn:
        migrate(conn)
    return "jessie_template"


@pytest.fixture
def database_url(postgres_admin_url: str, template_database: str) -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f"create database {name} template {template_database}")
    yield _with_database(postgres_admin_url, name)
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f"drop database {name} with (force)")


def make_settings(database_url: str, sandbox_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        **environment_for(sandbox_url),
        "jessie_encryption_key": Fernet.generate_key().decode(),
        "cron_secret": "test-cron-secret",
        "session_secret": "test-session-secret-" + "x" * 20,
        "vercel_env": "development",
        "quota_units_per_second": 0,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def settings(database_url: str, sandbox: Sandbox, tmp_path: Path) -> Settings:
    return make_settings(database_url, sandbox.url, tmp_path)


@pytest.fixture
def pool(settings: Settings) -> Iterator[Database]:
    pool = open_pool(settings, size=settings.sync_concurrency + 4)
    yield pool
    pool.close()


@pytest.fixture
def web(settings: Settings) -> Iterator[Any]:
    """The web app on a loopback port, wired to this test's sandbox and database."""
    from tests.integration.web_helpers import serve

    yield from serve(settings)


@contextmanager
def webhook_receiver(gate: threading.Event | None = None) -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A Slack-like incoming webhook on loopback that keeps what it receives (each post held,
    unanswered and unkept, until `gate` is set, when one is given)."""
    received: list[dict[str, str]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if gate is not None:
                gate.wait()
            received.append(body)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        if gate is not None:
            gate.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, str]]]]:
    with webhook_receiver() as hook:
        yield hook
