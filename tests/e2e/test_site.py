"""What a visitor, Vercel Cron and a newcomer see, in a real Chromium."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from playwright.sync_api import Page, expect

CRON = "/api/cron/email-sync"
DEMO = "demo@example.com"


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


def _fits(page: Page, width: int) -> None:
    """Nothing wider than the window: no sideways scrolling, the header's controls on screen."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    sign_out = page.get_by_role("button", name="Sign out").bounding_box()
    assert sign_out is not None and sign_out["x"] + sign_out["width"] <= width


@pytest.mark.local
@pytest.mark.parametrize("width", [390, 1280])
def test_a_newcomer_walks_the_mailbox(page: Page, base_url: str, local_stack: Any, width: int) -> None:
    """Connect → the newest mail without pressing anything → label views → search with operators
    → a message → the runs → disconnect, after a confirmation that says what goes."""
    page.set_viewport_size({"width": width, "height": 900})
    truth = page.request.get(f"{local_stack.sandbox_url}/_sandbox/accounts/{DEMO}/messages").json()
    inbox_truth = [
        m for m in truth["messages"] if "INBOX" in m["labelIds"] and not {"SPAM", "TRASH"} & set(m["labelIds"])
    ]
    page.goto(base_url + "/")
    page.get_by_test_id("connect-gmail").click()
    expect(page).to_have_title("Sign in - Google Accounts")  # the sandbox's consent page
    page.get_by_label(DEMO).check()
    page.get_by_role("button", name="Allow").click()
    expect(page).to_have_url(base_url + "/inbox")
    messages = page.get_by_test_id("messages").locator("li")
    expect(messages).to_have_count(min(50, len(inbox_truth)))  # synced while connecting
    expect(messages.first.get_by_role("link")).to_have_attribute("href", f"/inbox/{inbox_truth[0]['id']}")
    expect(page.get_by_test_id("sync-status")).to_contain_text("Last sync ok")
    _fits(page, width)

    labels = page.get_by_test_id("labels")
    labels.get_by_role("link", name=re.compile("^Sent")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sent")
    sent = [m for m in truth["messages"] if "SENT" in m["labelIds"] and not {"SPAM", "TRASH"} & set(m["labelIds"])]
    expect(messages).to_have_count(min(50, len(sent)))
    labels.get_by_role("link", name=re.compile("Receipts")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Receipts")
    expect(messages.first.get_by_test_id("chip").filter(has_text="Receipts")).to_be_visible()
    _fits(page, width)

    search = page.get_by_role("searchbox", name="Search mail")
    search.fill("is:unread label:receipts")
    search.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Search results")
    expect(messages.first).to_have_attribute("data-unread", "yes")  # something is found
    for item in messages.all():
        expect(item).to_have_attribute("data-unread", "yes")
        expect(item.get_by_test_id("chip").filter(has_text="Receipts")).to_be_visible()
    search = page.get_by_role("searchbox", name="Search mail")
    search.fill('from:nobody-at-all "no such phrase"')
    search.press("Enter")
    expect(messages).to_have_text(re.compile("No mail matches"))

    page.goto(base_url + "/inbox")
    messages.first.get_by_role("link").click()
    expect(page.locator("pre.body")).to_be_visible()
    _fits(page, width)

    page.goto(base_url + "/runs")
    expect(page.get_by_test_id("runs").locator("tbody tr").first).to_contain_text("connect")
    expect(page.locator("svg.chart")).to_have_count(3)
    _fits(page, width)

    # "Sync now" answers at once and cannot be sent twice: press it, read the button, press again.
    page.goto(base_url + "/inbox")
    posts: list[Any] = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" and r.url.endswith("/inbox/sync") else None)
    with page.expect_navigation():
        state = page.evaluate(
            """() => {
                 const form = document.querySelector("form[data-busy]"), button = form.querySelector("button");
                 button.click();
                 const seen = [button.disabled, button.textContent];
                 form.requestSubmit();
                 button.click();
                 return seen;
               }"""
        )
    assert state == [True, "Syncing…"]
    expect(page.get_by_role("heading", level=1)).to_have_text("Not so fast")  # connecting synced just now
    assert len(posts) == 1

    page.goto(base_url + "/inbox")
    page.get_by_role("link", name="Disconnect Gmail…").click()
    expect(page.get_by_test_id("disconnect-effects")).to_contain_text(f"delete the {len(truth['messages'])} messages")
    page.get_by_test_id("confirm-disconnect").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Gmail disconnected")
    page.goto(base_url + "/inbox")
    expect(page.get_by_test_id("connect-gmail")).to_be_visible()  # signed out, nothing left to show


@pytest.mark.local
def test_development_shows_the_working_trees_commit(page: Page, base_url: str) -> None:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
    page.goto(base_url + "/")
    expect(page.get_by_test_id("commit")).to_have_text(re.compile(rf"^{head.stdout.strip()}(\+changes)?$"))


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
