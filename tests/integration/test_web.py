"""Route tests: the app on a loopback port, real Postgres, the Gmail sandbox as Google."""

from __future__ import annotations

import base64
import re
from datetime import UTC
from pathlib import Path

import pytest
import requests

from app.config import Settings
from app.db.migrate import load_migrations
from tests.conftest import Sandbox, make_settings
from tests.integration.sync_helpers import add_account, query
from tests.integration.web_helpers import Web, connect, consent, post_form, query_of, serve, start_consent

ALICE, BOB = "alice@example.com", "bob@example.com"
CRON = "/api/cron/email-sync"


def _runs(web: Web) -> int:
    pool = web.pool
    if pool is None:
        return 0
    with pool.connection() as conn:
        return int(conn.execute("select count(*) from jessie.sync_runs").fetchone()[0])  # type: ignore[index]


# ---- the cron endpoint -----------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-secret", "test-cron-secret", "Basic test-cron-secret", "Bearer "]
)
def test_cron_refuses_without_the_secret_and_does_no_work(web: Web, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = requests.get(web.url + CRON, headers=headers, timeout=10, allow_redirects=False)
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized"}
    assert _runs(web) == 0


def test_cron_with_the_secret_runs_a_sync(web: Web, sandbox: Sandbox, settings: Settings) -> None:
    assert requests.get(web.url + CRON, timeout=5).status_code == 401
    assert web.app.state.pool is None  # refused before even a database connection
    browser = connect(web, sandbox, ALICE, messages=40, seed=1)  # connecting synced these
    sandbox.admin("POST", f"/accounts/{ALICE}/messages", count=5)
    response = requests.get(
        web.url + CRON,
        headers={"Authorization": "Bearer test-cron-secret", "User-Agent": "vercel-cron/1.0"},
        timeout=60,
        allow_redirects=False,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Email sync completed"
    assert (body["run"]["status"], body["run"]["messages_added"], body["run"]["accounts_ok"]) == ("ok", 5, 1)
    assert query(web.pool, "select trigger from jessie.sync_runs order by id") == [("connect",), ("cron",)]
    assert "test-cron-secret" not in response.text
    in_inbox = query(
        web.pool,
        """select count(distinct thread_id) from jessie.messages where 'INBOX' = any(label_ids)
           and not label_ids && array['SPAM', 'TRASH']""",
    )[0][0]
    assert browser.get(web.url + "/inbox", timeout=10).text.count('href="/inbox/') == in_inbox >= 5


def test_cron_reports_a_failed_run_with_500(web: Web, sandbox: Sandbox) -> None:
    connect(web, sandbox, ALICE, messages=3)
    sandbox.admin("POST", f"/accounts/{ALICE}/revoke")
    response = requests.get(web.url + CRON, headers={"Authorization": "Bearer test-cron-secret"}, timeout=60)
    assert response.status_code == 500
    assert response.json()["message"] == "Email sync failed"
    assert response.json()["run"]["accounts_failed"] == 1


def test_cron_never_redirects(web: Web) -> None:
    response = requests.get(
        web.url + CRON + "/", headers={"Authorization": "Bearer test-cron-secret"}, allow_redirects=False, timeout=10
    )
    assert response.status_code == 404


def test_an_unset_cron_secret_outside_development_is_a_500_naming_it(
    database_url: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = make_settings(database_url, sandbox.url, tmp_path, vercel_env="production", cron_secret=None)
    for running in serve(settings):
        for authorization in ("Bearer ", "Bearer anything", None):
            headers = {"Authorization": authorization} if authorization else {}
            response = requests.get(running.url + CRON, headers=headers, timeout=10)
            assert response.status_code == 500
            assert response.json() == {"error": "CRON_SECRET is not set (required in the production environment)"}
        assert _runs(running) == 0


# ---- health and pages ------------------------------------------------------------------


@pytest.mark.parametrize("environment", ["development", "preview", "production"])
def test_health_in_each_environment(database_url: str, sandbox: Sandbox, tmp_path: Path, environment: str) -> None:
    settings = make_settings(database_url, sandbox.url, tmp_path, vercel_env=environment, commit_sha="abc1234")
    for running in serve(settings):
        response = requests.get(running.url + "/api/health", timeout=10)
        assert response.status_code == 200
        assert response.json() == {
            "status": "ok",
            "environment": environment,
            "commit": "abc1234",
            "database": "reachable",
            "migrations": "current",
        }
        home = requests.get(running.url + "/", timeout=10).text
        assert f'data-testid="environment">{environment}<' in home
        assert 'data-testid="commit">abc1234<' in home
        assert "test-cron-secret" not in home and "test-session-secret" not in home


def test_health_reports_pending_migrations_and_an_unreachable_database(
    postgres_admin_url: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    import psycopg

    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute("create database health_unmigrated")
    try:
        url = psycopg.conninfo.make_conninfo(postgres_admin_url, dbname="health_unmigrated")
        for running in serve(make_settings(url, sandbox.url, tmp_path)):
            response = requests.get(running.url + "/api/health", timeout=10)
            assert response.status_code == 503
            assert response.json()["status"] == "degraded"
            assert response.json()["migrations"]["pending"] == [m.version for m in load_migrations()]
    finally:
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            conn.execute("drop database health_unmigrated with (force)")
    gone = make_settings("postgresql://nobody:secret-pw@127.0.0.1:1/none", sandbox.url, tmp_path)
    for running in serve(gone):
        response = requests.get(running.url + "/api/health", timeout=30)
        assert response.status_code == 503
        assert response.json()["database"].startswith("unreachable")
        assert "secret-pw" not in response.text


# ---- connecting Gmail --------------------------------------------------------------------


def test_connect_gmail_end_to_end(web: Web, sandbox: Sandbox, settings: Settings) -> None:
    created = sandbox.create_account(ALICE, messages=5)
    browser = requests.Session()
    authorization = start_consent(web, browser)
    params = query_of(authorization)
    assert authorization.startswith(sandbox.url + "/o/oauth2/v2/auth?")
    assert params["scope"] == ["https://www.googleapis.com/auth/gmail.readonly"]
    assert (params["access_type"], params["prompt"], params["code_challenge_method"]) == (
        ["offline"],
        ["consent"],
        ["S256"],
    )
    assert params["redirect_uri"] == [web.url + "/auth/callback"]
    oauth_cookie = next(c for c in browser.cookies if c.name == "jessie_oauth")
    assert oauth_cookie.has_nonstandard_attr("HttpOnly")
    callback = consent(browser, authorization, ALICE)
    done = browser.get(callback, allow_redirects=False, timeout=30)
    assert (done.status_code, done.headers["Location"]) == (303, "/inbox")
    set_cookie = done.headers["Set-Cookie"]
    assert "jessie_session=" in set_cookie and "HttpOnly" in set_cookie and "SameSite=lax" in set_cookie
    assert "Secure" not in set_cookie  # plain http in development
    stored = query(web.pool, "select email, status, refresh_token_encrypted from jessie.accounts")
    assert [(row[0], row[1]) for row in stored] == [(ALICE, "active")]
    assert created["refresh_token"] not in stored[0][2]  # encrypted (and it is a new token anyway)
    # Connecting synced the mailbox before the inbox opened: nothing to press, nothing to wait for.
    inbox = browser.get(web.url + "/inbox", timeout=10)
    assert inbox.status_code == 200 and ALICE in inbox.text and "Last sync" in inbox.text
    assert query(web.pool, "select trigger, status, messages_added from jessie.sync_runs") == [("connect", "ok", 5)]


def test_a_preview_uses_the_one_registered_callback_and_gets_its_code_handed_back(
    web: Web, sandbox: Sandbox, settings: Settings, tmp_path: Path
) -> None:
    """`web` plays Production (its callback is the registered one); a Preview runs beside it."""
    sandbox.create_account(ALICE, messages=1)
    production_callback = web.url + "/auth/callback"
    web.serve_with(oauth_relay_origins="https://127.0.0.1:*")
    preview_settings = settings.model_copy(
        update={"vercel_env": "preview", "oauth_redirect_uri": production_callback, "vercel_url": "placeholder"}
    )
    for preview in serve(preview_settings):
        host = preview.url.removeprefix("http://")
        preview.serve_with(vercel_url=host)
        browser = requests.Session()
        started = browser.get(preview.url + "/auth/google", allow_redirects=False, timeout=10)
        authorization = query_of(started.headers["Location"])
        assert authorization["redirect_uri"] == [production_callback]  # never the Preview's own host
        state = authorization["state"][0]
        callback = consent(browser, started.headers["Location"], ALICE)
        assert callback.startswith(production_callback + "?")
        relayed = browser.get(callback, allow_redirects=False, timeout=10)
        assert relayed.status_code == 303
        assert relayed.headers["Location"] == f"https://{host}/auth/callback?{callback.split('?', 1)[1]}"
        assert query_of(relayed.headers["Location"])["state"] == [state]
    # Production hands codes only to origins OAUTH_RELAY_ORIGINS allows.
    elsewhere = "https://evil.example"
    forged = "nonce~" + base64.urlsafe_b64encode(elsewhere.encode()).decode().rstrip("=")
    refused = requests.get(
        production_callback, params={"code": "c", "state": forged}, allow_redirects=False, timeout=10
    )
    assert (refused.status_code, "location" in refused.headers) == (400, False)


def test_session_cookies_are_secure_outside_development(database_url: str, sandbox: Sandbox, tmp_path: Path) -> None:
    settings = make_settings(database_url, sandbox.url, tmp_path, vercel_env="preview")
    for running in serve(settings):
        sandbox.create_account(ALICE, messages=1)
        browser = requests.Session()
        started = browser.get(f"{running.url}/auth/google", allow_redirects=False, timeout=10)
        assert "Secure" in started.headers["Set-Cookie"]


def test_denied_consent_gets_a_clear_page(web: Web, sandbox: Sandbox) -> None:
    sandbox.create_account(ALICE)
    browser = requests.Session()
    callback = consent(browser, start_consent(web, browser), ALICE, decision="deny")
    page = browser.get(callback, timeout=10)
    assert page.status_code == 400
    assert "You denied Jessie access to Gmail" in page.text
    assert query(web.pool, "select count(*) from jessie.accounts") == [(0,)]


def test_forged_and_replayed_states_are_refused(web: Web, sandbox: Sandbox) -> None:
    sandbox.create_account(ALICE)
    browser = requests.Session()
    callback = consent(browser, start_consent(web, browser), ALICE)
    forged = callback.replace("state=", "state=forged")
    assert browser.get(forged, timeout=10).status_code == 400
    stranger = requests.Session()  # the right state, but not this browser's flow
    assert "not valid" in stranger.get(callback, timeout=10).text
    flow_cookie = browser.cookies.get("jessie_oauth")
    assert browser.get(callback, allow_redirects=False, timeout=30).status_code == 303
    assert "jessie_oauth" not in browser.cookies  # the flow is over: the same callback is not valid again
    assert "not valid" in browser.get(callback, allow_redirects=False, timeout=30).text
    # Replayed by hand with a copy of the old cookie, the code is one Google already took:
    replay = requests.Session()
    replay.cookies.set("jessie_oauth", str(flow_cookie))
    replayed = replay.get(callback, allow_redirects=False, timeout=30)
    assert replayed.status_code == 502
    assert "Google did not confirm the connection" in replayed.text
    assert "jessie_session" not in replay.cookies
    assert query(web.pool, "select count(*) from jessie.accounts") == [(1,)]


def test_a_missing_refresh_token_gets_a_clear_page(web: Web, sandbox: Sandbox) -> None:
    sandbox.create_account(ALICE)
    browser = requests.Session()
    online = start_consent(web, browser).replace("access_type=offline", "access_type=online")
    page = browser.get(consent(browser, online, ALICE), timeout=30)
    assert page.status_code == 400
    assert "no refresh token" in page.text
    assert query(web.pool, "select count(*) from jessie.accounts") == [(0,)]


def test_disconnect_revokes_and_deletes(web: Web, sandbox: Sandbox, settings: Settings) -> None:
    browser = connect(web, sandbox, ALICE, messages=10)
    requests.get(web.url + CRON, headers={"Authorization": "Bearer test-cron-secret"}, timeout=60)
    token = _stored_token(web, settings)
    page = post_form(browser, web, "/auth/disconnect")
    assert page.status_code == 200 and "Gmail disconnected" in page.text
    assert query(web.pool, "select count(*) from jessie.messages") == [(0,)]
    assert query(web.pool, "select count(*) from jessie.accounts") == [(0,)]
    refresh = requests.post(
        f"{sandbox.url}/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token,
            "client_id": settings.google_client_id,
            "client_secret": settings.require("google_client_secret"),
        },
        timeout=10,
    )
    assert refresh.json()["error"] == "invalid_grant"
    assert browser.get(web.url + "/inbox", allow_redirects=False, timeout=10).status_code == 303


def _stored_token(web: Web, settings: Settings) -> str:
    from app.security import TokenCipher

    ciphertext = query(web.pool, "select refresh_token_encrypted from jessie.accounts")[0][0]
    return TokenCipher.from_settings(settings).decrypt(ciphertext)


# ---- the inbox -------------------------------------------------------------------------------


def test_each_user_sees_only_their_own_mail(web: Web, sandbox: Sandbox) -> None:
    alice = connect(web, sandbox, ALICE, messages=12, seed=1)
    bob = connect(web, sandbox, BOB, messages=7, seed=2)
    requests.get(web.url + CRON, headers={"Authorization": "Bearer test-cron-secret"}, timeout=60)
    alice_threads = {m["threadId"] for m in sandbox.truth(ALICE)}
    bob_ids = {m["id"] for m in sandbox.truth(BOB)}
    alice_page = alice.get(web.url + "/inbox", params={"q": "in:anywhere"}, timeout=10).text
    assert set(re.findall(r'data-thread="(\w+)"', alice_page)) == alice_threads
    assert not any(f'/inbox/{i}"' in alice_page for i in bob_ids)
    a_bob_message = next(iter(bob_ids))
    assert alice.get(f"{web.url}/inbox/{a_bob_message}", timeout=10).status_code == 404
    assert bob.get(f"{web.url}/inbox/{a_bob_message}", timeout=10).status_code == 200
    anonymous = requests.get(f"{web.url}/inbox", allow_redirects=False, timeout=10)
    assert anonymous.status_code == 303


def test_sync_now_syncs_that_account_only_and_is_rate_limited(web: Web, sandbox: Sandbox) -> None:
    alice = connect(web, sandbox, ALICE, messages=8, seed=4)
    connect(web, sandbox, BOB, messages=9, seed=5)
    just_connected = post_form(alice, web, "/inbox/sync")  # connecting synced a moment ago
    assert just_connected.status_code == 429 and "Sync now can run again in" in just_connected.text
    assert 'data-testid="messages"' in just_connected.text  # the inbox stays, with the notice above it
    sandbox.admin("POST", f"/accounts/{ALICE}/messages", count=3)
    with web.pool.connection() as conn:
        conn.execute("update jessie.accounts set last_sync_started_at = now() - interval '1 hour'")
    first = post_form(alice, web, "/inbox/sync", allow_redirects=False)
    assert (first.status_code, first.headers["Location"]) == (303, "/inbox?synced=3&changed=0")
    told = alice.get(web.url + first.headers["Location"], timeout=10)
    assert re.search(r'data-testid="notice">Synced: 3 new messages\.<', told.text)
    synced = query(
        web.pool,
        """select a.email from jessie.sync_run_accounts r join jessie.sync_runs s on s.id = r.run_id
           join jessie.accounts a on a.id = r.account_id where s.trigger = 'manual'""",
    )
    assert synced == [(ALICE,)]
    again = post_form(alice, web, "/inbox/sync")
    assert again.status_code == 429 and "Sync now can run again in" in again.text
    with web.pool.connection() as conn:
        conn.execute("update jessie.accounts set last_sync_started_at = now() - interval '1 hour'")
    nothing_new = post_form(alice, web, "/inbox/sync")
    assert 'data-testid="notice">Synced: already up to date.<' in nothing_new.text


def test_sync_now_that_cannot_start_says_why_and_keeps_the_account(web: Web, sandbox: Sandbox) -> None:
    alice = connect(web, sandbox, ALICE, messages=3, seed=4)
    with web.pool.connection() as conn:
        conn.execute("update jessie.accounts set last_sync_started_at = now() - interval '1 hour'")
    with web.pool.connection() as conn:  # the run cannot even be recorded
        conn.execute("alter table jessie.sync_runs add constraint refuse_manual check (trigger <> 'manual') not valid")
    refused = post_form(alice, web, "/inbox/sync")
    assert refused.status_code == 503 and "The sync did not start (CheckViolation)" in refused.text  # never its text
    assert 'data-testid="messages"' in refused.text
    assert query(web.pool, "select count(*) from jessie.sync_runs where trigger = 'manual'") == [(0,)]
    assert query(web.pool, "select status from jessie.accounts") == [("active",)]


def test_an_account_google_refused_gets_a_reconnect_button(web: Web, sandbox: Sandbox) -> None:
    alice = connect(web, sandbox, ALICE, messages=2)
    assert 'data-testid="reconnect"' not in alice.get(web.url + "/inbox", timeout=10).text
    with web.pool.connection() as conn:
        conn.execute("update jessie.accounts set status = 'needs_reauth', last_sync_status = 'needs_reauth'")
    page = alice.get(web.url + "/inbox", timeout=10).text
    assert re.search(r'<a class="button primary" href="/auth/google" data-testid="reconnect">Reconnect Gmail</a>', page)
    assert ">needs_reauth<" not in page and "needs reauth" not in page and "connect it again" not in page
    assert 'Last sync <span class="status-needs_reauth">stopped: Google refused access</span>' in page


def test_signing_out_says_so(web: Web, sandbox: Sandbox) -> None:
    alice = connect(web, sandbox, ALICE, messages=1)
    home = post_form(alice, web, "/auth/logout")
    assert home.url == web.url + "/?signed_out=true"
    assert 'data-testid="notice">You are signed out.' in home.text and "Sign out" not in home.text
    assert alice.get(web.url + "/inbox", allow_redirects=False, timeout=10).status_code == 303


# ---- the dashboard -----------------------------------------------------------------------


def test_the_dashboard_is_for_admins_only(database_url: str, sandbox: Sandbox, tmp_path: Path) -> None:
    settings = make_settings(database_url, sandbox.url, tmp_path, admin_emails=f"{BOB}, other@example.com")
    for running in serve(settings):
        alice = connect(running, sandbox, ALICE, messages=3)
        bob = connect(running, sandbox, BOB, messages=4)
        requests.get(running.url + CRON, headers={"Authorization": "Bearer test-cron-secret"}, timeout=60)
        assert requests.get(running.url + "/runs", allow_redirects=False, timeout=10).headers["location"] == "/"
        assert requests.get(running.url + "/api/runs", timeout=10).status_code == 401
        assert alice.get(running.url + "/runs", timeout=10).status_code == 403
        assert alice.get(running.url + "/api/runs", timeout=10).status_code == 403
        page = bob.get(running.url + "/runs", timeout=10)
        assert page.status_code == 200
        assert page.text.count("<svg") == 3 and "<script>" not in page.text  # drawn on the server
        assert "Emails synced per hour" in page.text
        # A time axis: the last day's 24 hours, labelled with times; the two connects (runs of their
        # own) and the cron's sweep summed into the hours they started in.
        first_chart = page.text.split("<svg")[1]
        assert first_chart.count('<g class="bar') == 24
        assert re.findall(r'class="tick">(\d\d:00)<', first_chart)
        assert 'class="axis-title"' in first_chart and ">hour started (UTC)</text>" in first_chart  # labelled
        synced = re.findall(r": ([\d,]+)</title>", first_chart)
        assert len(synced) == 24 and sum(int(value) for value in synced) == 3 + 4
        odd = bob.get(running.url + "/runs/sweeps/abc", timeout=10)  # an address that names no sweep
        assert odd.status_code == 404 and "“abc” (the sweep id) must be a whole number." in odd.text
        assert "Input should" not in odd.text and "sweep_id" not in odd.text  # not the validator's words
        runs = bob.get(running.url + "/api/runs", timeout=10).json()["runs"]
        outcomes = [(r["trigger"], r["status"], r["messages_added"], r["accounts_failed"]) for r in runs]
        assert outcomes == [("cron", "ok", 0, 0), ("connect", "ok", 4, 0), ("connect", "ok", 3, 0)]
        assert {"duration_ms", "quota_units", "accounts_held"} <= set(runs[0])
        spent = sum(r["quota_units"] for r in runs)
        line = re.search(r'data-testid="quota-today">([^<]+)<', page.text)
        assert line is not None
        assert f"{spent:,} units of the project's daily threshold of 80,000,000" in " ".join(line[1].split())


def test_the_dashboards_hours_mark_failures_and_show_quota_as_a_share(
    database_url: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = make_settings(database_url, sandbox.url, tmp_path, admin_emails=ALICE)
    for running in serve(settings):
        alice = connect(running, sandbox, ALICE, messages=2)
        with running.pool.connection() as conn:
            hour = conn.execute(
                """insert into jessie.sync_runs (trigger, status, started_at, deadline_at, finished_at,
                       accounts_failed, messages_added, quota_units, duration_ms, error)
                   values ('manual', 'failed', date_trunc('hour', now()) - interval '3 hours' + interval '1 minute',
                           now(), now(), 1, 0, 720000, 1000, 'boom')
                   returning date_trunc('hour', started_at)"""
            ).fetchone()[0]  # type: ignore[index]
        key = hour.astimezone(UTC).isoformat()
        page = alice.get(running.url + "/runs", timeout=10)
        assert page.status_code == 200
        emails, _wall_time, quota = page.text.split("<svg")[1:]
        # The failed run synced nothing, yet its hour is marked, not drawn like an empty one.
        failed = re.search(rf'<g class="bar failed" data-key="{re.escape(key)}"><title>([^<]+)</title>', emails)
        assert failed is not None and failed[1].endswith(": 0; 1 failed, 1 account failed")
        assert emails.count('class="bar failed"') == 1
        # 720,000 units of the project's 1,200,000 a minute × 60 = 72,000,000 an hour.
        assert "% of the ceiling" in quota and "100 % = 72,000,000 units" in quota
        assert re.search(rf'data-key="{re.escape(key)}"><title>[^<]+: 1 %; 1 failed', quota)
        week = alice.get(running.url + "/runs?span=week", timeout=10)
        assert week.status_code == 200 and week.text.split("<svg")[1].count('<g class="bar') == 7 * 24
        assert '<a href="/runs?span=week" aria-current="page">' in week.text
        odd = alice.get(running.url + "/runs?span=year", timeout=10)
        assert odd.status_code == 400 and "“year” (the span) must be “day” or “week”." in odd.text


# ---- alerts -------------------------------------------------------------------------------


def test_one_alert_per_failure_episode(
    database_url: str, sandbox: Sandbox, tmp_path: Path, webhook: tuple[str, list[dict[str, str]]]
) -> None:
    url, received = webhook
    settings = make_settings(database_url, sandbox.url, tmp_path, alert_webhook_url=url, alert_after_failures=2)
    from app.db.connection import open_pool
    from tests.integration.sync_helpers import sync

    with open_pool(settings, size=6) as pool:
        add_account(sandbox, pool, settings, ALICE, messages=2)
        sandbox.admin("POST", f"/accounts/{ALICE}/revoke")
        for _ in range(3):  # the run fails (its only account is revoked) three hours in a row
            with pool.connection() as conn:
                conn.execute("update jessie.accounts set status = 'active'")
            sync(settings, pool)
        texts = [message["text"] for message in received]
        run_alerts = [text for text in texts if text.startswith("Jessie sync run")]
        account_alerts = [text for text in texts if text.startswith(f"Jessie: {ALICE}")]
        assert len(run_alerts) == 1  # three failed runs, one episode
        assert account_alerts == [
            f"Jessie: {ALICE} must reconnect Gmail: "
            "Google refused the refresh token (invalid_grant: revoked or expired): the account must be reconnected"
        ]
        # Recovery ends the episode; the next failure is news again.
        fresh = sandbox.admin("POST", "/accounts", email="new@example.com", messages=1)
        from app.data.accounts import connect_account
        from app.security import TokenCipher

        with pool.connection() as conn:
            connect_account(conn, TokenCipher.from_settings(settings), "new@example.com", fresh["refresh_token"])
            conn.execute("update jessie.accounts set status = 'disabled' where email = %s", [ALICE])
        assert sync(settings, pool).status == "ok"
        sandbox.admin("POST", "/accounts/new@example.com/revoke")
        with pool.connection() as conn:
            conn.execute("update jessie.accounts set last_sync_finished_at = null")
        assert sync(settings, pool).status == "failed"
        assert len([m for m in received if m["text"].startswith("Jessie sync run")]) == 2


def test_many_tokens_refused_in_one_run_name_the_testing_publishing_status(
    database_url: str, sandbox: Sandbox, tmp_path: Path, webhook: tuple[str, list[dict[str, str]]]
) -> None:
    """An app in "Testing" gets 7-day refresh tokens: a wave of invalid_grant names that, once."""
    url, received = webhook
    settings = make_settings(database_url, sandbox.url, tmp_path, alert_webhook_url=url)
    from app.db.connection import open_pool
    from tests.integration.sync_helpers import sync

    emails = [f"user{n}@example.com" for n in range(4)]
    with open_pool(settings, size=6) as pool:
        for email in emails:
            add_account(sandbox, pool, settings, email, messages=1)
        for email in emails[:3]:
            sandbox.admin("POST", f"/accounts/{email}/revoke")
        run = sync(settings, pool)
        assert (run.status, run.accounts_failed, run.accounts_ok) == ("partial", 3, 1)
        texts = [message["text"] for message in received]
        assert len(texts) == 1, texts  # one alert naming the cause, none per account
        assert "refused the tokens of 3 accounts" in texts[0] and "“Testing” publishing status" in texts[0]
        assert "7 days" in texts[0]
        # The parked accounts fail no more runs; the next run sends nothing new.
        sync(settings, pool)
        assert len(received) == 1


def test_a_missing_session_secret_is_named_not_a_crash(database_url: str, sandbox: Sandbox, tmp_path: Path) -> None:
    settings = make_settings(database_url, sandbox.url, tmp_path, vercel_env="production", session_secret=None)
    for running in serve(settings):
        assert requests.get(running.url + "/", timeout=10).status_code == 200  # nothing to sign yet
        page = requests.get(running.url + "/auth/google", allow_redirects=False, timeout=10)
        assert page.status_code == 500
        assert "SESSION_SECRET is not set" in page.text
        assert requests.get(running.url + "/api/health", timeout=10).status_code == 200
