"""The web app on a loopback port, and a browser-like walk through Google's consent."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from fastapi import FastAPI

from app.config import Settings
from app.db.connection import Database
from app.web.context import app_pool, close_pool, settings_of
from app.web.main import create_app
from sandbox.serving import ServerThread
from tests.conftest import Sandbox


@dataclass
class Web:
    url: str
    app: FastAPI

    def session(self) -> requests.Session:
        return requests.Session()

    @property
    def settings(self) -> Settings:
        """The settings the app serves with (a test's override included)."""
        override = self.app.dependency_overrides.get(settings_of)
        served: Settings = override() if override else self.app.state.settings
        return served

    def serve_with(self, **changes: Any) -> Settings:
        """From now on the app serves with these settings changed (a dependency override)."""
        changed = self.settings.model_copy(update=changes)
        self.app.dependency_overrides[settings_of] = lambda: changed
        return changed

    @property
    def pool(self) -> Database:
        """The app's own database pool (opened now if no request needed it yet)."""
        return app_pool(self.app, self.settings)


def register_callback(settings: Settings, callback: str) -> None:
    """What the app's owner does in the Google Cloud Console (here: the sandbox's admin API)."""
    sandbox = settings.google_auth_uri.removesuffix("/o/oauth2/v2/auth")
    registered = requests.put(
        f"{sandbox}/_sandbox/oauth", json={"redirect_uris": {settings.google_client_id: [callback]}}, timeout=10
    )
    assert registered.status_code == 200, registered.text


def serve(settings: Settings) -> Iterator[Web]:
    """The app on a free port; its callback is that port's, unless the settings name one."""
    app = create_app(settings)
    with ServerThread(app) as server:
        web = Web(server.url, app)
        if settings.oauth_redirect_uri is None:
            web.serve_with(oauth_redirect_uri=f"{server.url}/auth/callback")
            register_callback(settings, f"{server.url}/auth/callback")
        yield web
    close_pool(app)


def start_consent(web: Web, browser: requests.Session) -> str:
    """Press "Connect Gmail": returns Google's (the sandbox's) authorization URL."""
    started = browser.get(f"{web.url}/auth/google", allow_redirects=False, timeout=10)
    assert started.status_code == 303, started.text
    return str(started.headers["Location"])


def consent(browser: requests.Session, authorization_url: str, email: str, decision: str = "allow") -> str:
    """On the consent page, pick `email` and press Allow or Deny: returns the callback URL."""
    page = browser.get(authorization_url, timeout=10)
    assert page.status_code == 200, page.text
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    form = {name: value.replace("&amp;", "&") for name, value in form.items()}
    action = authorization_url.split("?")[0]
    answer = browser.post(
        action, data={**form, "account": email, "decision": decision}, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 302
    return str(answer.headers["Location"])


def connect(web: Web, sandbox: Sandbox, email: str, messages: int = 0, seed: int = 0) -> requests.Session:
    """A user who connects Gmail: a browser session signed in to Jessie."""
    if email not in [a["email"] for a in sandbox.admin("GET", "/accounts")["accounts"]]:
        sandbox.create_account(email, messages=messages, seed=seed)
    browser = requests.Session()
    callback = consent(browser, start_consent(web, browser), email)
    done = browser.get(callback, allow_redirects=False, timeout=30)
    assert done.status_code == 303, done.text
    assert done.headers["Location"] == "/inbox"
    return browser


def post_form(browser: requests.Session, web: Web, path: str, **kwargs: Any) -> requests.Response:
    """Press a button of the inbox page: its form posts the session's CSRF token."""
    page = browser.get(f"{web.url}/inbox", timeout=10)
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token, "no CSRF token on the inbox page"
    return browser.post(f"{web.url}{path}", data={"csrf": token.group(1)}, timeout=60, **kwargs)


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)
