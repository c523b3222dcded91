"""The sync against the sandbox and real Postgres: first sync, history, resync, failures."""

from __future__ import annotations

import base64
import functools
import json
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.db.connection import Database
from app.gmail import client
from app.gmail.retry import RetryPolicy
from sandbox.gmail.generator import KINDS
from tests.conftest import Sandbox, make_settings
from tests.fakes import FakeClock
from tests.integration.sync_helpers import add_account, assert_exact_copy, first_sync_calls, query, stored, sync

ALICE = "alice@example.com"
BOB = "bob@example.com"


def _account_rows(pool: Database, run_id: int) -> dict[str, tuple[Any, ...]]:
    rows = query(
        pool,
        """select a.email, r.status, r.mode, r.messages_added, r.messages_updated, r.messages_deleted,
                  r.quota_units, r.requests, r.error
           from jessie.sync_run_accounts r join jessie.accounts a on a.id = r.account_id where r.run_id = %s""",
        run_id,
    )
    return {row[0]: row[1:] for row in rows}


def test_first_sync_is_an_exact_copy(sandbox: Sandbox, settings: Settings, pool: Database) -> None:
    add_account(sandbox, pool, settings, ALICE, messages=1200, seed=1)
    summary = sync(settings, pool)
    assert summary.status == "ok"
    assert summary.messages_added == 1200
    assert_exact_copy(pool, sandbox, ALICE)
    assert query(pool, "select count(*) from jessie.messages")[0][0] == 1200
    # The labels, three pages of 500 (newest first) plus the two size-census lists, then each
    # message alone or with its thread (2026 model: a get 20 units, a thread 40), and the meter
    # agrees with Gmail's count.
    methods = sandbox.stats(ALICE)["methods"]
    gets, thread_gets = first_sync_calls(sandbox.truth(ALICE))
    assert thread_gets > 10
    assert methods["gmail.users.labels.list"] == 1
    assert methods["gmail.users.messages.list"] == 3 + 2
    assert (methods["gmail.users.messages.get"], methods["gmail.users.threads.get"]) == (gets, thread_gets)
    units = 1 + 1 + 5 * 5 + 20 * gets + 40 * thread_gets + 2
    assert summary.quota_units == sandbox.stats(ALICE)["quota_units"] == units
    assert units < 1200 * 20  # less than a get per stored message
    status, mode, added, *_ = _account_rows(pool, summary.run_id)[ALICE]
    assert (status, mode, added) == ("ok", "full", 1200)


def test_large_mail_comes_alone_and_batches_stay_within_the_memory_budget(
    sandbox: Sandbox, settings: Settings, pool: Database
) -> None:
    add_account(sandbox, pool, settings, ALICE, messages=60, seed=2)
    for size, count in ((6_000_000, 2), (1_000_000, 3)):
        sandbox.admin("POST", f"/accounts/{ALICE}/messages", count=count, attachment_bytes=size)
    summary = sync(settings, pool)
    assert (summary.status, summary.messages_added) == ("ok", 65)
    assert_exact_copy(pool, sandbox, ALICE)
    stats = sandbox.stats(ALICE)
    # The census (two list searches) sorts the ids into classes bounded at 320 kB, 4 MB and
    # 50 MB; batches are packed to 16 MB of those bounds. The generated mail has one 1.1 MB
    # message, so: 50 small | 9 small + three medium | one medium | each 6 MB one alone. The
    # attachments' 15 MB never travel (format=full names them): no batch comes near its bound.
    assert stats["methods"]["gmail.users.messages.list"] == 1 + 2
    assert stats["batches"] == 5
    assert stats["largest_batch_bytes"] < 1_000_000
    sandbox.admin("POST", f"/accounts/{ALICE}/messages", count=3, attachment_bytes=6_000_000)
    sandbox.admin("DELETE", "/stats")
    hourly = sync(settings, pool)
    # Three ids: no census and no paid size probe, one batch of three small answers.
    stats = sandbox.stats(ALICE)
    assert (hourly.messages_added, stats["batches"], stats["methods"].get("gmail.users.messages.list")) == (3, 1, None)
    assert stats["methods"]["gmail.users.messages.get"] == 3
    assert stats["largest_batch_bytes"] < 20_000
    assert_exact_copy(pool, sandbox, ALICE)


def test_the_nasty_corpus_is_stored_whole(sandbox: Sandbox, settings: Settings, pool: Database) -> None:
    add_account(sandbox, pool, settings, ALICE, messages=len(KINDS) + 3, seed=3)
    assert sync(settings, pool).status == "ok"
    assert_exact_copy(pool, sandbox, ALICE)
    rows = query(
        pool,
        """select subject, sender, body_text, body_truncated, attachments, parse_error, internal_date
           from jessie.messages""",
    )
    assert len(rows) == len(KINDS) + 3
    subjects = {row[0] for row in rows}
    assert "会議の議事録" in subjects  # shift_jis, RFC 2047
    assert "Nulin subject" in subjects  # NUL bytes removed, not the message
    assert any(subject and len(subject) == 1000 for subject in subjects)
    bodies = [row[2] for row in rows]
    assert any("Déjà vu" in body for body in bodies)  # says utf-8, is latin-1
    assert any("€5" in body for body in bodies)  # windows-1252
    assert all("\x00" not in body for body in bodies)
    assert sum(1 for row in rows if row[3]) == 1  # the > 1 MB body, capped and flagged
    assert max(len(body) for body in bodies) == settings.max_body_chars
    attachments = [a for row in rows for a in row[4]]
    assert {"application/pdf", "image/png"} <= {a["mime_type"] for a in attachments}
    problems = {row[5] for row in rows if row[5]}
    assert any("boundary" in problem for problem in problems)
    assert "unreadable Date header" in problems


def test_incremental_add_delete_relabel(sandbox: Sandbox, settings: Settings, pool: Database) -> None:
    add_account(sandbox, pool, settings, ALICE, messages=60, seed=2)
    sync(settings, pool)
    sandbox.admin("DELETE", "/stats")
    truth = sandbox.truth(ALICE)
    new = sandbox.admin("POST", f"/accounts/{ALICE}/messages", count=7)["ids"]
    gone = [truth[3]["id"], truth[10]["id"]]
    for gmail_id in gone:
        sandbox.admin("DELETE", f"/accounts/{ALICE}/messages/{gmail_id}")
    relabelled = truth[20]["id"]
    sandbox.admin(
        "POST", f"/accounts/{ALICE}/messages/{relabelled}/labels", add=["STARRED", "Label_3"], remove=["INBOX"]
    )
    sandbox.admin("POST", f"/accounts/{ALICE}/messages/{new[0]}/labels", add=["Label_2"])
    sandbox.admin("DELETE", f"/accounts/{ALICE}/messages/{new[1]}")  # added and deleted in one window

    summary = sync(settings, pool)
    assert summary.status == "ok"
    assert_exact_copy(pool, sandbox, ALICE)
    assert (summary.messages_added, summary.messages_deleted) == (6, 2)
    assert summary.messages_updated == 1
    copy = stored(pool, ALICE)
    assert all(copy[gmail_id]["deleted"] for gmail_id in gone)
    assert new[1] not in copy  # never fetched
    methods = sandbox.stats(ALICE)["methods"]
    assert methods == {"gmail.users.history.list": 1, "gmail.users.messages.get": 6, "gmail.users.labels.list": 1}


def test_an_idle_account_costs_one_history_call(sandbox: Sandbox, settings: Settings, pool: Database) -> None:
    add_account(sandbox, pool, settings, ALICE, messages=30, seed=2)
    sync(settings, pool)
    sandbox.admin("DELETE", "/stats")
    summary = sync(settings, pool)
    stats = sandbox.stats(ALICE)
    assert stats["methods"] == {"gmail.users.history.list": 1}
    assert (stats["requests"], stats["quota_units"]) == (1, 2)
    assert (summary.quota_units, summary.http_requests) == (2, 1)
    status, mode, *_ = _account_rows(pool, summary.run_id)[ALICE]
    assert (status, mode) == ("ok", "incremental")


def test_expired_history_resyncs_and_reconciles(sandbox: Sandbox, settings: Settings, pool: Database) -> None:
    add_account(sandbox, pool, settings, ALICE, messages=120, seed=4)
    sync(settings, pool)
    sandbox.admin("DELETE", "/stats")
    truth = sandbox.truth(ALICE)
    for message in truth[:5]:
        sandbox.admin("DELETE", f"/accounts/{ALICE}/messages/{message['id']}")
    sandbox.admin("POST", f"/accounts/{ALICE}/messages/{truth[50]['id']}/labels", add=["STARRED"])
    sandbox.admin("POST", f"/accounts/{ALICE}/messages", count=3)
    sandbox.admin("POST", f"/accounts/{ALICE}/expire-history")

    summary = sync(settings, pool)
    assert summary.status == "ok"
    _, mode, added, updated, deleted, *_ = _account_rows(pool, summary.run_id)[ALICE]
    assert (mode, added, updated, deleted) == ("resync", 3, 1, 5)
    assert_exact_copy(pool, sandbox, ALICE)
    assert query(pool, "select count(*) from jessie.messages")[0][0] == 120 + 3  # nothing duplicated
    # A resync learns the labels of known mail from one listing per label (19 labels, 95 units,
    # against a minimal get per message), and fetches new mail only.
    methods = sandbox.stats(ALICE)["methods"]
    labels = len(query(pool, "select 1 from jessie.labels"))
    assert labels == 19
    assert methods["gmail.users.messages.list"] == 1 + labels
    assert methods["gmail.users.messages.get"] + methods.get("gmail.users.threads.get", 0) <= 3  # the new


def test_a_revoked_token_needs_reauth_while_others_sync(sandbox: Sandbox, settings: Settings, pool: Database) -> None:
    add_account(sandbox, pool, settings, ALICE, messages=20, seed=5)
    add_account(sandbox, pool, settings, BOB, messages=25, seed=6)
    sandbox.admin("POST", f"/accounts/{ALICE}/revoke")
    summary = sync(settings, pool)
    assert (summary.status, summary.accounts_ok, summary.accounts_failed) == ("partial", 1, 1)
    assert_exact_copy(pool, sandbox, BOB)
    rows = _account_rows(pool, summary.run_id)
    assert rows[ALICE][0] == "needs_reauth"
    assert "reconnected" in rows[ALICE][-1]
    assert query(pool, "select status from jessie.accounts where email = %s", ALICE)[0][0] == "needs_reauth"
    again = sync(settings, pool)  # skipped until reconnected
    assert (again.status, again.accounts_ok, again.accounts_failed) == ("ok", 1, 0)


def test_messages_gmail_refuses_for_now_are_fetched_again_on_later_runs(
    sandbox: Sandbox, settings: Settings, pool: Database
) -> None:
    """400 failedPrecondition on a batch part is final for that call, but the page token
    moves on: the refused messages are kept and fetched on the next run."""
    add_account(sandbox, pool, settings, ALICE, messages=200, seed=3)
    sandbox.admin("PUT", "/faults", precondition_rate=0.2, seed=4)
    first = sync(settings, pool)
    refused = query(pool, "select count(*) from jessie.message_retries")[0][0]
    assert first.status == "ok"
    assert 10 < refused < 80
    assert first.messages_added == 200 - refused
    assert "kept to retry next run" in _account_rows(pool, first.run_id)[ALICE][-1]
    sandbox.admin("PUT", "/faults", precondition_rate=0)
    second = sync(settings, pool)
    assert second.messages_added == refused
    assert query(pool, "select count(*) from jessie.message_retries")[0][0] == 0
    assert_exact_copy(pool, sandbox, ALICE)


def test_a_resync_does_not_mark_refused_messages_deleted(sandbox: Sandbox, settings: Settings, pool: Database) -> None:
    # Three messages: asking each for its labels (60 units) is cheaper than listing 19 labels.
    add_account(sandbox, pool, settings, ALICE, messages=3, seed=3)
    sync(settings, pool)
    sandbox.admin("POST", f"/accounts/{ALICE}/expire-history")
    sandbox.admin("PUT", "/faults", precondition_rate=1.0, seed=1)  # every message and thread refused
    resync = sync(settings, pool)
    assert (resync.messages_deleted, query(pool, "select count(*) from jessie.message_retries")[0][0]) == (0, 3)
    sandbox.admin("PUT", "/faults", precondition_rate=0)
    sync(settings, pool)
    assert query(pool, "select count(*) from jessie.message_retries")[0][0] == 0
    assert_exact_copy(pool, sandbox, ALICE)


def test_google_asking_for_reauthentication_parks_only_that_account(
    sandbox: Sandbox, settings: Settings, pool: Database
) -> None:
    add_account(sandbox, pool, settings, ALICE, messages=5, seed=5)
    add_account(sandbox, pool, settings, BOB, messages=5, seed=6)
    sandbox.admin("POST", f"/accounts/{ALICE}/require-reauth")  # invalid_grant with error_subtype invalid_rapt
    summary = sync(settings, pool)
    assert (summary.status, summary.accounts_ok) == ("partial", 1)
    status, error = query(pool, "select status, last_sync_error from jessie.accounts where email = %s", ALICE)[0]
    assert status == "needs_reauth"
    assert "invalid_rapt" in error


def _states(pool: Database) -> list[tuple[str, str, int]]:
    return query(pool, "select email, status, consecutive_failures from jessie.accounts order by email")


@pytest.mark.parametrize(
    ("break_google", "words"),
    [
        ({"clients": {"sandbox-client.apps.googleusercontent.com": "rotated"}}, "invalid_client"),
        ({"token_outage": 502}, "Google's token endpoint failed"),
    ],
)
def test_a_token_endpoint_failure_fails_the_run_and_parks_nobody(
    sandbox: Sandbox, settings: Settings, pool: Database, break_google: dict[str, object], words: str
) -> None:
    """A rotated client secret or Google's outage is not the users' doing: one failed run
    (one alert), the run stops trying, and every account stays active for the next run."""
    add_account(sandbox, pool, settings, ALICE, messages=5, seed=5)
    add_account(sandbox, pool, settings, BOB, messages=5, seed=6)
    sandbox.admin("PUT", "/oauth", **break_google)
    fast = settings.model_copy(update={"sync_concurrency": 1, "retry_base_s": 0.01})
    summary = sync(fast, pool)
    assert summary.status == "failed"
    assert words in (summary.error or "")
    assert summary.accounts_failed == 1  # it stopped after the first account
    assert _states(pool) == [(ALICE, "active", 0), (BOB, "active", 0)]
    sandbox.admin("PUT", "/oauth", clients={"sandbox-client.apps.googleusercontent.com": "sandbox-client-secret"})
    sandbox.admin("PUT", "/oauth", token_outage=0)
    assert sync(fast, pool).status == "ok"


def test_a_token_of_another_oauth_client_is_a_configuration_error(
    sandbox: Sandbox, settings: Settings, pool: Database
) -> None:
    add_account(sandbox, pool, settings, ALICE, messages=5, seed=5)
    sandbox.admin("PUT", "/oauth", clients={"other-client.apps.googleusercontent.com": "other-secret"})
    other = settings.model_copy(
        update={"google_client_id": "other-client.apps.googleusercontent.com", "google_client_secret": "other-secret"}
    )
    summary = sync(other, pool)
    assert (summary.status, summary.error) == (
        "failed",
        "Google refused Jessie's OAuth client (unauthorized_client): check GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET",
    )
    assert _states(pool) == [(ALICE, "active", 0)]


@pytest.mark.parametrize("seed", [1, 2])
def test_transient_faults_still_converge_to_an_exact_copy(
    sandbox: Sandbox, settings: Settings, pool: Database, seed: int
) -> None:
    """20 % of calls fail (5xx and rate limits), and some responses are cut mid-way."""
    add_account(sandbox, pool, settings, ALICE, messages=300, seed=seed)
    add_account(sandbox, pool, settings, BOB, messages=200, seed=seed + 10)
    sandbox.admin("PUT", "/faults", error_rate=0.16, rate_limit_rate=0.04, reset_rate=0.05, seed=seed)
    fast = settings.model_copy(update={"sync_concurrency": 2, "retry_base_s": 0.02})
    summaries = []
    for _ in range(3):
        summaries.append(sync(fast, pool))
        if summaries[-1].status == "ok" and _is_exact(pool, sandbox):
            break
    assert summaries[-1].status == "ok", [s.status for s in summaries]
    assert sum(s.retries for s in summaries) > 0
    assert sandbox.admin("GET", "/stats")["accounts"][ALICE]["errors_injected"] > 0
    assert_exact_copy(pool, sandbox, ALICE)
    assert_exact_copy(pool, sandbox, BOB)
    assert query(pool, "select count(*) from jessie.messages")[0][0] == 500


def test_a_page_waiting_out_a_retry_after_does_not_hold_the_next_one(
    sandbox: Sandbox, settings: Settings, pool: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts of the first page refused with a Retry-After wait while the next page's mail is
    fetched (the retry clock moves only when the fetcher sleeps, so they cannot go first), and the
    listing's progress stays before the first page until they arrive."""
    add_account(sandbox, pool, settings, ALICE, messages=1200, seed=5)
    sandbox.admin("PUT", "/faults", rate_limit_rate=0.05, seed=5)
    clock = FakeClock()
    at_each_wait: list[tuple[int, str | None]] = []

    def sleep(seconds: float) -> None:
        (row,) = query(pool, "select (select count(*) from jessie.messages), full_sync_page_token from jessie.accounts")
        at_each_wait.append(row)
        clock.sleep(seconds)

    monkeypatch.setattr(client, "RetryPolicy", functools.partial(RetryPolicy, sleep=sleep, clock=clock))
    summary = sync(settings, pool)
    assert summary.status == "ok"
    assert sandbox.stats(ALICE)["errors_injected"] > 0
    assert_exact_copy(pool, sandbox, ALICE)
    stored_then, token_then = at_each_wait[0]
    assert token_then is None  # the first page still waits for its refused parts
    assert stored_then > 500  # while the second page's mail is stored


def _is_exact(pool: Database, sandbox: Sandbox) -> bool:
    try:
        assert_exact_copy(pool, sandbox, ALICE)
        assert_exact_copy(pool, sandbox, BOB)
    except AssertionError:
        return False
    return True


def test_a_per_second_rate_paces_as_set(sandbox: Sandbox, database_url: str, tmp_path: Path) -> None:
    """With both sides at the same per-second rate, Gmail's count equals ours and rate errors stay rare."""
    sandbox.admin("PUT", "/quota", model="legacy", units_per_second=250)
    settings = make_settings(
        database_url, sandbox.url, tmp_path, quota_units_per_second=250, gmail_quota_model="legacy"
    )
    from app.db.connection import open_pool

    with open_pool(settings, size=4) as pool:
        add_account(sandbox, pool, settings, ALICE, messages=300, seed=7)
        summary = sync(settings, pool)
        assert summary.status == "ok"
        stats = sandbox.stats(ALICE)
        assert summary.quota_units == stats["quota_units"]
        assert stats["rate_limited"] <= 5
        assert_exact_copy(pool, sandbox, ALICE)


def test_the_2026_minute_is_spent_to_its_end_and_waited_out(
    sandbox: Sandbox, database_url: str, tmp_path: Path
) -> None:
    """Gmail's 2026 model (6,000 units per user and wall-clock minute) on both sides: a first
    sync that needs more than a minute's units spends the minute, waits for the next, and
    meets no rate limit."""
    sandbox.admin("PUT", "/quota", model="2026")
    settings = make_settings(database_url, sandbox.url, tmp_path, quota_units_per_second=None)
    from app.db.connection import open_pool

    with open_pool(settings, size=4) as pool:
        add_account(sandbox, pool, settings, ALICE, messages=340, seed=7)
        summary = sync(settings, pool)
        assert summary.status == "ok"
        stats = sandbox.stats(ALICE)
        assert summary.quota_units == stats["quota_units"] > 6_000
        assert stats["rate_limited"] == 0
        assert_exact_copy(pool, sandbox, ALICE)


def test_adaptive_batches_shrink_under_a_concurrency_cap(sandbox: Sandbox, settings: Settings, pool: Database) -> None:
    sandbox.admin("PUT", "/quota", units_per_second=0, concurrent_requests=20)
    add_account(sandbox, pool, settings, ALICE, messages=200, seed=8)
    summary = sync(settings, pool)
    assert summary.status == "ok"
    assert_exact_copy(pool, sandbox, ALICE)
    stats = sandbox.stats(ALICE)
    # The first batch of 50 loses 30 parts to the cap; after shrinking, batches fit.
    assert 0 < stats["rate_limited"] <= 60
    assert summary.retries == stats["rate_limited"]


def test_log_lines_are_json_without_secrets_or_content(
    sandbox: Sandbox, settings: Settings, pool: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    created = sandbox.create_account(ALICE, messages=15, seed=9)
    from app.data.accounts import connect_account
    from app.security import TokenCipher

    with pool.connection() as conn:
        connect_account(conn, TokenCipher.from_settings(settings), ALICE, created["refresh_token"])
    summary = sync(settings, pool)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    account_lines = [line for line in lines if line["event"] == "sync.account"]
    run_lines = [line for line in lines if line["event"] == "sync.run"]
    assert len(account_lines) == 1 and len(run_lines) == 1
    assert account_lines[0]["account"] == ALICE and account_lines[0]["run_id"] == summary.run_id
    assert {"status", "messages_added", "quota_units", "duration_ms"} <= set(account_lines[0])
    assert {"run_id", "status", "messages_added", "quota_units", "duration_ms"} <= set(run_lines[0])
    text = json.dumps(lines)
    assert created["refresh_token"] not in text
    subjects = [row[0] for row in query(pool, "select subject from jessie.messages where subject <> ''")]
    assert subjects and not any(subject in text for subject in subjects)


def test_refresh_tokens_are_encrypted_at_rest(sandbox: Sandbox, settings: Settings, pool: Database) -> None:
    created = sandbox.create_account(ALICE, messages=1)
    from app.data.accounts import connect_account, rotate_keys
    from app.security import TokenCipher

    with pool.connection() as conn:
        connect_account(conn, TokenCipher.from_settings(settings), ALICE, created["refresh_token"])
    stored_token = query(pool, "select refresh_token_encrypted from jessie.accounts")[0][0]
    assert created["refresh_token"] not in stored_token
    old_key = settings.encryption_keys()[0]
    new_key = base64.urlsafe_b64encode(b"n" * 32).decode()
    rotated = settings.model_copy(update={"jessie_encryption_key": f"{new_key},{old_key}"})
    with pool.connection() as conn:
        assert rotate_keys(conn, TokenCipher.from_settings(rotated)) == 1
    only_new = settings.model_copy(update={"jessie_encryption_key": new_key})
    assert sync(only_new, pool).status == "ok"  # decrypts with the new key alone
    assert_exact_copy(pool, sandbox, ALICE)
