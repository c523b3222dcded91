"""Reading Vercel's log entries: both delivery formats, what is an incident, what a stored
sample may never carry."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from app.config import CRON_PATH
from app.incidents import BodyTooLarge, classify, decode_body, parse_entries, scrub
from app.statuses import IncidentKind


def entry(
    message: str, path: str = CRON_PATH, status: int = 200, level: str = "error", **extra: object
) -> dict[str, Any]:
    return {
        "id": "e1",
        "message": message,
        "timestamp": 1_700_000_000_000,
        "type": "stderr",
        "source": "lambda",
        "projectId": "prj",
        "deploymentId": "dpl_1",
        "host": "jessie.example",
        "path": path,
        "requestId": "req1",
        "statusCode": status,
        "level": level,
        "environment": "production",
        **extra,
    }


def test_a_json_array_and_ndjson_give_the_same_entries() -> None:
    entries = [entry("one"), entry("two")]
    as_array = json.dumps(entries).encode()
    as_ndjson = "".join(json.dumps(e) + "\n" for e in entries).encode()
    assert parse_entries(as_array) == (entries, 0)
    assert parse_entries(as_ndjson) == (entries, 0)
    assert parse_entries(b"") == ([], 0)


def test_malformed_lines_are_counted_and_skipped() -> None:
    body = "\n".join([json.dumps(entry("ok")), "{not json", "[1, 2]", '"a string"', "", json.dumps(entry("ok too"))])
    entries, malformed = parse_entries(body.encode())
    assert [e["message"] for e in entries] == ["ok", "ok too"]
    assert malformed == 3
    assert parse_entries(b"[{broken") == ([], 1)
    assert parse_entries(json.dumps([entry("ok"), 7]).encode()) == ([entry("ok")], 1)


POISON = [
    '{"id": "p1", "message": "x", "timestamp": 1e20}',
    '{"id": "p2", "message": "x", "timestamp": NaN}',
    '{"id": "p3", "message": "x", "timestamp": -Infinity}',
    '{"id": "p4", "message": "x", "timestamp": 1e400}',
    '{"id": "p5", "message": "x", "timestamp": true}',
    '{"id": "p6", "message": "x", "proxy": "not an object"}',
    '{"id": "p7", "message": "x", "proxy": {"path": ["a"]}}',
    '{"id": "p8", "message": {"nested": "object"}}',
    '{"id": "p9", "message": "x", "statusCode": "-1"}',
    '{"id": "p10", "message": "x", "deep": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "[" * 100_000 + "]" * 100_000,
]


@pytest.mark.parametrize("shape", ["array", "ndjson"])
def test_poison_entries_are_counted_and_the_rest_of_the_delivery_is_kept(shape: str) -> None:
    good = [entry("Task timed out after 300 seconds"), entry("fine", status=200, level="info")]
    items = [json.dumps(good[0]), *POISON, json.dumps(good[1])]
    body = ("[" + ",".join(items) + "]") if shape == "array" else "\n".join(items)
    entries, malformed = parse_entries(body.encode())
    assert (entries, malformed) == (good, len(POISON))
    assert [classify(found) is not None for found in entries] == [True, False]


def test_a_timestamp_at_the_edge_of_what_a_date_holds_is_read() -> None:
    entries, malformed = parse_entries(json.dumps([entry("Task timed out after 5 seconds", timestamp=0)]).encode())
    assert malformed == 0
    found = classify(entries[0])
    assert found is not None and found.seen_at.year == 1970


def test_a_gzip_delivery_is_inflated_but_never_past_the_limit() -> None:
    body = json.dumps([entry("x")]).encode()
    assert decode_body(gzip.compress(body), "gzip", 10_000) == body
    assert decode_body(body, None, 10_000) == body
    with pytest.raises(BodyTooLarge):
        decode_body(gzip.compress(b"0" * 50_000), "gzip", 10_000)  # a small body that inflates past it


@pytest.mark.parametrize(
    ("given", "kind"),
    [
        (entry("Vercel Runtime Timeout Error: Task timed out after 300 seconds", status=504), IncidentKind.TIMEOUT),
        (entry("Task timed out after 10.01 seconds", path="/inbox", status=504), IncidentKind.TIMEOUT),
        (entry("Error: Runtime exited with error: exit status 137", path="/inbox", status=-1), IncidentKind.CRASH),
        (entry('{"ts": "t", "level": "error", "event": "sync.run", "status": "failed"}'), IncidentKind.RUN_FAILED),
        (entry('{"ts": "t", "level": "error", "event": "sync.run.not_started"}'), IncidentKind.CRON_ERROR),
        (entry("Traceback (most recent call last):"), IncidentKind.CRON_ERROR),
        (entry("fatal: out of file descriptors", level="fatal"), IncidentKind.CRON_ERROR),
        # what is not an incident
        (entry('{"ts": "t", "level": "info", "event": "sync.run", "status": "ok"}'), None),
        (entry('{"ts": "t", "level": "error", "event": "alert", "text": "already sent"}'), None),
        # the app's alert quoting Vercel's timeout line is no timeout (it would alert again, and again)
        (entry('{"level": "error", "event": "alert", "text": "stopped: Task timed out after 8 seconds"}'), None),
        (entry("Traceback (most recent call last):", path="/inbox"), None),
        (entry("a warning of the cron path", level="warning"), None),
    ],
)
def test_what_an_entry_means(given: dict[str, Any], kind: IncidentKind | None) -> None:
    found = classify(given)
    assert (found.kind if found else None) == kind
    if found:
        assert (found.path, found.deployment_id, found.request_id, found.entry_id) == (
            given["path"],
            "dpl_1",
            "req1",
            "e1",
        )


def test_the_query_string_is_not_part_of_the_path() -> None:
    found = classify(entry("Task timed out after 5 seconds", path=CRON_PATH + "?x=1"))
    assert found is not None and found.path == CRON_PATH


@pytest.mark.parametrize(
    ("line", "kept", "gone"),
    [
        ("GET /api/cron/email-sync Authorization: Bearer s3cr3t-value", "Authorization: [redacted]", "s3cr3t-value"),
        ("curl -H 'x: Bearer s3cr3t-value'", "Bearer [redacted]", "s3cr3t-value"),
        ("refresh failed for ya29.a0AfH6SMBx-secret_token and 1//0gLongRefresh", "[redacted]", "ya29"),
        ('{"access_token": "abc.def", "refresh_token": "xyz"}', '"access_token": [redacted]', "abc.def"),
        ("redirect ?code=4/0AY0e-g7&state=qwerty", "code=[redacted]", "4/0AY0e"),
        ("Subject: Your salary review\nFrom: boss@example.com", "Subject: [redacted]", "salary"),
        ('{"snippet": "Meet me at the station at 9", "id": "18c"}', '"snippet": [redacted]', "station"),
        ("payload " + "QUJD" * 30, "payload [redacted]", "QUJDQUJD"),
        ("CRON_SECRET=abcdefghijklmnop rejected", "CRON_SECRET=[redacted]", "abcdefghijklmnop"),
    ],
)
def test_a_sample_keeps_no_token_and_no_mail_content(line: str, kept: str, gone: str) -> None:
    cleaned = scrub(line)
    assert kept in cleaned
    assert gone not in cleaned


def test_a_sample_is_one_short_line() -> None:
    cleaned = scrub("Traceback\n  File x\n" + "word " * 500)
    assert "\n" not in cleaned
    assert len(cleaned) == 500 and cleaned.endswith("…")
