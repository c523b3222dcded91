"""The product walk, step by step, as a user meets it, against the local stack or a Preview with
test mode (the PR check): connect Gmail on the target's Gmail, Sync now, the first sync's progress,
the inbox with labels and unread, searches, a message, a cron run and its sweep in /runs, the Log
Drain's verification handshake, a phone's width, the pull request's own address, sign-out, a
disconnect. Each walk leaves the mailboxes disconnected, so the next one meets first syncs again.
Each step is a test of its own (the pull
request's comment lists them); they share one browser, in order, like one person's visit. A step
that fails keeps its screenshot and Playwright trace in the report's failures folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from sandbox.gmail.deployed import SEEDED
from tests.e2e.conftest import Target, connect_gmail

CRON = "/api/cron/email-sync"
ADMIN, PATIENT = (email for email, _messages, _seed in SEEDED)
ALIAS = os.environ.get("E2E_ALIAS_URL", "").rstrip("/")  # the pull request's own address, given by the PR check
NO_ALIAS = "no per-PR address to walk (E2E_ALIAS_URL): only a pull request's Preview has one"
PAGE = 50
SLOW_GMAIL_MS = 1500  # so the patient's first sync cannot finish inside connecting's 15 s


@pytest.fixture(scope="module")
def visit(
    browser: Browser, browser_context_args: dict[str, Any], google: Target, pytestconfig: pytest.Config
) -> Iterator[BrowserContext]:
    """One person's browser for the whole walk, traced step by step."""
    context = browser.new_context(**browser_context_args, viewport={"width": 1280, "height": 900})
    context.tracing.start(screenshots=True, snapshots=True)
    for email, messages, seed in SEEDED:  # the local sandbox starts with the admin only; a Preview has them all
        known = [a["email"] for a in google.admin(context.request, "GET", "/accounts")["accounts"]]
        if email not in known:
            google.admin(context.request, "POST", "/accounts", email=email, messages=messages, seed=seed)
    yield context
    context.tracing.stop()
    context.close()


@pytest.fixture(scope="module")
def page(visit: BrowserContext) -> Page:
    return visit.new_page()


@pytest.fixture(autouse=True)
def kept_on_failure(visit: BrowserContext, page: Page, request: pytest.FixtureRequest) -> Iterator[None]:
    """A failed step's screenshot and trace, where pytest-playwright keeps those of other tests."""
    visit.tracing.start_chunk()
    yield
    report = getattr(request.node, "rep_call", None)
    if report is None or not report.failed:
        visit.tracing.stop_chunk()
        return
    folder = request.config.getoption("output")
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.nodeid.lower()).strip("-")
    path = os.path.join(folder, slug)
    os.makedirs(path, exist_ok=True)
    page.screenshot(path=os.path.join(path, "test-failed-1.png"), full_page=True)
    visit.tracing.stop_chunk(path=os.path.join(path, "trace.zip"))


def _truth(google: Target, page: Page, email: str, label: str | None = None) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = google.admin(page.request, "GET", f"/accounts/{email}/messages")["messages"]
    listed = [m for m in messages if not {"SPAM", "TRASH"} & set(m["labelIds"])]
    return [m for m in listed if label in m["labelIds"]] if label else messages


def _fits(page: Page, width: int) -> None:
    """Nothing wider than the window: no sideways scrolling, the header's controls on screen."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    sign_out = page.get_by_role("button", name="Sign out").bounding_box()
    assert sign_out is not None and sign_out["x"] + sign_out["width"] <= width


def test_connect_gmail_on_its_consent_page(page: Page, base_url: str) -> None:
    connect_gmail(page, base_url, ADMIN)
    expect(page.get_by_test_id("signed-in")).to_have_text(ADMIN)


def test_connecting_synced_the_newest_mail_before_the_inbox_opened(page: Page, google: Target) -> None:
    inbox = _truth(google, page, ADMIN, "INBOX")
    messages = page.get_by_test_id("messages").locator("li")
    expect(messages).to_have_count(min(PAGE, len(inbox)))
    expect(messages.first.get_by_role("link")).to_have_attribute("href", f"/inbox/{inbox[0]['id']}")
    expect(page.get_by_test_id("sync-status")).to_contain_text("Last sync ok")
    _fits(page, 1280)


def test_sync_now_answers_at_once_and_sends_one_request(page: Page, base_url: str) -> None:
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
    # Connecting synced just now: the inbox stays, and says when Sync now can run.
    expect(page.get_by_test_id("notice")).to_contain_text("Sync now can run again in")
    expect(page.get_by_test_id("messages").locator("li").first).to_be_visible()
    assert len(posts) == 1


def test_a_large_mailbox_shows_its_first_syncs_progress(
    browser: Browser, browser_context_args: dict[str, Any], page: Page, base_url: str, google: Target
) -> None:
    """Gmail is slow for a moment: connecting stores what it can in its 15 s, the inbox says how far it got."""
    total = len(_truth(google, page, PATIENT))
    other = browser.new_context(**browser_context_args)
    try:
        google.admin(page.request, "PUT", "/faults", latency_ms=SLOW_GMAIL_MS)
        patient = other.new_page()
        connect_gmail(patient, base_url, PATIENT)
    finally:
        google.admin(page.request, "PUT", "/faults")
    progress = patient.get_by_test_id("sync-progress")
    expect(progress).to_contain_text(re.compile(rf"[\d,]+ of {total:,} messages stored"))
    stored = int(re.search(r"([\d,]+) of", progress.inner_text()).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert stored < total
    patient.get_by_role("link", name="Disconnect Gmail…").click()  # so the next walk meets a first sync again
    patient.get_by_test_id("confirm-disconnect").click()
    expect(patient.get_by_role("heading", level=1)).to_have_text("Gmail disconnected")
    other.close()


def test_the_inbox_shows_labels_with_their_mail_and_unread_in_bold(page: Page, base_url: str, google: Target) -> None:
    page.goto(base_url + "/inbox")
    labels = page.get_by_test_id("labels")
    labels.get_by_role("link", name=re.compile("^Sent")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sent")
    messages = page.get_by_test_id("messages").locator("li")
    expect(messages).to_have_count(min(PAGE, len(_truth(google, page, ADMIN, "SENT"))))
    labels.get_by_role("link", name=re.compile("Receipts")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Receipts")
    expect(messages.first.get_by_test_id("chip").filter(has_text="Receipts")).to_be_visible()
    first_page = _truth(google, page, ADMIN, "INBOX")[:PAGE]
    page.goto(base_url + "/inbox")
    unread = sum("UNREAD" in message["labelIds"] for message in first_page)
    expect(page.get_by_test_id("messages").locator('[data-unread="yes"]')).to_have_count(unread)


def test_searches_find_what_gmail_would(page: Page, base_url: str) -> None:
    page.goto(base_url + "/inbox")
    messages = page.get_by_test_id("messages").locator("li")
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
    search = page.get_by_role("searchbox", name="Search mail")
    search.fill("has:attachment newer_than:30y")  # Gmail's operators people type
    search.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Search results")
    expect(messages.first.get_by_role("link")).to_be_visible()
    search = page.get_by_role("searchbox", name="Search mail")
    search.fill("cc:someone")  # one Jessie cannot answer: it says so, and the query and the inbox stay
    search.press("Enter")
    expect(page.get_by_test_id("notice")).to_have_text(re.compile("cannot search by cc:.*Showing Inbox instead"))
    expect(page.get_by_role("searchbox", name="Search mail")).to_have_value("cc:someone")
    expect(page.get_by_role("heading", level=1)).to_have_text("Inbox")
    expect(messages.first.get_by_role("link")).to_be_visible()


def test_a_message_opens(page: Page, base_url: str) -> None:
    page.goto(base_url + "/inbox")
    page.get_by_test_id("messages").locator("li").first.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/inbox/[0-9a-f]+$"))
    expect(page.locator("pre.body")).to_be_visible()
    _fits(page, 1280)


MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec".split()  # en-GB's short months


@pytest.mark.parametrize("script", [True, False], ids=["with script", "without script"])
def test_times_read_in_the_readers_zone(
    browser: Browser, browser_context_args: dict[str, Any], visit: BrowserContext, base_url: str, script: bool
) -> None:
    """As mail apps show them: the time today, day and month this year, the full date before; the
    exact time on hover. Without the script, the UTC time the server wrote."""
    zone = ZoneInfo("Asia/Tokyo")
    args = {**browser_context_args, "timezone_id": "Asia/Tokyo", "locale": "en-GB", "java_script_enabled": script}
    reader = browser.new_context(**args)
    try:
        reader.add_cookies(visit.cookies())  # type: ignore[arg-type]  # the same person, in Tokyo
        page = reader.new_page()
        page.goto(base_url + "/inbox")
        times = page.get_by_test_id("messages").locator("time")
        expect(times.first).to_be_visible()
        for element in times.all()[:10]:
            moment = datetime.fromisoformat(str(element.get_attribute("datetime")))
            if not script:
                expect(element).to_have_text(moment.strftime("%Y-%m-%d %H:%M UTC"))
                continue
            local, now = moment.astimezone(zone), datetime.now(zone)
            day = f"{local.day} {MONTHS[local.month - 1]}"
            if local.date() == now.date():
                expected = local.strftime("%H:%M")
            else:
                expected = day if local.year == now.year else f"{day} {local.year}"
            expect(element).to_have_text(expected)
            expect(element).to_have_attribute("title", re.compile(rf"\b{local.year}\b"))
    finally:
        reader.close()


def test_a_cron_run_syncs_new_mail_and_its_sweep_is_on_runs(page: Page, base_url: str, google: Target) -> None:
    """Vercel runs crons on Production only: the suite calls the endpoint as Vercel Cron would."""
    google.admin(page.request, "POST", f"/accounts/{ADMIN}/messages", count=3)
    answer = page.request.get(base_url + CRON, headers={"Authorization": f"Bearer {google.cron_secret}"})
    assert answer.status == 200, answer.text()
    body = answer.json()
    assert body["sweep"]["begun"] is True and body["run"]["status"] == "ok"
    assert body["run"]["messages_added"] == 3
    page.goto(base_url + "/inbox")
    newest = _truth(google, page, ADMIN, "INBOX")[0]
    expect(page.get_by_test_id("messages").locator("li").first.get_by_role("link")).to_have_attribute(
        "href", f"/inbox/{newest['id']}"
    )
    page.goto(base_url + "/runs")
    first = page.get_by_test_id("runs").locator("tbody tr").first
    expect(first).to_have_attribute("data-kind", "sweep")
    expect(first.get_by_role("link")).to_have_attribute("href", f"/runs/sweeps/{body['sweep']['id']}")
    expect(page.locator("svg.chart")).to_have_count(3)
    emails = page.locator("svg.chart").first  # per hour, on a time axis: the sweep's hour has a bar
    expect(emails.locator("text.tick").filter(has_text=re.compile(r"^\d\d:00$")).first).to_be_visible()
    started = datetime.fromisoformat(first.locator("time").get_attribute("datetime") or "")
    hour = started.replace(minute=0, second=0, microsecond=0).isoformat()
    assert float(emails.locator(f'g.bar[data-key="{hour}"] rect').get_attribute("height") or 0) > 0


def test_the_log_drain_endpoint_answers_vercels_verification(page: Page, base_url: str) -> None:
    answer = page.request.get(base_url + "/api/log-drain")
    assert (answer.status, answer.json()) == (200, {"ok": True})
    expected = os.environ.get("E2E_DRAIN_VERIFY")  # the team's code, when the PR check knows it
    if expected:
        assert answer.headers.get("x-vercel-verify") == expected


def test_the_mailbox_fits_a_phone(page: Page, base_url: str) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/inbox", "/runs"):
        page.goto(base_url + path)
        _fits(page, 390)
    heights = "[...document.querySelectorAll('svg.chart text')].map(text => text.getBoundingClientRect().height)"
    assert min(page.evaluate(heights)) >= 9  # /runs's chart text not shrunk past reading
    page.set_viewport_size({"width": 1280, "height": 900})


def test_the_pull_requests_address_serves_this_preview(page: Page, base_url: str) -> None:
    if not ALIAS:
        pytest.skip(NO_ALIAS)
    here, there = page.request.get(base_url + "/api/health"), page.request.get(ALIAS + "/api/health")
    assert there.status == 200, there.text()
    assert there.json()["commit"] == here.json()["commit"]


def test_gmail_connects_on_the_pull_requests_address(page: Page, google: Target) -> None:
    """The consent's answer goes to the one callback the Preview registers, and is handed back to
    the address (the Preview's relay patterns name it), where the flow began."""
    if not ALIAS:
        pytest.skip(NO_ALIAS)
    connect_gmail(page, ALIAS, ADMIN)
    expect(page.get_by_test_id("messages").locator("li").first).to_be_visible()
    expect(page.get_by_test_id("signed-in")).to_have_text(ADMIN)


def test_after_sign_out_a_saved_session_cookie_opens_nothing(
    page: Page, visit: BrowserContext, browser: Browser, browser_context_args: dict[str, Any], base_url: str
) -> None:
    page.goto(base_url + "/inbox")  # still signed in here since the first step
    expect(page.get_by_test_id("signed-in")).to_have_text(ADMIN)
    saved = visit.cookies()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_test_id("notice")).to_contain_text("You are signed out")
    expect(page.get_by_test_id("connect-gmail")).to_be_visible()
    replayed = browser.new_context(**browser_context_args)
    try:
        replayed.add_cookies(saved)  # type: ignore[arg-type]  # a Cookie is a SetCookieParam
        other = replayed.new_page()
        other.goto(base_url + "/inbox")
        expect(other).to_have_url(base_url + "/")  # sent home: the session ended on the server
        assert other.request.get(base_url + "/api/runs").status == 401
    finally:
        replayed.close()


def test_disconnect_says_what_goes_and_deletes_it(page: Page, base_url: str, google: Target) -> None:
    connect_gmail(page, base_url, ADMIN)
    total = len(_truth(google, page, ADMIN))
    page.get_by_role("link", name="Disconnect Gmail…").click()
    expect(page.get_by_test_id("disconnect-effects")).to_contain_text(f"delete the {total} messages")
    page.get_by_test_id("confirm-disconnect").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Gmail disconnected")
    page.goto(base_url + "/inbox")
    expect(page.get_by_test_id("connect-gmail")).to_be_visible()  # signed out, nothing left to show
