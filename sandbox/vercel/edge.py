"""Vercel's edge in front of one deployment: what happens to a request before and after
the function runs.

- Routing by host: a request for a host that does not serve this deployment (now) answers 404
  DEPLOYMENT_NOT_FOUND.
- Deployment Protection: without `x-vercel-protection-bypass: <secret>` (or the cookie that
  `x-vercel-set-bypass-cookie: true` sets) a deployment URL answers 401; the Production
  domain is public (Standard Protection covers deployment URLs only).
- The request body limit of Vercel Functions, 4.5 MB: 413 FUNCTION_PAYLOAD_TOO_LARGE.
- Routing as the Build Output says: static files first, then config.json's routes to a
  function, else 404 NOT_FOUND. The function sees the URL the client asked for.
- The headers Vercel sets, overwriting any copy the client sent: `x-forwarded-for`,
  `x-real-ip`, `x-vercel-forwarded-for`, `x-forwarded-host`, `x-forwarded-proto`,
  `x-vercel-id`, `x-vercel-deployment-url`; the response carries `x-vercel-id` too. A client's
  `x-vercel-oidc-token` or `x-vercel-internal-*` never reaches a function.
"""

from __future__ import annotations

import hmac
import mimetypes
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from ci.build_output import route

from .functions import FunctionPool, Outcome, Request, failed

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
BYPASS_COOKIE = "_vercel_protection_bypass"
BODY_LIMIT_BYTES = 4_718_592  # 4.5 MB
REGION = "local1"
# Client-sent headers Vercel replaces with its own (and the runtime's internal ones).
_REPLACED = (
    "x-forwarded-",
    "x-real-ip",
    "x-vercel-id",
    "x-vercel-forwarded-for",
    "x-vercel-deployment-url",
    "x-vercel-oidc-token",  # the platform's own (functions.py), never a client's
    "x-vercel-internal-",
)


def new_request_id() -> str:
    """An `x-vercel-id`: the region, then a unique id of the request."""
    return f"{REGION}::{secrets.token_hex(3)}-{int(time.time() * 1000)}-{secrets.token_hex(6)}"


class Edge:
    def __init__(
        self,
        deployment_host: str,
        serves: Callable[[str], bool],
        open_host: Callable[[str], bool],
        bypass_secret: str,
        routes: list[dict[str, Any]],
        static: dict[str, Path],
        functions: dict[str, FunctionPool],
    ) -> None:
        self.deployment_host = deployment_host
        self.serves = serves  # its URL and the names that point at it now
        self.open_host = open_host  # the Production domain, while it points here
        self.bypass_secret = bypass_secret
        self.routes = routes
        self.static = static  # URL path → file
        self.functions = functions  # function path (/api/index) → its instances

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request_id = new_request_id()
        headers = [(key.decode("latin-1").lower(), value.decode("latin-1")) for key, value in scope["headers"]]
        host = next((value for key, value in headers if key == "host"), "")
        if not self.serves(host):  # a name moved on while this connection stayed open
            await _send(send, failed("DEPLOYMENT_NOT_FOUND", 404, request_id), request_id)
            return
        if not self._allowed(host, headers):
            body = b"Authentication Required: this deployment is protected (Vercel Deployment Protection)."
            await _send(send, Outcome(401, [("content-type", "text/plain")], body), request_id)
            return
        received = await _read_body(receive, headers)
        if received is None:
            await _send(send, failed("FUNCTION_PAYLOAD_TOO_LARGE", 413, request_id), request_id)
            return
        outcome = await self._answer(scope, request_id, host, headers, received)
        if self.bypass_secret and _header(headers, "x-vercel-set-bypass-cookie") == "true":
            cookie = f"{BYPASS_COOKIE}={self.bypass_secret}; Path=/; HttpOnly; Secure; SameSite=None"
            outcome.headers.append(("set-cookie", cookie))
        await _send(send, outcome, request_id)

    def _allowed(self, host: str, headers: list[tuple[str, str]]) -> bool:
        if not self.bypass_secret or self.open_host(host):
            return True
        presented = _header(headers, "x-vercel-protection-bypass")
        if presented and hmac.compare_digest(presented, self.bypass_secret):
            return True
        cookies = dict(part.strip().split("=", 1) for part in _header(headers, "cookie").split(";") if "=" in part)
        return hmac.compare_digest(cookies.get(BYPASS_COOKIE, ""), self.bypass_secret)

    async def _answer(
        self, scope: Scope, request_id: str, host: str, headers: list[tuple[str, str]], body: bytes
    ) -> Outcome:
        path = scope["path"]
        if path in self.static and scope["method"] in ("GET", "HEAD"):
            kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
            return Outcome(200, [("content-type", kind)], self.static[path].read_bytes())
        reached = route(self.routes, path)
        pool = self.functions.get(reached) if isinstance(reached, str) else None
        if pool is None or isinstance(reached, int):
            return failed("NOT_FOUND", reached if isinstance(reached, int) else 404, request_id)
        client = (scope.get("client") or ("127.0.0.1", 0))[0]
        forwarded = [
            ("x-forwarded-for", client),
            ("x-real-ip", client),
            ("x-vercel-forwarded-for", client),
            ("x-forwarded-host", host),
            ("x-forwarded-proto", "https"),
            ("x-vercel-id", request_id),
            ("x-vercel-deployment-url", self.deployment_host),
        ]
        kept = [(key, value) for key, value in headers if not key.startswith(_REPLACED)]
        query = scope.get("query_string", b"").decode("latin-1")
        target = scope.get("raw_path", path.encode()).decode("latin-1") + (f"?{query}" if query else "")
        request = Request(
            request_id, scope["method"], target, host, [*kept, *forwarded], body, function=reached, client_ip=client
        )
        return await pool.invoke(request)


def _header(headers: list[tuple[str, str]], name: str) -> str:
    return next((value for key, value in headers if key == name), "")


async def _read_body(receive: Receive, headers: list[tuple[str, str]]) -> bytes | None:
    """The whole body, or None once it passes the limit (declared or streamed)."""
    declared = _header(headers, "content-length")
    if declared.isdigit() and int(declared) > BODY_LIMIT_BYTES:
        return None
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > BODY_LIMIT_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send(send: Send, outcome: Outcome, request_id: str) -> None:
    dropped = {"content-length", "transfer-encoding", "connection", "content-encoding", "x-vercel-id"}
    headers = [(key.encode("latin-1"), value.encode("latin-1")) for key, value in outcome.headers if key not in dropped]
    headers += [
        (b"content-length", str(len(outcome.body)).encode()),
        (b"x-vercel-id", request_id.encode()),
        (b"server", b"Vercel"),
    ]
    await send({"type": "http.response.start", "status": outcome.status, "headers": headers})
    await send({"type": "http.response.body", "body": outcome.body})
