"""What an attack run and a fault run found, each reproduced against the running app: CSRF,
sessions that outlive sign-out, input that crashed queries, OAuth edges, missing headers."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from app.data import mailbox
from tests.conftest import Sandbox, make_settings
from tests.integration.sync_helpers import query
from tests.integration.web_helpers import Web, connect, consent, post_form, query_of, serve, start_consent

ALICE = "alice@example.com"
CRON = "/api/cron/email-sync"
SECURITY = {"content-security-policy", "x-frame-options", "x-content-type-options", "cache-control"}


def _secured(response: requests.Response) -> bool:
    return {name.lower() for name in response.headers} >= SECURITY and response.headers["cache-control"] == "no-store"


# ---- 1. CSRF -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/auth/disconnect", "/inbox/sync", "/auth/logout"])
def test_a_post_from_another_site_or_without_the_token_changes_nothing(web: Web, sandbox: Sandbox, path: str) -> None:
    browser = connect(web, sandbox, ALICE, messages=3)
    token = re.search(r'name="csrf" value="([^"]+)"', browser.get(web.url + "/inbox", timeout=10).text)
    assert token is not None
    runs_before = query(web.pool, "select count(*) from jessie.sync_runs")  # connecting synced once
    # Another port of localhost is the same site: the browser sends the cookie, and says so.
    from_sibling = browser.post(
        web.url + path, data={"csrf": token.group(1)}, headers={"Sec-Fetch-Site": "same-site"}, timeout=10
    )
    without_token = browser.post(web.url + path, data={}, timeout=10)
    for refused in (from_sibling, without_token):
        assert refused.status_code == 403
        assert "nothing was changed" in refused.text
        assert _secured(refused)
    assert query(web.pool, "select count(*) from jessie.accounts") == [(1,)]
    assert query(web.pool, "select count(*) from jessie.sync_runs") == runs_before
    assert browser.get(web.url + "/inbox", allow_redirects=False, timeout=10).status_code == 200  # still signed in


# ---- 2. sessions end on the server ---------------------------------------------------------


def _admin_web(database_url: str, sandbox: Sandbox, tmp_path: Path) -> Any:
    return serve(make_settings(database_url, sandbox.url, tmp_path, admin_emails=ALICE))


def test_sign_out_ends_the_session_for_a_saved_cookie_too(database_url: str, sandbox: Sandbox, tmp_path: Path) -> None:
    for running in _admin_web(database_url, sandbox, tmp_path):
        browser = connect(running, sandbox, ALICE, messages=1)
        saved = browser.cookies.get("jessie_session")
        assert browser.get(running.url + "/api/runs", timeout=10).status_code == 200
        assert post_form(browser, running, "/auth/logout", allow_redirects=False).status_code == 303
        thief = requests.Session()
        thief.cookies.set("jessie_session", str(saved))
        assert thief.get(running.url + "/api/runs", timeout=10).status_code == 401
        assert thief.get(running.url + "/inbox", allow_redirects=False, timeout=10).headers["location"] == "/"


def test_disconnect_ends_every_session_and_a_reconnect_does_not_revive_them(
    database_url: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    for running in _admin_web(database_url, sandbox, tmp_path):
        laptop = connect(running, sandbox, ALICE, messages=1)
        phone = connect(running, sandbox, ALICE)
        saved = phone.cookies.get("jessie_session")
        post_form(laptop, running, "/auth/disconnect")
        assert phone.get(running.url + "/api/runs", timeout=10).status_code == 401
        connect(running, sandbox, ALICE)  # the user connects again, elsewhere
        old = requests.Session()
        old.cookies.set("jessie_session", str(saved))
        assert old.get(running.url + "/api/runs", timeout=10).status_code == 401


@pytest.mark.parametrize(
    "age",
    [
        "last_seen_at = now() - interval '8 days'",  # idle for longer than a week
        "created_at = now() - interval '31 days', last_seen_at = now()",  # older than 30 days however used
    ],
)
def test_sessions_have_an_idle_and_an_absolute_lifetime(
    database_url: str, sandbox: Sandbox, tmp_path: Path, age: str
) -> None:
    for running in _admin_web(database_url, sandbox, tmp_path):
        browser = connect(running, sandbox, ALICE, messages=1)
        assert browser.get(running.url + "/api/runs", timeout=10).status_code == 200
        with running.pool.connection() as conn:
            conn.execute(f"update jessie.sessions set {age}")  # noqa: S608 -- the test's own constants
        assert browser.get(running.url + "/api/runs", timeout=10).status_code == 401


# ---- 4. input at the edge ------------------------------------------------------------------


def test_input_that_crashed_queries_gets_clear_pages_with_the_headers(web: Web, sandbox: Sandbox) -> None:
    browser = connect(web, sandbox, ALICE, messages=3)
    nul_search = browser.get(web.url + "/inbox?q=%00", timeout=10)
    nul_id = browser.get(web.url + "/inbox/x%00y", timeout=10)
    forged_page = browser.get(web.url + "/inbox?before=yesterday|x", timeout=10)
    odd_label = browser.get(web.url + "/inbox?label=../INBOX", timeout=10)
    missing = browser.get(web.url + "/no-such-page", timeout=10)
    answers = (nul_search, nul_id, forged_page, odd_label, missing)
    assert [r.status_code for r in answers] == [400, 404, 400, 400, 404]
    for response in answers:
        assert _secured(response)
        assert response.headers["content-type"].startswith("text/html")
    assert "cannot contain NUL" in nul_search.text
    assert "page link is not valid" in forged_page.text
    assert "label" in odd_label.text


@pytest.mark.parametrize("text", ["%", "_", "50%_off\\", "a:b:c", '"unclosed', "( ) | & ! <->", "-"])
def test_punctuation_in_a_search_is_text_not_syntax(web: Web, sandbox: Sandbox, text: str) -> None:
    browser = connect(web, sandbox, ALICE, messages=40, seed=3)
    everything = browser.get(web.url + "/inbox", timeout=10).text.count('href="/inbox/')
    assert everything > 0
    searched = browser.get(web.url + "/inbox", params={"q": text}, timeout=10)
    assert searched.status_code == 200
    assert searched.text.count('href="/inbox/') < everything


def test_an_unexpected_error_is_a_page_with_the_headers(
    web: Web, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = connect(web, sandbox, ALICE, messages=1)

    def broken(*_args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(mailbox, "page", broken)
    crashed = browser.get(web.url + "/inbox", timeout=10)
    assert crashed.status_code == 500
    assert "Something went wrong" in crashed.text and "a bug" not in crashed.text
    assert _secured(crashed)


# ---- 5. the cron names what is missing -----------------------------------------------------


def test_the_cron_names_a_missing_encryption_key(database_url: str, sandbox: Sandbox, tmp_path: Path) -> None:
    settings = make_settings(
        database_url,
        sandbox.url,
        tmp_path,
        vercel_env="production",
        cron_secret="kX3v9Qm2Lp7Rt5Wz8Nc4Hd6Jf1Gb0Ys-_Ue",
        session_secret="Zq8Wm1Ny5Bx3Vc7Lk9Pj2Hg4Fd6Sa0Qe-_Rt",
        jessie_encryption_key=None,
    )
    for running in serve(settings):
        answer = requests.get(
            running.url + CRON, headers={"Authorization": "Bearer kX3v9Qm2Lp7Rt5Wz8Nc4Hd6Jf1Gb0Ys-_Ue"}, timeout=30
        )
        assert answer.status_code == 500
        assert "JESSIE_ENCRYPTION_KEY is not set" in answer.json()["error"]


# ---- 6. OAuth edges ------------------------------------------------------------------------


def test_starting_the_flow_stores_nothing(web: Web, sandbox: Sandbox) -> None:
    for _ in range(20):
        assert requests.get(web.url + "/auth/google", allow_redirects=False, timeout=10).status_code == 303
    tables = query(
        web.pool, "select count(*) from pg_tables where schemaname = 'jessie' and tablename like %s", "oauth%"
    )
    assert tables == [(0,)]


def test_a_forged_callback_does_not_break_a_sign_in_in_progress(web: Web, sandbox: Sandbox) -> None:
    sandbox.create_account(ALICE)
    browser = requests.Session()
    authorization = start_consent(web, browser)
    forged = browser.get(web.url + "/auth/callback?error=access_denied", timeout=10)
    assert forged.status_code == 400
    assert "not valid" in forged.text
    assert "jessie_oauth" in browser.cookies  # the genuine flow goes on
    done = browser.get(consent(browser, authorization, ALICE), allow_redirects=False, timeout=30)
    assert (done.status_code, done.headers["location"]) == (303, "/inbox")


@pytest.mark.parametrize(
    ("code", "shown"),
    [
        ("access_denied", "You denied Jessie access to Gmail"),
        ("admin_policy_enforced", "Workspace administrator does not allow"),
        ("<script>alert(1)</script>", "Google did not connect Gmail to Jessie"),
    ],
)
def test_googles_error_codes_are_shown_in_our_words(web: Web, sandbox: Sandbox, code: str, shown: str) -> None:
    sandbox.create_account(ALICE)
    browser = requests.Session()
    callback = consent(browser, start_consent(web, browser), ALICE, decision="deny")
    state = re.search(r"state=([^&]+)", callback)
    assert state is not None
    answer = browser.get(web.url + "/auth/callback", params={"error": code, "state": state.group(1)}, timeout=10)
    assert shown in answer.text
    assert code not in answer.text or code == "access_denied"


def test_the_redirect_uri_comes_from_configuration_not_from_headers(web: Web) -> None:
    spoofed = requests.get(
        web.url + "/auth/google",
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
        allow_redirects=False,
        timeout=10,
    )
    assert "evil.example" not in spoofed.headers["location"]
    assert f"redirect_uri={quote(web.url + '/auth/callback', safe='')}" in spoofed.headers["location"]


@pytest.mark.parametrize(
    "hostile",
    [
        "https://jessie-x.attacker.test/?-yourteam.vercel.app",
        "https://jessie-x@attacker.test/-yourteam.vercel.app",
        "https://jessie-x.attacker.test#-yourteam.vercel.app",
        "https://jessie-x.attacker.test-yourteam.vercel.app",
        "https://jessie-x-yourteam.vercel.app.attacker.test",
        "http://jessie-x-yourteam.vercel.app",
    ],
)
def test_the_relay_never_hands_a_victims_code_to_a_host_its_patterns_do_not_describe(
    web: Web, sandbox: Sandbox, hostile: str
) -> None:
    """The takeover the attack run found: the attacker starts a flow, swaps the origin in its state
    for its own host, and sends the victim Google's link; the victim consents as usual."""
    web.serve_with(oauth_relay_origins="https://jessie-*-yourteam.vercel.app")
    sandbox.create_account(ALICE, messages=1)
    attacker = requests.Session()
    link = start_consent(web, attacker)
    nonce = query_of(link)["state"][0].split("~")[0]
    swapped = nonce + "~" + base64.urlsafe_b64encode(hostile.encode()).decode().rstrip("=")
    link = link.replace(f"state={nonce}", f"state={swapped}")
    victim = requests.Session()
    callback = consent(victim, link, ALICE)  # Google sends the victim back with the code
    answer = victim.get(callback, allow_redirects=False, timeout=10)
    assert answer.status_code == 400
    assert "location" not in answer.headers and "This sign-in link is not valid" in answer.text
    assert query(web.pool, "select count(*) from jessie.sessions") == [(0,)]
    forged = victim.get(web.url + "/auth/callback", params={"code": "c", "state": "forged"}, timeout=10)
    assert answer.text.replace(callback, "") == forged.text.replace(callback, "")  # the forged state's page


def _sign_in_again(web: Web, browser: requests.Session) -> None:
    done = browser.get(consent(browser, start_consent(web, browser), ALICE), allow_redirects=False, timeout=30)
    assert (done.status_code, done.headers["location"]) == (303, "/inbox")


def test_connecting_again_buys_no_second_first_sync_and_one_browser_keeps_one_session(
    web: Web, sandbox: Sandbox
) -> None:
    """Each completed callback bought ~15 s of server time and a first sync's Gmail units, and
    added a session row, without limit."""
    browser = connect(web, sandbox, ALICE, messages=30)
    for _ in range(3):
        _sign_in_again(web, browser)
    assert query(web.pool, "select count(*) from jessie.sessions") == [(1,)]
    _sign_in_again(web, requests.Session())  # the same user on another device, minutes later
    connect_syncs = "select count(*) from jessie.sync_runs where trigger = 'connect'"
    assert query(web.pool, connect_syncs) == [(1,)]
    # Disconnected, the mail is gone: connecting again syncs it again, but a loop buys at most three an hour.
    for _ in range(4):
        post_form(browser, web, "/auth/disconnect")
        _sign_in_again(web, browser)
    assert query(web.pool, connect_syncs) == [(3,)]
    # The fourth and fifth connects left the account connected, for the hourly sync to fill.
    assert query(web.pool, "select count(*), min(status) from jessie.accounts") == [(1, "active")]
    assert query(web.pool, "select count(*) from jessie.messages") == [(0,)]


def test_a_user_has_at_most_twenty_sessions(web: Web, sandbox: Sandbox) -> None:
    connect(web, sandbox, ALICE, messages=1)
    for _ in range(24):
        _sign_in_again(web, requests.Session())
    assert query(web.pool, "select count(*) from jessie.sessions where email = %s", ALICE) == [(20,)]


# ---- 7. headers ----------------------------------------------------------------------------


def test_private_pages_are_never_cached_and_https_gets_hsts(web: Web, sandbox: Sandbox) -> None:
    browser = connect(web, sandbox, ALICE, messages=1)
    for path in ("/inbox", "/api/health"):
        assert browser.get(web.url + path, timeout=10).headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in {name.lower() for name in browser.get(web.url + "/").headers}
    over_https = browser.get(web.url + "/", headers={"X-Forwarded-Proto": "https"}, timeout=10)
    assert over_https.headers["strict-transport-security"].startswith("max-age=")


def test_no_page_can_be_framed_post_elsewhere_or_rebase_its_links(web: Web, sandbox: Sandbox) -> None:
    browser = connect(web, sandbox, ALICE, messages=1)
    answers = [
        browser.get(web.url + "/inbox", timeout=10),
        browser.get(web.url + "/no-such-page", timeout=10),  # an error page
        requests.get(web.url + "/api/health", timeout=10),
    ]
    for answer in answers:
        policy = {part.strip() for part in answer.headers["content-security-policy"].split(";")}
        assert {"frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"} <= policy
        assert answer.headers["x-frame-options"] == "DENY"


def test_only_the_static_files_may_be_kept_and_for_a_day(web: Web) -> None:
    """The favicon and the script hold no mail: cached for a day on purpose; everything else no-store."""
    for path in ("/favicon.ico", "/static/favicon.svg", "/static/jessie.js"):
        assert requests.get(web.url + path, timeout=10).headers["cache-control"] == "public, max-age=86400"
    for path in ("/", "/api/health", "/auth/google", "/no-such-page"):
        answer = requests.get(web.url + path, allow_redirects=False, timeout=10)
        assert answer.headers["cache-control"] == "no-store", path
