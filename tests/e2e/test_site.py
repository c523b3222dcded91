"""What a visitor, Vercel Cron and a newcomer see, in a real Chromium."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from playwright.sync_api import Page, expect

CRON = "/api/cron/email-sync"


@pytest.mark.smoke
def test_home_shows_the_environment_and_the_commit(page: Page, base_url: str) -> None:
    page.goto(base_url + "/")
    environment = page.get_by_test_id("environment")
    expect(environment).to_have_text(re.compile(r"^(development|preview|production)$"))
    commit = page.get_by_test_id("commit").inner_text().strip()
    expected = os.environ.get("EXPECTED_COMMIT")
    if expected:  # proof that this is the deployment of the commit under test
        assert commit == expected
    expect(page.get_by_test_id("connect-gmail")).to_be_visible()


@pytest.mark.smoke
def test_health(page: Page, base_url: str) -> None:
    response = page.request.get(base_url + "/api/health")
    assert response.status == 200, response.text()
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "reachable"
    assert body["migrations"] == "current"
    if os.environ.get("EXPECTED_COMMIT"):
        assert body["commit"] == os.environ["EXPECTED_COMMIT"]


@pytest.mark.smoke
@pytest.mark.parametrize("authorization", [None, "Bearer certainly-not-the-secret"])
def test_the_cron_endpoint_refuses_without_the_secret(page: Page, base_url: str, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = page.request.get(base_url + CRON, headers=headers, max_redirects=0)
    assert response.status == 401
    assert response.json() == {"error": "unauthorized"}


@pytest.mark.local
def test_a_newcomer_connects_gmail_and_sees_mail_and_the_run(page: Page, base_url: str, local_stack: Any) -> None:
    page.goto(base_url + "/")
    page.get_by_test_id("connect-gmail").click()
    expect(page).to_have_title("Sign in - Google Accounts")  # the sandbox's consent page
    page.get_by_label("demo@example.com").check()
    page.get_by_role("button", name="Allow").click()
    expect(page).to_have_url(base_url + "/inbox")
    expect(page.get_by_test_id("sync-status")).to_contain_text("not synced yet")

    cron = local_stack.call_cron()  # what Vercel Cron does on the hour
    assert cron.status_code == 200, cron.text
    assert cron.json()["message"] == "Email sync completed"
    page.reload()
    rows = page.get_by_test_id("messages").locator("tbody tr")
    expect(rows).to_have_count(50)  # the first page of 60 synced messages
    expect(page.get_by_test_id("sync-status")).to_contain_text("last sync ok")
    rows.first.get_by_role("link").click()
    expect(page.locator("pre.body")).to_be_visible()

    page.goto(base_url + "/runs")
    runs = page.get_by_test_id("runs").locator("tbody tr")
    newest = runs.first
    expect(newest).to_contain_text("ok")
    expect(newest.locator("td").nth(4)).to_have_text("60")  # emails synced by the cron run
    expect(page.locator("svg.chart")).to_have_count(3)


def _sign_in(page: Page, base_url: str) -> None:
    page.goto(base_url + "/")
    page.get_by_test_id("connect-gmail").click()
    page.get_by_label("demo@example.com").check()
    page.get_by_role("button", name="Allow").click()
    expect(page).to_have_url(base_url + "/inbox")


@pytest.fixture
def sibling_origin(base_url: str) -> Iterator[tuple[str, list[str]]]:
    """A page on another port of the same host: the same site to the browser, not our origin.
    It auto-submits a Disconnect form, and fetch()es a Sync now with the user's cookies."""
    app = base_url.rstrip("/")
    html = f"""<!doctype html><title>Win a prize</title>
<form id="f" method="post" action="{app}/auth/disconnect"><input name="csrf" value="guessed"></form>
<script>
fetch("{app}/inbox/sync", {{method: "POST", credentials: "include", mode: "no-cors",
                           body: new URLSearchParams({{csrf: "guessed"}})}})
  .finally(() => document.getElementById("f").submit());
</script>""".encode()

    class Prize(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *_args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Prize)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host = "localhost" if "://localhost" in app else "127.0.0.1"
    try:
        yield f"http://{host}:{server.server_address[1]}/", []
    finally:
        server.shutdown()
        thread.join()


@pytest.mark.local
def test_a_page_on_a_sibling_origin_cannot_disconnect_or_sync(
    page: Page, base_url: str, sibling_origin: tuple[str, list[str]]
) -> None:
    _sign_in(page, base_url)
    runs_before = page.request.get(base_url + "/api/runs").json()["runs"]
    page.goto(sibling_origin[0])
    expect(page.get_by_test_id("detail")).to_contain_text("nothing was changed")  # the form post, refused
    assert page.request.get(base_url + "/api/runs").json()["runs"] == runs_before  # the fetch, refused too
    page.goto(base_url + "/inbox")
    expect(page).to_have_url(base_url + "/inbox")  # still connected and signed in
    expect(page.get_by_test_id("signed-in")).to_have_text("demo@example.com")


@pytest.mark.local
def test_after_sign_out_a_saved_session_cookie_opens_nothing(page: Page, base_url: str, browser: Any) -> None:
    _sign_in(page, base_url)
    saved = page.context.cookies()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_test_id("connect-gmail")).to_be_visible()
    replayed = browser.new_context(**({"ignore_https_errors": True} if base_url.startswith("https") else {}))
    try:
        replayed.add_cookies(saved)
        other = replayed.new_page()
        other.goto(base_url + "/inbox")
        expect(other).to_have_url(base_url + "/")  # sent home: the session ended on the server
        assert other.request.get(base_url + "/api/runs").status == 401
    finally:
        replayed.close()
