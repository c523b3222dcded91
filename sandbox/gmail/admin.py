"""The sandbox admin API (`/_sandbox/...`): set-up, mutations that history records, ground truth."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .faults import FaultConfig
from .mailbox import Mailbox, UnknownMessage
from .quota import QuotaConfig
from .state import SandboxState

Endpoint = Callable[[Request], Awaitable[Response]]
MAX_ATTACHMENT_BYTES = 35_000_000  # base64 makes it the ~47 MB message Gmail still accepts


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        payload = json.loads(raw)
    except json.JSONDecodeError as error:
        raise AdminError(400, f"body is not JSON: {error}") from None
    if not isinstance(payload, dict):
        raise AdminError(400, "body must be a JSON object")
    return payload


def _mailbox(state: SandboxState, request: Request) -> Mailbox:
    email = request.path_params["email"]
    if email not in state.mailboxes:
        raise AdminError(404, f"no account {email}")
    return state.mailboxes[email]


def admin_routes(state: SandboxState, on_faults_changed: Callable[[], None]) -> list[Route]:
    def endpoint(handler: Callable[[Request], Awaitable[object]], status: int = 200) -> Endpoint:
        async def run(request: Request) -> Response:
            try:
                result = await handler(request)
            except AdminError as error:
                return JSONResponse({"error": str(error)}, error.status)
            except UnknownMessage as error:
                return JSONResponse({"error": f"no message {error.args[0]}"}, 404)
            except (ValueError, TypeError) as error:
                return JSONResponse({"error": str(error)}, 400)
            return JSONResponse(result, status)

        return run

    async def create_account(request: Request) -> object:
        body = await _json(request)
        email = body.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise AdminError(400, "email is required")
        if email in state.mailboxes:
            raise AdminError(409, f"account {email} already exists")
        reply_rate = body.get("reply_rate")
        if reply_rate is not None and not (isinstance(reply_rate, int | float) and 0 <= reply_rate <= 1):
            raise AdminError(400, "reply_rate is a share of the mail, between 0 and 1")
        return state.create_account(email, int(body.get("messages", 0)), body.get("seed"), reply_rate)

    async def list_accounts(_request: Request) -> object:
        return {
            "accounts": [
                {"email": email, "messages": len(box.messages), "history_id": str(box.history_id)}
                for email, box in state.mailboxes.items()
            ]
        }

    async def ground_truth(request: Request) -> object:
        mailbox = _mailbox(state, request)
        ordered = sorted(mailbox.messages.values(), key=lambda m: (m.internal_date, m.id), reverse=True)
        return {"messages": [message.summary() for message in ordered], "historyId": str(mailbox.history_id)}

    async def add_messages(request: Request) -> object:
        mailbox = _mailbox(state, request)
        body = await _json(request)
        now_ms = int(state.clock.wall() * 1000)
        if "raw" in body:
            try:
                raw = base64.urlsafe_b64decode(str(body["raw"]) + "=" * (-len(str(body["raw"])) % 4))
            except (binascii.Error, ValueError):
                raise AdminError(400, "raw must be base64url") from None
            return {"ids": [mailbox.deliver(raw, body.get("labelIds"), now_ms).id]}
        count = int(body.get("count", 1))
        if not 0 < count <= 10_000:
            raise AdminError(400, "count must be between 1 and 10000")
        attachment = int(body.get("attachment_bytes", 0))
        if not 0 <= attachment <= MAX_ATTACHMENT_BYTES:
            raise AdminError(400, f"attachment_bytes must be between 0 and {MAX_ATTACHMENT_BYTES}")
        return {"ids": [mailbox.deliver(None, None, now_ms, attachment).id for _ in range(count)]}

    async def delete_message(request: Request) -> object:
        _mailbox(state, request).delete(request.path_params["id"])
        return {"deleted": request.path_params["id"]}

    async def relabel(request: Request) -> object:
        body = await _json(request)
        message = _mailbox(state, request).relabel(
            request.path_params["id"], list(body.get("add", [])), list(body.get("remove", []))
        )
        return message.summary()

    async def revoke(request: Request) -> object:
        mailbox = _mailbox(state, request)
        return {"revoked": state.oauth.revoke_account(mailbox.email)}

    async def require_reauth(request: Request) -> object:
        mailbox = _mailbox(state, request)
        return {"grants": state.oauth.require_reauth(mailbox.email)}

    async def expire_history(request: Request) -> object:
        mailbox = _mailbox(state, request)
        mailbox.expire_history()
        return {"history_id": str(mailbox.history_id)}

    async def put_faults(request: Request) -> object:
        state.faults.configure(FaultConfig.from_json(await _json(request)))
        on_faults_changed()
        return state.faults.config.to_json()

    async def put_quota(request: Request) -> object:
        body = await _json(request)
        unknown = set(body) - {"model", "units_per_second", "burst_seconds", "concurrent_requests"}
        if unknown:
            raise AdminError(400, f"unknown quota settings: {', '.join(sorted(unknown))}")
        state.quota.configure(QuotaConfig(**body))
        return state.quota.config.to_json()

    async def put_oauth(request: Request) -> object:
        body = await _json(request)
        if "access_token_lifetime" in body:
            state.oauth.access_token_lifetime = int(body["access_token_lifetime"])
        if "clients" in body:
            state.oauth.clients.update({str(k): str(v) for k, v in dict(body["clients"]).items()})
        for client_id, uris in dict(body.get("redirect_uris") or {}).items():
            for uri in uris:
                state.oauth.register_redirect_uri(str(client_id), str(uri))
        if "token_outage" in body:
            status = int(body["token_outage"] or 0)
            if status and not 500 <= status <= 599:
                raise AdminError(400, "token_outage is a 5xx status, or 0 for none")
            state.oauth.token_outage = status
        return {
            "access_token_lifetime": state.oauth.access_token_lifetime,
            "clients": sorted(state.oauth.clients),
            "token_outage": state.oauth.token_outage,
            "redirect_uris": {client: sorted(uris) for client, uris in state.oauth.redirect_uris.items()},
        }

    async def advance_clock(request: Request) -> object:
        state.clock.advance(float((await _json(request)).get("advance_seconds", 0)))
        return {"now": state.clock.wall()}

    async def get_stats(_request: Request) -> object:
        return state.stats_json()

    async def reset_stats(_request: Request) -> object:
        state.reset_stats()
        return state.stats_json()

    prefix = "/_sandbox"
    one = prefix + "/accounts/{email}"
    return [
        Route(prefix + "/accounts", endpoint(create_account, 201), methods=["POST"]),
        Route(prefix + "/accounts", endpoint(list_accounts), methods=["GET"]),
        Route(one + "/messages", endpoint(ground_truth), methods=["GET"]),
        Route(one + "/messages", endpoint(add_messages, 201), methods=["POST"]),
        Route(one + "/messages/{id}", endpoint(delete_message), methods=["DELETE"]),
        Route(one + "/messages/{id}/labels", endpoint(relabel), methods=["POST"]),
        Route(one + "/revoke", endpoint(revoke), methods=["POST"]),
        Route(one + "/expire-history", endpoint(expire_history), methods=["POST"]),
        Route(one + "/require-reauth", endpoint(require_reauth), methods=["POST"]),
        Route(prefix + "/faults", endpoint(put_faults), methods=["PUT"]),
        Route(prefix + "/quota", endpoint(put_quota), methods=["PUT"]),
        Route(prefix + "/oauth", endpoint(put_oauth), methods=["PUT"]),
        Route(prefix + "/clock", endpoint(advance_clock), methods=["POST"]),
        Route(prefix + "/stats", endpoint(get_stats), methods=["GET"]),
        Route(prefix + "/stats", endpoint(reset_stats), methods=["DELETE"]),
    ]
