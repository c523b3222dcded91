"""`/api/log-drain`: a Vercel Log Drain's endpoint (custom HTTP drains, Pro and Enterprise).

Vercel POSTs batches of log entries (a JSON array, or NDJSON), signed: `x-vercel-signature`
is the hex HMAC-SHA1 of the raw body with the drain's secret (LOG_DRAIN_SECRET); of a gzip
delivery, either the compressed or the inflated body (the docs do not say which). Without the
secret the endpoint answers 500 naming it, never open; a missing or wrong signature is a 403
and nothing is read. Every answer carries `x-vercel-verify` (LOG_DRAIN_VERIFY_TOKEN, the
team's endpoint verification code) so Vercel can verify the endpoint when the drain is added.

Entries become incidents (app/incidents.py) and alerts, once per episode, with a bound on how
many open per delivery and per hour (app/data/incidents.py); alerts are sent after the answer. The endpoint
writes no log line of its own when all is well: the drain delivers its lines back, and a
line per delivery would cause the next delivery, forever. (An alert it sends is logged, and
comes back once as a line that is no incident.)
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from app import alerts
from app.config import MissingSetting, Settings
from app.data import incidents as incidents_data
from app.db.connection import Database
from app.incidents import BodyTooLarge, Observation, classify, decode_body, parse_entries
from app.logs import log_event
from app.security import drain_signature_matches
from app.web.context import LazyPool, SettingsDep, after_the_answer, read_limited

router = APIRouter()
PATH = "/api/log-drain"
BODY_LIMIT_BYTES = 4_500_000  # Vercel's own request body limit for a function


def _verify_header(settings: Settings) -> dict[str, str]:
    token = (settings.log_drain_verify_token or "").strip()
    return {"x-vercel-verify": token} if token else {}


@router.get(PATH)
@router.head(PATH)
def verify_endpoint(settings: SettingsDep) -> Response:
    """Vercel's endpoint verification: it looks for its code in `x-vercel-verify`."""
    return JSONResponse({"ok": True}, headers=_verify_header(settings))


@router.post(PATH)
async def log_drain(request: Request, settings: SettingsDep, pool: LazyPool) -> Response:
    headers = _verify_header(settings)
    try:
        secret = settings.require("log_drain_secret")
    except MissingSetting as error:  # never an open endpoint
        return JSONResponse({"error": str(error)}, 500, headers=headers)
    try:
        raw = await read_limited(request, BODY_LIMIT_BYTES)
    except BodyTooLarge as error:
        return JSONResponse({"error": str(error)}, 413, headers=headers)
    signature = request.headers.get("x-vercel-signature")
    signed_raw = drain_signature_matches(raw, signature, secret)
    encoding = request.headers.get("content-encoding")
    if not signed_raw and not encoding:
        return _invalid_signature(headers)
    try:
        body = decode_body(raw, encoding, BODY_LIMIT_BYTES)
    except (BodyTooLarge, gzip.BadGzipFile) as error:
        if not signed_raw:  # nothing unsigned is answered beyond the signature
            return _invalid_signature(headers)
        if isinstance(error, BodyTooLarge):
            return JSONResponse({"error": str(error)}, 413, headers=headers)
        return JSONResponse({"error": "the delivery is not valid gzip"}, 400, headers=headers)
    # Vercel's docs do not say whether a gzip delivery is signed before or after compression:
    # a valid signature over either is accepted.
    if not signed_raw and not drain_signature_matches(body, signature, secret):
        return _invalid_signature(headers)
    entries, malformed = parse_entries(body)
    observations = [found for entry in entries if (found := classify(entry)) is not None]
    texts = await run_in_threadpool(_record, settings, pool, observations)
    if malformed:
        log_event("drain.malformed", logging.WARNING, entries=len(entries), malformed=malformed)
    answer = {"entries": len(entries), "malformed": malformed, "incidents": len(observations), "alerts": len(texts)}
    # The alerts go out once the answer is sent: Vercel waits for the answer, the webhook may be slow.
    return JSONResponse(answer, headers=headers, background=after_the_answer(alerts.send, settings, texts))


def _invalid_signature(headers: dict[str, str]) -> Response:
    return JSONResponse({"code": "invalid_signature", "error": "signature didn't match"}, 403, headers=headers)


def _record(settings: Settings, pool: Callable[[], Database], observations: list[Observation]) -> list[str]:
    """Store the observations, check the schedule: the alerts to send once this has committed
    (in the thread pool: opening the pool probes the database, which blocks)."""
    with pool().connection() as conn:
        texts = alerts.incidents_opened(conn, incidents_data.record(conn, observations))
        texts += alerts.check_incidents(conn, settings)
    return texts
