"""What Vercel's logs say about the failures the app cannot report itself, read from a Log
Drain delivery: pure functions, entries in, observations out (app/data/incidents.py keeps them).

An entry is an incident when
- its message says Vercel killed the function at maxDuration ("Task timed out after N seconds");
- its statusCode is -1: the runtime died mid-request (a crash, an out-of-memory exit, a
  function that no longer imports);
- it is the app's own `sync.run` line with status failed;
- it is an error or fatal line of the cron endpoint that is not one of the app's own events
  the app alerts on itself. The app's lines are JSON on stderr, which Vercel files as errors
  whatever they say, so for those the line's own `level` counts, not Vercel's.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard

from app.config import CRON_PATH
from app.statuses import IncidentKind

TIMEOUT_MARK = "Task timed out after"
SAMPLE_CHARS = 500
MAX_TIMESTAMP_MS = 253_402_300_800_000  # 10000-01-01: past it, no datetime holds the moment
_ALERTED_BY_THE_APP = {"alert", "alert.delivery_failed"}  # events that already are alerts
_ERROR_LEVELS = {"error", "fatal"}

# Scrubbing: what a log line may carry that must not be stored or alerted.
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[^\s,;\"']+")
_GOOGLE_TOKEN = re.compile(r"\b(ya29\.[\w.-]+|1//[\w.-]+)")
_NAMED_SECRET = re.compile(
    r"(?i)([\"']?\b(?:[\w-]*(?:token|secret|password|passwd|authorization|cookie|signature|api[_-]?key)|code|state"
    r"|refresh_token|raw|snippet|subject|body|data)[\"']?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&}]+)"
)
_MAIL_HEADER = re.compile(r"(?im)^(\s*(?:subject|from|to|cc|bcc|reply-to)\s*:).*$")
_LONG_OPAQUE = re.compile(r"[A-Za-z0-9+/_=-]{40,}")  # keys, tokens, encoded mail bodies


@dataclass(frozen=True)
class Observation:
    """One log entry that is (part of) an incident."""

    kind: IncidentKind
    path: str
    entry_id: str
    seen_at: datetime
    deployment_id: str | None
    request_id: str | None
    sample: str


class BodyTooLarge(ValueError):
    pass


def scrub(text: str) -> str:
    """One line fit to store and to alert: no tokens, no secrets, no mail content, short."""
    text = _MAIL_HEADER.sub(r"\1 [redacted]", text)
    text = _BEARER.sub(r"\1 [redacted]", text)
    text = _GOOGLE_TOKEN.sub("[redacted]", text)
    text = _NAMED_SECRET.sub(r"\1[redacted]", text)
    text = _LONG_OPAQUE.sub("[redacted]", text)
    text = " ".join(text.split())
    return text if len(text) <= SAMPLE_CHARS else text[: SAMPLE_CHARS - 1] + "…"


def decode_body(raw: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The delivery as sent; a gzip-compressed one inflated, never past `limit` bytes."""
    if (content_encoding or "").strip().lower() != "gzip":
        return raw
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(raw, limit + 1)
    except zlib.error as error:
        raise gzip.BadGzipFile(str(error)) from error
    if len(body) > limit or inflater.unconsumed_tail:
        raise BodyTooLarge(f"the inflated delivery is over {limit} bytes")
    return body


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")  # NaN and Infinity: Python reads them, JSON has none


def _load(text: str) -> object:
    """One JSON value, strictly; raises ValueError for anything else (nesting too deep included)."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


# Strings (with their escapes) are skipped whole, so only structure outside them is seen.
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]')


def _array_items(text: str) -> list[str]:
    """The texts of a JSON array's top-level items, split without parsing them, so that one
    item that cannot be read (nested too deeply for the parser) costs only itself."""
    items, depth, start = [], 0, 0
    for token in _STRUCTURE.finditer(text):
        mark = token.group()
        if mark in "[{":
            depth += 1
            if depth == 1:
                start = token.end()
        elif mark in "]}":
            depth -= 1
            if depth == 0:
                items.append(text[start : token.start()])
                break
        elif mark == "," and depth == 1:
            items.append(text[start : token.start()])
            start = token.end()
    return [item for item in items if item.strip()]


def _well_formed(item: object) -> TypeGuard[dict[str, Any]]:
    """An entry as Vercel's Log Drains reference describes one: an object whose fields this
    module reads have their documented types (a timestamp in milliseconds a date can hold)."""
    if not isinstance(item, dict):
        return False
    for key in ("id", "message", "path", "level", "deploymentId", "requestId"):
        if item.get(key) is not None and not isinstance(item[key], str | int):
            return False
    proxy = item.get("proxy")
    if proxy is not None and not (isinstance(proxy, dict) and isinstance(proxy.get("path") or "", str)):
        return False
    status = item.get("statusCode")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int)):
        return False
    timestamp = item.get("timestamp")
    if timestamp is None:
        return True
    return not isinstance(timestamp, bool) and isinstance(timestamp, int | float) and 0 <= timestamp < MAX_TIMESTAMP_MS


def parse_entries(body: bytes) -> tuple[list[dict[str, Any]], int]:
    """(entries, malformed): a JSON array or NDJSON; an item that is not a well-formed entry is
    counted and skipped, never fatal to the rest of the delivery."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return [], 0
    if text.startswith("["):
        items = _array(text)
        if items is None:
            return [], 1
    else:
        items = [_read(line) for line in text.splitlines() if line.strip()]
    entries = [item for item in items if _well_formed(item)]
    return entries, len(items) - len(entries)


def _array(text: str) -> list[object] | None:
    """A JSON array's items (those that cannot be read as None), or None if it is no array."""
    try:
        whole = _load(text)
    except ValueError:
        parts = _array_items(text)
        return [_read(part) for part in parts] if parts else None
    return list(whole) if isinstance(whole, list) else None


def _read(text: str) -> object:
    try:
        return _load(text)
    except ValueError:
        return None  # not an entry: counted as malformed


def _app_event(message: str) -> dict[str, Any] | None:
    """The app's own JSON line (app/logs.py), if this is one."""
    if not message.startswith("{") or '"event"' not in message:
        return None
    try:
        event = json.loads(message)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("event"), str) else None


def _kind(entry: dict[str, Any], message: str, path: str) -> IncidentKind | None:
    event = _app_event(message)
    if event is None and TIMEOUT_MARK in message:  # Vercel's line (the app's own may quote it)
        return IncidentKind.TIMEOUT
    if entry.get("statusCode") == -1:
        return IncidentKind.CRASH
    if event is not None:
        if event["event"] == "sync.run" and event.get("status") == "failed":
            return IncidentKind.RUN_FAILED
        if path == CRON_PATH and event["event"] not in _ALERTED_BY_THE_APP and event.get("level") in _ERROR_LEVELS:
            return IncidentKind.CRON_ERROR
        return None
    if path == CRON_PATH and entry.get("level") in _ERROR_LEVELS:
        return IncidentKind.CRON_ERROR
    return None


def classify(entry: dict[str, Any]) -> Observation | None:
    """What a well-formed entry (`parse_entries`) says, if it is an incident."""
    message = str(entry.get("message") or "")
    # `path` is the function or dynamic path (behind a rewrite, /api/index); `proxy.path` is what
    # was requested, so it comes first.
    path = str((entry.get("proxy") or {}).get("path") or entry.get("path") or "").split("?", 1)[0]
    kind = _kind(entry, message, path)
    if kind is None:
        return None
    timestamp = entry.get("timestamp")
    seen_at = datetime.fromtimestamp(timestamp / 1000, UTC) if timestamp is not None else datetime.now(UTC)
    return Observation(
        kind=kind,
        path=path,
        entry_id=str(entry.get("id") or hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()),
        seen_at=seen_at,
        deployment_id=_text(entry.get("deploymentId")),
        request_id=_text(entry.get("requestId")),
        sample=scrub(message),
    )


def _text(value: object) -> str | None:
    return str(value)[:200] if value else None
