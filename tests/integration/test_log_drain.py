"""`/api/log-drain`: Vercel's signed deliveries become incidents and one alert per episode;
`/runs` shows them, checks that the cron has run lately, and opens each run's accounts."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from app.config import CRON_PATH, Settings
from tests.conftest import Sandbox, make_settings, webhook_receiver
from tests.integration.sync_helpers import add_account, query, until
from tests.integration.web_helpers import Web, connect, serve

SECRET = "drain-secret-" + "k7Qz" * 8
VERIFY = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
ADMIN = "admin@example.com"
TIMEOUT_LINE = "Vercel Runtime Timeout Error: Task timed out after 300 seconds"


def entry(number: int, message: str, path: str = CRON_PATH, status: int = 504, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"entry-{number}",
        "message": message,
        "timestamp": int(datetime.now(UTC).timestamp() * 1000),
        "type": "stderr",
        "source": "lambda",
        "projectId": "prj_jessie",
        "deploymentId": "dpl_prod",
        "host": "jessie.example",
        "path": path,
        "requestId": f"req-{number}",
        "statusCode": status,
        "level": "error",
        "environment": "production",
        **extra,
    }


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"x-vercel-signature": hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()}


def deliver(web: Web, entries: list[dict[str, Any]]) -> requests.Response:
    body = json.dumps(entries).encode()
    return requests.post(f"{web.url}/api/log-drain", data=body, headers=signed(body), timeout=30)


@pytest.fixture
def hooked(
    database_url: str, sandbox: Sandbox, tmp_path: Path, webhook: tuple[str, list[dict[str, str]]]
) -> Iterator[tuple[Web, Settings, list[dict[str, str]]]]:
    """The app with a drain secret, a verification code, an admin and an alert webhook."""
    url, received = webhook
    settings = make_settings(
        database_url,
        sandbox.url,
        tmp_path,
        log_drain_secret=SECRET,
        log_drain_verify_token=VERIFY,
        admin_emails=ADMIN,
        alert_webhook_url=url,
    )
    for running in serve(settings):
        yield running, settings, received


def incidents(web: Web) -> list[tuple[Any, ...]]:
    return query(web.pool, "select kind, path, count, closed_at is null, sample from jessie.incidents order by id")


def texts(received: list[dict[str, str]], arrived: int | None = None) -> list[str]:
    """What the webhook got; with `arrived`, once that many alerts came (they are sent after the answer)."""
    if arrived is not None:
        until(lambda: len(received) >= arrived, f"{arrived} alert(s) at the webhook")
    return [message["text"] for message in received]


# ---- the signature, the handshake, the body ------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 403), ({"x-vercel-signature": "0" * 40}, 403), (signed(b"[]", "another-secret"), 403), (signed(b"[]"), 200)],
    ids=["none", "garbage", "other-secret", "right"],
)
def test_only_a_delivery_signed_with_the_secret_is_read(
    hooked: tuple[Web, Settings, list[dict[str, str]]], headers: dict[str, str], status: int
) -> None:
    web, _settings, _received = hooked
    body = json.dumps([entry(1, TIMEOUT_LINE)]).encode()
    headers = signed(body) if status == 200 else headers
    answer = requests.post(f"{web.url}/api/log-drain", data=body, headers=headers, timeout=30)
    assert answer.status_code == status, answer.text
    assert answer.headers["x-vercel-verify"] == VERIFY
    assert len(incidents(web)) == (1 if status == 200 else 0)


def test_without_the_secret_the_endpoint_names_it_and_reads_nothing(
    database_url: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = make_settings(database_url, sandbox.url, tmp_path, vercel_env="production")
    for web in serve(settings):
        body = json.dumps([entry(1, TIMEOUT_LINE)]).encode()
        answer = requests.post(f"{web.url}/api/log-drain", data=body, headers=signed(body), timeout=30)
        assert answer.status_code == 500
        assert "LOG_DRAIN_SECRET is not set" in answer.json()["error"]
        assert incidents(web) == []


def test_the_endpoint_answers_vercel_s_verification(hooked: tuple[Web, Settings, list[dict[str, str]]]) -> None:
    web, _settings, _received = hooked
    for method in ("GET", "HEAD"):
        answer = requests.request(method, f"{web.url}/api/log-drain", timeout=10)
        assert (answer.status_code, answer.headers["x-vercel-verify"]) == (200, VERIFY)


def test_both_formats_and_malformed_lines(hooked: tuple[Web, Settings, list[dict[str, str]]]) -> None:
    web, _settings, _received = hooked
    as_array = deliver(web, [entry(1, TIMEOUT_LINE), entry(2, "fine", path="/inbox", status=200)])
    assert as_array.json() == {"entries": 2, "malformed": 0, "incidents": 1, "alerts": 1}
    lines = [json.dumps(entry(3, TIMEOUT_LINE)), "{cut off", json.dumps(entry(4, "boom", path="/x", status=-1))]
    body = ("\n".join(lines) + "\n").encode()
    as_ndjson = requests.post(f"{web.url}/api/log-drain", data=body, headers=signed(body), timeout=30)
    assert as_ndjson.json() == {"entries": 2, "malformed": 1, "incidents": 2, "alerts": 1}  # the timeout is known
    assert [(kind, path, count) for kind, path, count, *_ in incidents(web)] == [
        ("timeout", CRON_PATH, 2),
        ("crash", "/x", 1),
    ]


@pytest.mark.parametrize("shape", ["array", "ndjson"])
def test_poison_entries_in_a_signed_batch_cost_only_themselves(
    hooked: tuple[Web, Settings, list[dict[str, str]]], shape: str
) -> None:
    """Vercel redelivers a batch the endpoint refuses: one odd entry must not lose the rest forever."""
    web, _settings, received = hooked
    poison = [
        '{"id": "p1", "message": "' + TIMEOUT_LINE + '", "timestamp": 1e20, "path": "/api/cron/email-sync"}',
        '{"id": "p2", "message": "' + TIMEOUT_LINE + '", "timestamp": NaN}',
        '{"id": "p3", "message": "' + TIMEOUT_LINE + '", "proxy": "/api/cron/email-sync"}',
        '{"id": "p4", "message": "x", "deep": ' + "[" * 50_000 + "]" * 50_000 + "}",
    ]
    items = [*poison, json.dumps(entry(1, TIMEOUT_LINE))]
    body = ("[" + ",".join(items) + "]" if shape == "array" else "\n".join(items)).encode()
    answer = requests.post(f"{web.url}/api/log-drain", data=body, headers=signed(body), timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"entries": 1, "malformed": 4, "incidents": 1, "alerts": 1}
    assert [(kind, path, count) for kind, path, count, *_ in incidents(web)] == [("timeout", CRON_PATH, 1)]
    assert len(texts(received, arrived=1)) == 1


def test_a_gzip_delivery_is_read_and_an_oversize_one_refused(
    hooked: tuple[Web, Settings, list[dict[str, str]]],
) -> None:
    web, _settings, _received = hooked
    packed = gzip.compress(json.dumps([entry(1, TIMEOUT_LINE)]).encode())
    answer = requests.post(
        f"{web.url}/api/log-drain", data=packed, headers={**signed(packed), "content-encoding": "gzip"}, timeout=30
    )
    assert answer.json()["incidents"] == 1
    huge = b"[" + b" " * 4_600_000 + b"]"
    assert requests.post(f"{web.url}/api/log-drain", data=huge, headers=signed(huge), timeout=60).status_code == 413

    def chunks() -> Iterator[bytes]:  # no content-length: refused while it streams in
        for _ in range(50):
            yield b" " * 100_000

    streamed = requests.post(f"{web.url}/api/log-drain", data=chunks(), headers=signed(b""), timeout=60)
    assert streamed.status_code == 413
    assert len(incidents(web)) == 1


@pytest.mark.parametrize("signed_over", ["compressed", "inflated"])
def test_a_gzip_delivery_signed_before_or_after_compression_is_read(
    hooked: tuple[Web, Settings, list[dict[str, str]]], signed_over: str
) -> None:
    """Vercel's docs do not say which body a gzip delivery's signature covers: either is valid."""
    web, _settings, _received = hooked
    inflated = json.dumps([entry(1, TIMEOUT_LINE)]).encode()
    packed = gzip.compress(inflated)
    signature = signed(packed if signed_over == "compressed" else inflated)
    gzipped = {"content-encoding": "gzip"}
    answer = requests.post(f"{web.url}/api/log-drain", data=packed, headers=signature | gzipped, timeout=30)
    assert (answer.status_code, answer.json()["incidents"]) == (200, 1)
    # Neither body signed with another secret, nor an unsigned bomb, is read.
    other = signed(inflated, "another-secret")
    assert (
        requests.post(f"{web.url}/api/log-drain", data=packed, headers=other | gzipped, timeout=30).status_code == 403
    )
    bomb = gzip.compress(b" " * 6_000_000)
    assert requests.post(f"{web.url}/api/log-drain", data=bomb, headers=other | gzipped, timeout=30).status_code == 403
    assert (
        requests.post(f"{web.url}/api/log-drain", data=b"nogzip", headers=other | gzipped, timeout=30).status_code
        == 403
    )
    assert len(incidents(web)) == 1


def test_an_entry_is_classified_by_the_requested_path_behind_the_rewrite(
    hooked: tuple[Web, Settings, list[dict[str, str]]],
) -> None:
    """Behind `/(.*)` → `/api/index`, `path` can be the function's and `proxy.path` the request's."""
    web, _settings, _received = hooked
    proxy = {"method": "GET", "host": "jessie.example", "path": CRON_PATH + "?x=1", "statusCode": 504}
    rewritten = entry(1, TIMEOUT_LINE, path="/api/index", proxy=proxy)
    direct = entry(2, TIMEOUT_LINE, path="/inbox")  # no proxy: the path is all there is
    answer = deliver(web, [rewritten, direct])
    assert answer.json()["incidents"] == 2
    assert sorted(row[:2] for row in incidents(web)) == [("timeout", CRON_PATH), ("timeout", "/inbox")]


# ---- incidents and episodes -----------------------------------------------------------------


def test_a_cron_timing_out_every_hour_alerts_once_until_a_run_succeeds(
    hooked: tuple[Web, Settings, list[dict[str, str]]], sandbox: Sandbox
) -> None:
    web, settings, received = hooked
    answers = [deliver(web, [entry(hour, TIMEOUT_LINE)]) for hour in (0, 1, 2, 2)]  # the last: a redelivery
    assert [answer.status_code for answer in answers] == [200] * 4
    assert [answer.json()["alerts"] for answer in answers] == [1, 0, 0, 0]
    assert [(kind, count, is_open) for kind, _path, count, is_open, _ in incidents(web)] == [("timeout", 3, True)]
    assert texts(received, arrived=1) == [
        f"Jessie on Vercel: {CRON_PATH} was stopped at its maxDuration: {TIMEOUT_LINE}"
    ]
    # The next cron run that succeeds ends the episode; a new timeout after it is news again.
    add_account(sandbox, web.pool, settings, "alice@example.com", messages=2)
    cron = requests.get(
        f"{web.url}{CRON_PATH}",
        headers={"Authorization": f"Bearer {settings.require('cron_secret')}"},
        timeout=60,
    )
    assert cron.json()["run"]["status"] == "ok"
    assert [(kind, is_open) for kind, _path, _count, is_open, _ in incidents(web)] == [("timeout", False)]
    assert query(web.pool, "select key from jessie.alert_state") == []
    assert deliver(web, [entry(9, TIMEOUT_LINE)]).json()["alerts"] == 1
    assert len(texts(received, arrived=2)) == 2


def test_a_flood_of_new_incidents_is_bounded_and_its_alerts_do_not_hold_the_answer(
    database_url: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    """One signed delivery of 5,000 timeouts on 5,000 paths opened 5,000 incidents and sent
    5,000 webhook posts, in-line: now ten each, one summary for the rest, sent after the answer."""
    held = threading.Event()
    with webhook_receiver(held) as (url, received):
        settings = make_settings(database_url, sandbox.url, tmp_path, log_drain_secret=SECRET, alert_webhook_url=url)
        for web in serve(settings):
            flood = [entry(n, TIMEOUT_LINE, path=f"/inbox/m{n}") for n in range(5_000)]
            answer = deliver(web, flood)
            assert answer.status_code == 200
            assert answer.json() == {"entries": 5_000, "malformed": 0, "incidents": 5_000, "alerts": 11}
            assert received == []  # answered while the webhook still holds the first alert
            held.set()
            until(lambda: len(received) == 11, "the alerts, after the answer")
            assert "4,990 stopped at maxDuration on further paths" in texts(received)[-1]
            one_by_one = query(web.pool, "select count(*) from jessie.incidents where path <> '(more paths)'")
            assert one_by_one == [(10,)]
            assert query(
                web.pool,
                "select count, sample like '4,990 more paths%%' from jessie.incidents where path = '(more paths)'",
            ) == [(4_990, True)]
            # Within the hour at most thirty open one by one; the rest join the open "(more paths)".
            for wave in range(1, 4):
                deliver(
                    web,
                    [
                        entry(n, TIMEOUT_LINE, path=f"/inbox/w{wave}-{n}")
                        for n in range(5_000 * wave, 5_000 * wave + 50)
                    ],
                )
            assert query(web.pool, "select count(*) from jessie.incidents where path <> '(more paths)'") == [(30,)]
            assert query(web.pool, "select count from jessie.incidents where path = '(more paths)'") == [
                (4_990 + 40 + 40 + 50,)
            ]
            until(lambda: len(received) == 31, "the second and third waves' alerts")


def test_a_failed_run_seen_in_the_logs_is_the_episode_the_runner_alerted(
    hooked: tuple[Web, Settings, list[dict[str, str]]],
) -> None:
    web, _settings, _received = hooked
    with web.pool.connection() as conn:
        conn.execute("insert into jessie.alert_state (key, alerted_at) values ('run_failed', now())")
    failed = '{"ts": "t", "level": "error", "event": "sync.run", "run_id": 7, "status": "failed", "error": "x"}'
    answer = deliver(web, [entry(1, failed, status=500)]).json()
    assert (answer["incidents"], answer["alerts"]) == (1, 0)  # the runner already sent it
    assert [kind for kind, *_ in incidents(web)] == ["run_failed"]


def test_a_stored_sample_and_its_alert_keep_no_secret(hooked: tuple[Web, Settings, list[dict[str, str]]]) -> None:
    web, _settings, received = hooked
    line = "Traceback: token refresh failed, Authorization: Bearer ya29.a0-very-secret for Subject: payslip"
    deliver(web, [entry(1, line, status=500)])
    ((kind, _path, _count, _open, sample),) = incidents(web)
    assert kind == "cron_error"
    for stored in (sample, texts(received, arrived=1)[0]):
        assert "ya29" not in stored and "very-secret" not in stored and "payslip" not in stored
        assert "[redacted]" in stored


def test_the_runs_page_alerts_once_when_the_cron_has_not_run(
    hooked: tuple[Web, Settings, list[dict[str, str]]], sandbox: Sandbox
) -> None:
    web, settings, received = hooked
    browser = connect(web, sandbox, ADMIN, messages=1)
    cron = {"Authorization": f"Bearer {settings.require('cron_secret')}"}
    assert requests.get(f"{web.url}{CRON_PATH}", headers=cron, timeout=60).json()["run"]["status"] == "ok"
    assert "No incidents." in browser.get(f"{web.url}/runs", timeout=30).text
    # Three hours pass without a cron run (the schedule stalled): the page notices, once.
    with web.pool.connection() as conn:
        conn.execute("update jessie.sync_runs set started_at = started_at - interval '3 hours'")
    for _view in range(2):
        page = browser.get(f"{web.url}/runs", timeout=30)
        assert 'data-kind="cron_missed"' in page.text
    assert len([t for t in texts(received) if t.startswith("Jessie: the scheduled sync did not run")]) == 1
    assert requests.get(f"{web.url}{CRON_PATH}", headers=cron, timeout=60).json()["run"]["status"] == "ok"
    assert [(kind, is_open) for kind, _p, _c, is_open, _s in incidents(web)] == [("cron_missed", False)]


def test_each_run_links_to_its_accounts(hooked: tuple[Web, Settings, list[dict[str, str]]], sandbox: Sandbox) -> None:
    web, settings, _received = hooked
    browser = connect(web, sandbox, ADMIN, messages=2)
    add_account(sandbox, web.pool, settings, "bob@example.com", messages=1)
    sandbox.admin("POST", "/accounts/bob@example.com/revoke")
    cron = {"Authorization": f"Bearer {settings.require('cron_secret')}"}
    answer = requests.get(f"{web.url}{CRON_PATH}", headers=cron, timeout=60).json()
    run_id, sweep_id = answer["run"]["run_id"], answer["sweep"]["id"]
    assert f'href="/runs/sweeps/{sweep_id}"' in browser.get(f"{web.url}/runs", timeout=30).text
    assert f'href="/runs/{run_id}"' in browser.get(f"{web.url}/runs/sweeps/{sweep_id}", timeout=30).text
    detail = browser.get(f"{web.url}/runs/{run_id}", timeout=30)
    assert detail.status_code == 200
    rows = detail.text.split('data-testid="run-accounts"', 1)[1]
    assert rows.index("bob@example.com") < rows.index(ADMIN)  # failures first
    assert "needs_reauth" in rows and "invalid_grant" in rows
    assert browser.get(f"{web.url}/runs/999999", timeout=30).status_code == 404
