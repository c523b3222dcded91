"""Test mode on the local Vercel: a Preview built as ci/deploy.py builds one (the Gmail stand-in added
to its function, the build check importing it from the function's files), serving its own Gmail and
Google OAuth on its own URL. The local Vercel runs one request per instance, so the consent, the
callback, the token endpoint and every Gmail call land on different instances that share nothing but
the database: connecting, syncing, new mail, a cron run and a disconnect all work through it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
import requests
from cryptography.fernet import Fernet

from app.config import CRON_PATH, TEST_MODE_PATH
from sandbox.vercel.server import LocalVercel
from tests.integration.vercel_helpers import build_app, deploy
from tests.integration.web_helpers import consent

pytestmark = pytest.mark.timeout(600)
DEMO = "demo@example.com"


@dataclass
class Preview:
    vercel: LocalVercel
    url: str
    database_url: str
    cron_secret: str

    def browser(self) -> requests.Session:
        """A browser that passes Deployment Protection (the automation bypass, as Playwright does)."""
        session = requests.Session()
        session.verify, session.trust_env = str(self.vercel.ca), False
        session.headers["x-vercel-protection-bypass"] = self.vercel.state.protection_bypass
        return session

    def admin(self, method: str, path: str, **body: object) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.cron_secret}"}
        return self.browser().request(
            method, f"{self.url}{TEST_MODE_PATH}/_sandbox{path}", json=body or None, headers=headers, timeout=60
        )

    def query(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def preview(
    postgres_admin_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Preview]:
    name = f"test_mode_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f"create database {name} template {template_database}")
    database_url = psycopg.conninfo.make_conninfo(postgres_admin_url, dbname=name)
    try:
        # One invocation per instance: the stand-in's state must reach every instance through the
        # database alone, and with Fluid's sharing these few requests could all land in one.
        with LocalVercel(tmp_path_factory.mktemp("vercel"), function_concurrency=1) as vercel:
            cron_secret = "cron-" + uuid.uuid4().hex + uuid.uuid4().hex
            env = {
                "DATABASE_URL": database_url,
                "CRON_SECRET": cron_secret,
                "JESSIE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
                "SESSION_SECRET": uuid.uuid4().hex * 2,
                "ADMIN_EMAILS": DEMO,
                "JESSIE_QUOTA_UNITS_PER_SECOND": "0",
            }
            requests.put(f"{vercel.url}/_sandbox/env", json={"preview": env}, timeout=10).raise_for_status()
            project = build_app(tmp_path_factory.mktemp("app"), 300, production=False, test_mode=True)
            url = deploy(vercel, project, "--env", "JESSIE_TEST_MODE=1")
            yield Preview(vercel, url, database_url, cron_secret)
    finally:
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            conn.execute(f"drop database {name} with (force)")


def test_the_stand_ins_admin_api_needs_the_cron_secret(preview: Preview) -> None:
    anonymous = preview.browser().get(f"{preview.url}{TEST_MODE_PATH}/_sandbox/accounts", timeout=60)
    assert anonymous.status_code == 401
    listed = preview.admin("GET", "/accounts")
    assert listed.status_code == 200, listed.text
    assert [account["email"] for account in listed.json()["accounts"]] == [DEMO, "patient@example.com"]


def test_connect_sync_new_mail_cron_and_disconnect_through_the_previews_own_stand_in(preview: Preview) -> None:
    browser = preview.browser()
    started = browser.get(preview.url + "/auth/google", allow_redirects=False, timeout=60)
    assert started.status_code == 303
    authorization = started.headers["location"]
    assert authorization.startswith(f"{preview.url}{TEST_MODE_PATH}/o/oauth2/v2/auth?")  # its own, not Google's
    callback = consent(browser, authorization, DEMO)
    assert callback.startswith(f"{preview.url}/auth/callback?")
    done = browser.get(callback, allow_redirects=False, timeout=120)
    assert (done.status_code, done.headers.get("location")) == (303, "/inbox"), done.text[-2000:]
    truth = preview.admin("GET", f"/accounts/{DEMO}/messages").json()["messages"]
    assert preview.query("select count(*) from jessie.messages where deleted_at is null") == [(len(truth),)]
    inbox = browser.get(preview.url + "/inbox", timeout=60)
    assert inbox.status_code == 200 and DEMO in inbox.text

    assert preview.admin("POST", f"/accounts/{DEMO}/messages", count=3).status_code == 201
    cron = browser.get(preview.url + CRON_PATH, headers={"Authorization": f"Bearer {preview.cron_secret}"}, timeout=300)
    assert cron.status_code == 200, cron.text
    assert (cron.json()["run"]["status"], cron.json()["run"]["messages_added"]) == ("ok", 3)

    token = re.search(r'name="csrf" value="([^"]+)"', browser.get(preview.url + "/inbox", timeout=60).text)
    assert token is not None
    gone = browser.post(preview.url + "/auth/disconnect", data={"csrf": token.group(1)}, timeout=60)
    assert gone.status_code == 200 and "Gmail disconnected" in gone.text
    assert preview.query("select count(*) from jessie.accounts") == [(0,)]
    # Many instances served this, sharing the stand-in's state through the database alone.
    deployment = preview.vercel.state.find(preview.url)
    assert deployment is not None
    assert preview.vercel.runtime.pools[deployment.id]["/api/index"].cold_starts >= 2
    versions = preview.query("select version from jessie_test_mode.state")
    assert int(str(versions[0][0])) >= 4  # the consent, the code's exchange, the new mail, the revocation at least
