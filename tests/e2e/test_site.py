"""What a visitor and Vercel Cron see anywhere (the smoke, Production included), and what only a
local stack can show; the product walk is test_walk.py."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import connect_gmail

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


@pytest.mark.local(reason="development shows the working tree's commit; a deployment shows its own (the home test)")
def test_development_shows_the_working_trees_commit(page: Page, base_url: str) -> None:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
    page.goto(base_url + "/")
    expect(page.get_by_test_id("commit")).to_have_text(re.compile(rf"^{head.stdout.strip()}(\+changes)?$"))


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


@pytest.mark.local(
    reason="needs a page of its own on a sibling origin of the app's site; a Preview's site is vercel.app"
)
def test_a_page_on_a_sibling_origin_cannot_disconnect_or_sync(
    page: Page, base_url: str, sibling_origin: tuple[str, list[str]]
) -> None:
    connect_gmail(page, base_url, DEMO)
    runs_before = page.request.get(base_url + "/api/runs").json()["runs"]
    page.goto(sibling_origin[0])
    expect(page.get_by_test_id("detail")).to_contain_text("nothing was changed")  # the form post, refused
    assert page.request.get(base_url + "/api/runs").json()["runs"] == runs_before  # the fetch, refused too
    page.goto(base_url + "/inbox")
    expect(page).to_have_url(base_url + "/inbox")  # still connected and signed in
    expect(page.get_by_test_id("signed-in")).to_have_text("demo@example.com")
    page.get_by_role("link", name="Disconnect Gmail…").click()  # as each walk does: the next connect is a first
    page.get_by_test_id("confirm-disconnect").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Gmail disconnected")
