"""The sandbox's HTTP face: Gmail API, batch, OAuth and admin routes, as an ASGI app.

Latency, connection resets, stalls and the per-user concurrency cap belong to the HTTP
request (a batch is one request), so they live here; everything per call is in `api`.
Serving it is `server.py`'s (locally) or `deployed.py`'s (inside a test-mode Preview).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from . import api, errors, oidc, pages
from .admin import admin_routes
from .api import ApiCall, Prepared, below
from .batch import build_batch_response, parse_batch
from .errors import ApiResponse, GoogleApiError
from .oauth import OAuthError
from .state import SandboxState

Scope = MutableMapping[str, Any]


class SimulatedReset(Exception):
    """Raised after half a response is sent, so the server drops the connection."""


class ResetResponse(Response):
    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[..., Any]) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body[: len(self.body) // 2], "more_body": True})
        raise SimulatedReset


class _Gate:
    """Holds Gmail requests once `stall_after_requests` is reached, until faults change."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.stalled = threading.Event()
        self._release: asyncio.Event | None = None

    async def wait(self) -> None:
        limit = self.state.faults.config.stall_after_requests
        if not limit or self.state.gmail_requests < limit:
            return
        if self._release is None:
            self._release = asyncio.Event()
        self.stalled.set()
        await self._release.wait()

    def open(self) -> None:
        self.stalled.clear()
        if self._release is not None:
            self._release.set()
            self._release = None


def _lower_headers(request: Request) -> dict[str, str]:
    return {name.lower(): value for name, value in request.headers.items()}


def create_app(state: SandboxState) -> Starlette:
    gate = _Gate(state)
    quota = state.quota

    async def latency() -> None:
        seconds = state.faults.latency_s()
        if seconds:
            await asyncio.sleep(seconds)

    def send(answer: ApiResponse, content_type: str | None = None) -> Response:
        headers = dict(answer.headers)
        media = headers.pop("Content-Type", errors.JSON_TYPE)
        cls = ResetResponse if state.faults.reset() else Response
        if cls is ResetResponse:
            state.resets += 1
        return cls(answer.body, answer.status, headers, media_type=content_type or media)

    async def gmail(request: Request) -> Response:
        path = below(request.scope.get("root_path", ""), request.url.path)
        call = ApiCall(request.method, path, list(request.query_params.multi_items()), _lower_headers(request))
        try:
            prepared = api.prepare(state, call)
        except GoogleApiError as error:
            return send(error.response())
        await gate.wait()
        granted = quota.enter(prepared.email, 1, state.clock.monotonic())
        try:
            if not granted:
                return send(api.reject(state, prepared, errors.too_many_concurrent()))
            await latency()
            return send(api.execute(state, prepared))
        finally:
            quota.leave(prepared.email, granted)

    async def batch(request: Request) -> Response:
        outer = {k: v for k, v in _lower_headers(request).items() if k == "authorization"}
        try:
            root = request.scope.get("root_path", "")
            parts = parse_batch(request.headers.get("content-type", ""), await request.body(), outer, root)
        except GoogleApiError as error:
            return send(error.response())
        prepared: list[Prepared | ApiResponse] = []
        for part in parts:
            try:
                prepared.append(api.prepare(state, part.call))
            except GoogleApiError as error:
                prepared.append(error.response())
        wanted = Counter(p.email for p in prepared if isinstance(p, Prepared))
        for email in wanted:
            state.stats[email].batches += 1
        await gate.wait()
        granted = {email: quota.enter(email, n, state.clock.monotonic()) for email, n in wanted.items()}
        try:
            await latency()
            slots = dict(granted)
            answers: list[ApiResponse] = []
            for item in prepared:
                if isinstance(item, ApiResponse):
                    answers.append(item)
                elif slots[item.email] > 0:
                    slots[item.email] -= 1
                    answers.append(api.execute(state, item))
                else:
                    answers.append(api.reject(state, item, errors.too_many_concurrent()))
        finally:
            for email, count in granted.items():
                quota.leave(email, count)
        content_type, body = build_batch_response(parts, answers)
        if len(parts) > 1:
            for email in wanted:
                state.stats[email].largest_batch_bytes = max(state.stats[email].largest_batch_bytes, len(body))
        return send(ApiResponse(200, body), content_type)

    async def authorize(request: Request) -> Response:
        if request.method == "POST":
            params = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        else:
            params = dict(request.query_params)
        account = params.pop("account", None)
        decision = params.pop("decision", None)
        try:
            state.oauth.check_authorization_request(params)
            if request.method == "GET":
                return HTMLResponse(pages.consent_page(params, list(state.mailboxes)))
            location = state.oauth.decide(params, account, decision == "allow")
        except OAuthError as error:
            return HTMLResponse(pages.error_page(error.status, error.error, error.description), error.status)
        return RedirectResponse(location, 302)

    async def token(request: Request) -> Response:
        if state.oauth.token_outage:  # Google's front end, not the OAuth server, answers
            return HTMLResponse(pages.google_error_page(state.oauth.token_outage), state.oauth.token_outage)
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        try:
            body = state.oauth.token(form, request.headers.get("authorization"))
        except OAuthError as error:
            return JSONResponse(error.body(), error.status, headers={"Cache-Control": "no-store"})
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def revoke(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        try:
            state.oauth.revoke(form.get("token") or request.query_params.get("token", ""))
        except OAuthError as error:
            return JSONResponse(error.body(), error.status)
        return JSONResponse({})

    def _bearer(request: Request) -> Any:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else request.query_params.get("access_token", "")
        return state.oauth.authenticate(token)

    async def userinfo(request: Request) -> Response:
        grant = _bearer(request)
        if grant is None:  # Google's answer to a missing or dead token
            return JSONResponse(
                {"error": "invalid_request", "error_description": "Invalid Credentials"},
                401,
                headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
            )
        shape = oidc.userinfo_v2 if request.url.path == "/oauth2/v2/userinfo" else oidc.userinfo_openid
        return JSONResponse(shape(grant.email, grant.scope))

    async def openid_configuration(request: Request) -> Response:
        return JSONResponse(oidc.discovery(str(request.base_url).rstrip("/")))

    async def jwks(_request: Request) -> Response:
        return JSONResponse(state.oauth.id_tokens.jwks())

    async def pem_certs(_request: Request) -> Response:
        return JSONResponse(state.oauth.id_tokens.pem_certificates())

    async def index(request: Request) -> Response:
        return HTMLResponse(pages.index_page(str(request.base_url).rstrip("/")))

    routes = [
        Route("/", index),
        Route("/gmail/v1/{rest:path}", gmail, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/batch", batch, methods=["POST"]),
        Route("/batch/gmail/v1", batch, methods=["POST"]),
        Route("/o/oauth2/v2/auth", authorize, methods=["GET", "POST"]),
        Route("/token", token, methods=["POST"]),
        Route("/revoke", revoke, methods=["POST"]),
        Route("/oauth2/v2/userinfo", userinfo),
        Route("/oauth2/v3/userinfo", userinfo),
        Route("/v1/userinfo", userinfo),
        Route("/.well-known/openid-configuration", openid_configuration),
        Route("/oauth2/v3/certs", jwks),
        Route("/oauth2/v1/certs", pem_certs),
        *admin_routes(state, gate.open),
    ]
    app = Starlette(routes=routes)
    app.state.gate = gate
    return app
