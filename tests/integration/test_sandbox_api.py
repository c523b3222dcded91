"""Every Gmail method the sandbox serves, driven through google-api-python-client."""

from __future__ import annotations

import base64
import email
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from googleapiclient.errors import HttpError

from tests.conftest import Sandbox, gmail_client

USER = "owner@example.com"


@pytest.fixture
def account(sandbox: Sandbox) -> dict[str, str]:
    return sandbox.create_account(USER, messages=1234, seed=3)


def _all_ids(service: Any, **params: Any) -> list[str]:
    ids, token = [], None
    while True:
        page = service.users().messages().list(userId="me", pageToken=token, **params).execute()
        ids += [m["id"] for m in page.get("messages", [])]
        token = page.get("nextPageToken")
        if not token:
            return ids


def test_profile_and_labels(sandbox: Sandbox, account: dict[str, str]) -> None:
    service = gmail_client(sandbox, account["refresh_token"]).service
    profile = service.users().getProfile(userId="me").execute()
    assert profile["emailAddress"] == USER
    assert profile["messagesTotal"] == 1234
    assert profile["historyId"] == account["history_id"]
    assert 0 < profile["threadsTotal"] < 1234  # some mail are replies in threads
    labels = {label["id"]: label for label in service.users().labels().list(userId="me").execute()["labels"]}
    assert labels["INBOX"]["type"] == "system"
    assert labels["Label_1"] == {
        "id": "Label_1",
        "name": "Receipts",
        "type": "user",
        "messageListVisibility": "show",
        "labelListVisibility": "labelShow",
        "color": {"backgroundColor": "#16a766", "textColor": "#ffffff"},
    }
    assert "messagesTotal" not in labels["INBOX"]  # labels.list carries no counts; labels.get does
    assert labels["CHAT"]["labelListVisibility"] == "labelHide"


def test_list_pages_to_the_end_newest_first(sandbox: Sandbox, account: dict[str, str]) -> None:
    service = gmail_client(sandbox, account["refresh_token"]).service
    truth = sandbox.truth(USER)
    visible = [m["id"] for m in truth if not {"SPAM", "TRASH"} & set(m["labelIds"])]
    first = service.users().messages().list(userId="me").execute()
    assert len(first["messages"]) == 100  # Gmail's default page size
    assert first["resultSizeEstimate"] == len(visible)
    assert _all_ids(service) == visible  # spam and trash hidden by default, newest first
    assert _all_ids(service, includeSpamTrash=True, maxResults=500) == [m["id"] for m in truth]
    capped = service.users().messages().list(userId="me", maxResults=1000, includeSpamTrash=True).execute()
    assert len(capped["messages"]) == 500


def test_list_filters_by_labels_and_query(sandbox: Sandbox, account: dict[str, str]) -> None:
    service = gmail_client(sandbox, account["refresh_token"]).service
    truth = sandbox.truth(USER)

    def expected(predicate: Callable[[dict[str, Any]], bool]) -> list[str]:
        return [m["id"] for m in truth if predicate(m)]

    unread_inbox = expected(lambda m: {"INBOX", "UNREAD"} <= set(m["labelIds"]))
    assert _all_ids(service, labelIds=["INBOX", "UNREAD"]) == unread_inbox
    assert _all_ids(service, labelIds=["SPAM"]) == expected(lambda m: "SPAM" in m["labelIds"])
    assert _all_ids(service, q="in:trash") == expected(lambda m: "TRASH" in m["labelIds"])
    assert _all_ids(service, q="in:anywhere") == [m["id"] for m in truth]
    assert _all_ids(service, q="label:receipts") == expected(lambda m: "Label_1" in m["labelIds"])
    hidden = {"SPAM", "TRASH"}
    middle = int(truth[len(truth) // 2]["internalDate"]) // 1000
    assert _all_ids(service, q=f"after:{middle}") == expected(
        lambda m: int(m["internalDate"]) >= middle * 1000 and not hidden & set(m["labelIds"])
    )
    assert _all_ids(service, q=f"before:{middle} in:inbox") == expected(
        lambda m: int(m["internalDate"]) < middle * 1000 and "INBOX" in m["labelIds"]
    )
    # Calendar dates are midnight Pacific time, as Gmail documents.
    pacific_midnight = int(datetime(2025, 12, 31, 8, tzinfo=UTC).timestamp() * 1000)
    assert _all_ids(service, q="after:2025/12/31") == expected(
        lambda m: int(m["internalDate"]) >= pacific_midnight and not hidden & set(m["labelIds"])
    )


def test_newer_than_follows_the_sandbox_clock(sandbox: Sandbox, account: dict[str, str]) -> None:
    service = gmail_client(sandbox, account["refresh_token"]).service
    assert _all_ids(service, q="newer_than:2d") == []  # the generated past ends on 2026-01-01
    new = sandbox.admin("POST", f"/accounts/{USER}/messages", count=3)["ids"]
    assert set(_all_ids(service, q="newer_than:2d in:anywhere")) == set(new)
    sandbox.admin("POST", "/clock", advance_seconds=3 * 86_400)
    assert _all_ids(service, q="newer_than:2d") == []


def test_get_in_every_format(sandbox: Sandbox, account: dict[str, str]) -> None:
    service = gmail_client(sandbox, account["refresh_token"]).service
    truth = {m["id"]: m for m in sandbox.truth(USER)}
    message_id = next(iter(truth))
    get = service.users().messages().get

    minimal = get(userId="me", id=message_id, format="minimal").execute()
    assert set(minimal) == {"id", "threadId", "labelIds", "snippet", "sizeEstimate", "historyId", "internalDate"}
    assert minimal["labelIds"] == truth[message_id]["labelIds"]
    assert minimal["historyId"] == truth[message_id]["historyId"]

    raw = get(userId="me", id=message_id, format="raw").execute()
    raw_bytes = base64.urlsafe_b64decode(raw["raw"])
    assert "payload" not in raw
    assert len(raw_bytes) == raw["sizeEstimate"]
    parsed = email.message_from_bytes(raw_bytes)

    metadata = get(userId="me", id=message_id, format="metadata", metadataHeaders=["Message-ID", "To"]).execute()
    names = [header["name"] for header in metadata["payload"]["headers"]]
    assert sorted(names) == ["Message-ID", "To"]
    assert metadata["payload"]["headers"][names.index("Message-ID")]["value"] == parsed["Message-ID"]

    full = get(userId="me", id=message_id).execute()  # format defaults to full
    assert full["payload"]["partId"] == ""
    assert full["payload"]["mimeType"] == parsed.get_content_type()

    partial = get(userId="me", id=message_id, format="minimal", fields="id,labelIds").execute()
    assert set(partial) == {"id", "labelIds"}


def test_full_payload_decodes_to_the_raw_parts(sandbox: Sandbox, account: dict[str, str]) -> None:
    service = gmail_client(sandbox, account["refresh_token"]).service
    for summary in sandbox.truth(USER)[:40]:
        full = service.users().messages().get(userId="me", id=summary["id"]).execute()
        raw = service.users().messages().get(userId="me", id=summary["id"], format="raw").execute()
        leaves = [
            part
            for part in email.message_from_bytes(base64.urlsafe_b64decode(raw["raw"])).walk()
            if not part.is_multipart()
        ]
        payload_leaves = []
        stack = [full["payload"]]
        while stack:
            node = stack.pop(0)
            if node.get("parts"):
                stack = node["parts"] + stack
            else:
                payload_leaves.append(node)
        assert len(payload_leaves) == len(leaves)
        for node, part in zip(payload_leaves, leaves, strict=True):
            expected = part.get_payload(decode=True) or b""
            if "data" in node["body"]:
                assert base64.urlsafe_b64decode(node["body"]["data"]) == expected
            assert node["body"]["size"] == len(expected)


def test_attachment_get(sandbox: Sandbox, account: dict[str, str]) -> None:
    service = gmail_client(sandbox, account["refresh_token"]).service
    for summary in sandbox.truth(USER):
        full = service.users().messages().get(userId="me", id=summary["id"]).execute()
        attachments = [p for p in full["payload"].get("parts", []) if p["body"].get("attachmentId")]
        if attachments:
            break
    else:
        pytest.fail("the generated mailbox has no attachment")
    part = attachments[0]
    got = (
        service.users()
        .messages()
        .attachments()
        .get(userId="me", messageId=summary["id"], id=part["body"]["attachmentId"])
        .execute()
    )
    assert got["size"] == part["body"]["size"] == len(base64.urlsafe_b64decode(got["data"]))


def test_errors_have_googles_shape(sandbox: Sandbox, account: dict[str, str]) -> None:
    client = gmail_client(sandbox, account["refresh_token"])
    service = client.service
    with pytest.raises(HttpError) as missing:
        service.users().messages().get(userId="me", id="0123456789abcdef").execute()
    assert missing.value.status_code == 404
    assert missing.value.reason == "Requested entity was not found."
    # The client refuses a bad enum itself, so this one goes over plain HTTP.
    bad_format = requests.get(
        f"{sandbox.url}/gmail/v1/users/me/messages/0123456789abcdef?format=html",
        headers={"Authorization": f"Bearer {client.credentials.token}"},
        timeout=10,
    )
    assert bad_format.status_code == 400
    assert bad_format.json()["error"]["status"] == "INVALID_ARGUMENT"
    with pytest.raises(HttpError) as other_user:
        service.users().getProfile(userId="someone-else@example.com").execute()
    assert other_user.value.status_code == 403

    anonymous = requests.get(f"{sandbox.url}/gmail/v1/users/me/profile", timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    body = anonymous.json()["error"]
    assert body["status"] == "UNAUTHENTICATED"
    assert body["errors"][0]["reason"] == "authError"
    assert json.loads(anonymous.text)["error"]["code"] == 401


def test_an_account_without_gmail_is_a_400_failed_precondition(sandbox: Sandbox) -> None:
    token = sandbox.state.oauth.issue_refresh_token("no-gmail@example.com")  # a Google account, no mailbox
    with pytest.raises(HttpError) as refused:
        gmail_client(sandbox, token).service.users().getProfile(userId="me").execute()
    assert (refused.value.status_code, refused.value.reason) == (400, "Mail service not enabled")
    assert refused.value.error_details[0]["reason"] == "failedPrecondition"
