"""Batches as the real BatchHttpRequest sends them, and history after every kind of change."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from tests.conftest import GmailClient, Sandbox, gmail_client

USER = "batch@example.com"


def _batch(
    sandbox: Sandbox, client: GmailClient, ids: list[str], path: str = "/batch/gmail/v1"
) -> dict[str, tuple[Any, Any]]:
    results: dict[str, tuple[Any, Any]] = {}
    batch = BatchHttpRequest(
        callback=lambda rid, resp, exc: results.__setitem__(rid, (resp, exc)), batch_uri=sandbox.url + path
    )
    for message_id in ids:
        batch.add(
            client.service.users().messages().get(userId="me", id=message_id, format="minimal"), request_id=message_id
        )
    batch.execute(http=client.http)
    return results


@pytest.mark.parametrize("path", ["/batch", "/batch/gmail/v1"])
def test_batch_of_50_answers_every_part(sandbox: Sandbox, path: str) -> None:
    account = sandbox.create_account(USER, messages=60, seed=2)
    client = gmail_client(sandbox, account["refresh_token"])
    truth = sandbox.truth(USER)[:50]
    results = _batch(sandbox, client, [m["id"] for m in truth], path)
    assert {rid: resp["labelIds"] for rid, (resp, exc) in results.items()} == {m["id"]: m["labelIds"] for m in truth}
    stats = sandbox.stats(USER)
    assert (stats["batches"], stats["requests"], stats["quota_units"]) == (1, 50, 50 * 20)  # 2026: a get is 20
    sandbox.admin("PUT", "/quota", model="legacy", units_per_second=0)
    sandbox.admin("DELETE", "/stats")
    _batch(sandbox, client, [m["id"] for m in truth], path)
    assert sandbox.stats(USER)["quota_units"] == 50 * 5
    assert sandbox.admin("GET", "/stats")["quota_model"] == "legacy"


def test_a_thread_comes_whole_oldest_first_at_a_threads_price(sandbox: Sandbox) -> None:
    account = sandbox.create_account(USER, messages=200, seed=2)
    client = gmail_client(sandbox, account["refresh_token"])
    truth = sandbox.truth(USER)
    by_thread: dict[str, list[dict[str, Any]]] = {}
    for message in truth:
        by_thread.setdefault(message["threadId"], []).append(message)
    thread_id, members = max(by_thread.items(), key=lambda item: len(item[1]))
    assert len(members) >= 3
    sandbox.admin("POST", f"/accounts/{USER}/messages/{members[0]['id']}/labels", add=["TRASH"])
    threads = client.service.users().threads()
    thread = threads.get(userId="me", id=thread_id, format="full").execute()
    dates = [int(message["internalDate"]) for message in thread["messages"]]
    assert dates == sorted(dates)
    assert {message["id"] for message in thread["messages"]} == {message["id"] for message in members}
    assert all("payload" in message and "raw" not in message for message in thread["messages"])
    latest = max(int(m["historyId"]) for m in sandbox.truth(USER) if m["threadId"] == thread_id)
    assert int(thread["historyId"]) == latest
    minimal = threads.get(userId="me", id=thread_id, format="minimal").execute()
    assert all(set(message) >= {"id", "labelIds"} and "payload" not in message for message in minimal["messages"])
    assert sandbox.stats(USER)["methods"]["gmail.users.threads.get"] == 2
    assert sandbox.stats(USER)["quota_units"] == 2 * 40
    with pytest.raises(HttpError) as missing:
        threads.get(userId="me", id="00000000000000aa").execute()
    assert missing.value.status_code == 404
    raw = client.http.request(f"{sandbox.url}/gmail/v1/users/me/threads/{thread_id}?format=raw")
    assert raw[0].status == 400  # threads have no raw format


def test_batch_parts_fail_on_their_own(sandbox: Sandbox) -> None:
    account = sandbox.create_account(USER, messages=5, seed=2)
    client = gmail_client(sandbox, account["refresh_token"])
    good = sandbox.truth(USER)[0]["id"]
    results = _batch(sandbox, client, [good, "00000000000000aa"])
    assert results[good][1] is None
    error = results["00000000000000aa"][1]
    assert isinstance(error, HttpError)
    assert error.status_code == 404


def test_batch_of_101_is_refused_whole(sandbox: Sandbox) -> None:
    account = sandbox.create_account(USER, messages=101, seed=2)
    client = gmail_client(sandbox, account["refresh_token"])
    with pytest.raises(HttpError) as refused:
        _batch(sandbox, client, [m["id"] for m in sandbox.truth(USER)])
    assert refused.value.status_code == 400
    assert "101 > 100" in refused.value.reason
    assert sandbox.stats(USER)["requests"] == 0  # nothing was executed


def _history(client: GmailClient, start: str, **params: Any) -> tuple[list[dict[str, Any]], str]:
    records, token = [], None
    while True:
        page = (
            client.service.users()
            .history()
            .list(userId="me", startHistoryId=start, pageToken=token, **params)
            .execute()
        )
        records += page.get("history", [])
        token = page.get("nextPageToken")
        if not token:
            return records, page["historyId"]


def test_history_records_each_kind_of_change_in_order(sandbox: Sandbox) -> None:
    account = sandbox.create_account(USER, messages=10, seed=4)
    client = gmail_client(sandbox, account["refresh_token"])
    start = account["history_id"]
    assert _history(client, start) == ([], start)  # nothing happened yet

    raw = base64.urlsafe_b64encode(b"Subject: hi\r\nFrom: a@example.org\r\n\r\nhello\r\n").decode()
    added = sandbox.admin("POST", f"/accounts/{USER}/messages", raw=raw, labelIds=["INBOX"])["ids"][0]
    old = sandbox.truth(USER)[-1]["id"]
    sandbox.admin("POST", f"/accounts/{USER}/messages/{old}/labels", add=["STARRED"], remove=["INBOX", "UNREAD"])
    sandbox.admin("DELETE", f"/accounts/{USER}/messages/{added}")

    records, latest = _history(client, start, maxResults=1)  # one record a page: paging is exercised
    ids = [int(r["id"]) for r in records]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert latest == client.service.users().getProfile(userId="me").execute()["historyId"]
    kinds = [
        next(k for k in ("messagesAdded", "labelsAdded", "labelsRemoved", "messagesDeleted") if k in r) for r in records
    ]
    assert kinds[0] == "messagesAdded"
    assert kinds[-1] == "messagesDeleted"
    assert records[0]["messagesAdded"][0]["message"] == {"id": added, "threadId": added, "labelIds": ["INBOX"]}
    label_changes = {k: r[k][0]["labelIds"] for r, k in zip(records, kinds, strict=True) if k.startswith("labels")}
    assert label_changes["labelsAdded"] == ["STARRED"]
    assert set(label_changes["labelsRemoved"]) <= {"INBOX", "UNREAD"}
    assert "INBOX" in label_changes["labelsRemoved"]
    assert records[-1]["messagesDeleted"][0]["message"]["id"] == added
    relabelled = next(m for m in sandbox.truth(USER) if m["id"] == old)
    assert relabelled["historyId"] == str(ids[kinds.index("labelsRemoved")])

    only_added, _ = _history(client, start, historyTypes=["messageAdded"])
    assert [r["messagesAdded"][0]["message"]["id"] for r in only_added] == [added]
    starred, _ = _history(client, start, labelId="STARRED")
    assert [r["messages"][0]["id"] for r in starred] == [old, old]  # the add, then the removal of others
    after_first, _ = _history(client, str(ids[0]))
    assert [int(r["id"]) for r in after_first] == ids[1:]


def test_history_ids_grow_with_gaps(sandbox: Sandbox) -> None:
    account = sandbox.create_account(USER, messages=1, seed=4)
    client = gmail_client(sandbox, account["refresh_token"])
    sandbox.admin("POST", f"/accounts/{USER}/messages", count=30)
    records, _ = _history(client, account["history_id"])
    ids = [int(r["id"]) for r in records]
    gaps = [b - a for a, b in zip([int(account["history_id"]), *ids], ids, strict=False)]
    assert all(gap >= 1 for gap in gaps)
    assert any(gap > 1 for gap in gaps)


def test_expired_history_answers_404(sandbox: Sandbox) -> None:
    account = sandbox.create_account(USER, messages=3, seed=4)
    client = gmail_client(sandbox, account["refresh_token"])
    sandbox.admin("POST", f"/accounts/{USER}/expire-history")
    with pytest.raises(HttpError) as expired:
        client.service.users().history().list(userId="me", startHistoryId=account["history_id"]).execute()
    assert expired.value.status_code == 404
    assert expired.value.reason == "Requested entity was not found."
    fresh = client.service.users().getProfile(userId="me").execute()["historyId"]
    assert _history(client, fresh) == ([], fresh)
