"""Fixtures shared by every test: the Gmail sandbox on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httplib2
import pytest
import requests
from google.oauth2.credentials import Credentials
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build

from sandbox.gmail.oauth import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from sandbox.gmail.server import SandboxServer
from sandbox.gmail.state import SandboxState


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
    with SandboxServer(SandboxState(seed=1)) as server:
        yield Sandbox(server)


@dataclass
class GmailClient:
    service: Any
    http: AuthorizedHttp
    credentials: Credentials


def gmail_client(sandbox: Sandbox, refresh_token: str) -> GmailClient:
    """The real google-api-python-client + google-auth, pointed at the sandbox."""
    credentials = Credentials(
        None,
        refresh_token=refresh_token,
        token_uri=f"{sandbox.url}/token",
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
    )
    http = AuthorizedHttp(credentials, http=httplib2.Http(timeout=30))
    service = build("gmail", "v1", http=http, client_options={"api_endpoint": sandbox.url + "/"}, static_discovery=True)
    return GmailClient(service, http, credentials)
