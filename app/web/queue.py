"""`/api/queue/sweep`: Vercel Queues' push deliveries of the sweep's seats (app/sync/fanout.py).

Vercel invokes the consumer function (`api/queue/sweep.py`) with a POST whose `ce-*` headers
describe the delivery (CloudEvents, `ce-type: com.vercel.queue.v2beta`) and whose body is the
message. The SDK parses it, runs the handler while renewing the message's lease, then
acknowledges it, or makes it visible again when the handler asks for a retry; both are answered
200. A request that is not a push delivery of a seat this deployment signed (app/sync/fanout.py)
is a 400 and reaches neither the SDK nor the database; one whose follow-up call the queue
refused is a 502, and Vercel delivers it again.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from app.config import MissingSetting
from app.incidents import BodyTooLarge
from app.logs import log_event
from app.web.context import LazyPool, SettingsDep, read_limited

router = APIRouter()
DELIVERY_LIMIT_BYTES = 64 * 1024  # a seat is a few dozen bytes
CLOUD_EVENT_TYPE = "com.vercel.queue.v2beta"
RECEIPT_HEADER = "ce-vqsreceipthandle"  # a push carries its lease; without one the SDK would receive by id


@router.post("/api/queue/sweep")
async def sweep_seat_delivery(request: Request, settings: SettingsDep, pool: LazyPool) -> JSONResponse:
    if request.headers.get("ce-type") != CLOUD_EVENT_TYPE or not request.headers.get(RECEIPT_HEADER):
        return JSONResponse({"error": "not a Vercel Queues push delivery"}, 400)
    try:
        body = await read_limited(request, DELIVERY_LIMIT_BYTES)
    except BodyTooLarge as error:
        return JSONResponse({"error": str(error)}, 413)
    from app.sync import fanout

    try:  # before the SDK, which would trust the request's own OIDC header for its calls
        seat = fanout.Seat.from_body(body, settings.require("cron_secret"), settings.vercel_deployment_id)
    except MissingSetting as error:
        return JSONResponse({"error": str(error)}, 500)
    except fanout.BadSeat as refused:
        log_event("sweep.seat_refused", logging.WARNING, reason=str(refused))
        return JSONResponse({"error": "not a seat of this deployment"}, 400)
    from vercel.queue import MessageCorruptedError, ProtocolError, QueueError, UnhandledMessageError
    from vercel.queue.sync import accept_and_handle

    from app.sync import seat_consumer  # registers the seat handler with the SDK

    headers = dict(request.headers)  # the delivery's, with the OIDC token its follow-up calls use

    def deliver() -> None:
        with seat_consumer.consuming(seat, settings, pool()):
            accept_and_handle(body, headers)

    not_a_delivery = (ProtocolError, MessageCorruptedError, UnhandledMessageError)  # the SDK's own parse errors
    try:
        await run_in_threadpool(deliver)
    except (QueueError, ValueError, KeyError) as error:
        # QueueError: the queue refused a follow-up call (Vercel delivers it again), unless the SDK
        # could not take the ce-* headers (or their topic) as a delivery; ValueError, KeyError: a
        # malformed or missing ce-* value. BadRequestError is both a QueueError and a ValueError.
        if isinstance(error, QueueError) and not isinstance(error, not_a_delivery):
            log_event("queue.follow_up_failed", logging.ERROR, error=type(error).__name__)
            return JSONResponse({"error": f"the queue did not answer: {type(error).__name__}"}, 502)
        log_event("queue.delivery_refused", logging.WARNING, error=type(error).__name__)
        return JSONResponse({"error": f"not a delivery: {type(error).__name__}"}, 400)
    return JSONResponse({"message": "Delivery handled"}, 200)
