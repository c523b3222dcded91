"""How fast the sandbox serves messages.get (format=full, as the sync asks) inside batches of 50
(quota and latency off).

The sandbox runs in its own process; clients are separate processes using the real
google-api-python-client, so the figure is the sandbox's serving rate as a sync sees it.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor

import httplib2
from google.oauth2.credentials import Credentials
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build
from googleapiclient.http import BatchHttpRequest

from sandbox.gmail.oauth import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

from .harness import admin, sandbox_process

BATCH = 50


def _fetch(url: str, refresh_token: str, ids: list[str]) -> int:
    credentials = Credentials(  # type: ignore[no-untyped-call]  # google-auth is untyped
        None,
        refresh_token=refresh_token,
        token_uri=f"{url}/token",
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
    )
    http = AuthorizedHttp(credentials, http=httplib2.Http(timeout=60))
    service = build("gmail", "v1", http=http, client_options={"api_endpoint": url + "/"}, static_discovery=True)
    messages = service.users().messages()  # building resources is costly: once, not per call
    fetched = 0

    def count(_id: str, response: object, error: Exception | None) -> None:
        nonlocal fetched
        if error is None and response:
            fetched += 1

    for start in range(0, len(ids), BATCH):
        batch = BatchHttpRequest(callback=count, batch_uri=f"{url}/batch/gmail/v1")
        for message_id in ids[start : start + BATCH]:
            batch.add(messages.get(userId="me", id=message_id, format="full"))
        batch.execute(http=http)
    return fetched


def measure(messages: int = 10_000, clients: int = 3) -> dict[str, float]:
    with sandbox_process("--quota", "0") as url:
        accounts = []
        for index in range(clients):
            email = f"bench{index}@example.com"
            token = admin(url, "POST", "/accounts", email=email, messages=messages // clients, seed=index)
            ids = [m["id"] for m in admin(url, "GET", f"/accounts/{email}/messages")["messages"]]
            accounts.append((str(token["refresh_token"]), ids))
        with ProcessPoolExecutor(clients) as pool:
            started = time.perf_counter()
            fetched = sum(pool.map(_fetch, [url] * clients, *zip(*accounts, strict=True)))
            elapsed = time.perf_counter() - started
    return {"sandbox_gets_per_second": round(fetched / elapsed), "sandbox_gets": fetched}


if __name__ == "__main__":
    print(measure())
