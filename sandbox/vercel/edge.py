"""What Vercel's edge adds in front of a deployment's function, as pure ASGI (no dependencies,
because it runs inside the deployment's own environment):

- Deployment Protection: without `x-vercel-protection-bypass: <secret>` (or the cookie that
  `x-vercel-set-bypass-cookie: true` sets) a protected deployment answers 401;
- the `x-forwarded-proto`/`x-forwarded-host` headers Vercel sets, and `x-vercel-id`.

Loaded as `_vercel_edge:app` with JESSIE_EDGE_APP=module:attribute naming the function.
"""

from __future__ import annotations

import hmac
import importlib
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
BYPASS_COOKIE = "_vercel_protection_bypass"


def _load() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    module_name, _, attribute = os.environ["JESSIE_EDGE_APP"].partition(":")
    return getattr(importlib.import_module(module_name), attribute)  # type: ignore[no-any-return]


_function = _load()
_secret = os.environ.get("JESSIE_EDGE_BYPASS_SECRET", "")
# Production domains are not protected (Vercel's Standard Protection covers deployment URLs).
_open_hosts = {host for host in os.environ.get("JESSIE_EDGE_OPEN_HOSTS", "").split(",") if host}


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


def _allowed(scope: Scope) -> bool:
    if not _secret or _header(scope, b"host") in _open_hosts:
        return True
    presented = _header(scope, b"x-vercel-protection-bypass")
    if presented and hmac.compare_digest(presented, _secret):
        return True
    cookies = dict(part.strip().split("=", 1) for part in _header(scope, b"cookie").split(";") if "=" in part)
    return hmac.compare_digest(cookies.get(BYPASS_COOKIE, ""), _secret)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        await _function(scope, receive, send)
        return
    if not _allowed(scope):
        body = b"Authentication Required: this deployment is protected (Vercel Deployment Protection)."
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return
    host = _header(scope, b"host")
    scope = dict(scope)
    scope["headers"] = [
        *scope["headers"],
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-host", host.encode()),
        (b"x-vercel-id", b"local::" + os.environ.get("VERCEL_DEPLOYMENT_ID", "").encode()),
    ]
    set_cookie = _secret and _header(scope, b"x-vercel-set-bypass-cookie") == "true"

    async def send_with_cookie(message: MutableMapping[str, Any]) -> None:
        if set_cookie and message["type"] == "http.response.start":
            cookie = f"{BYPASS_COOKIE}={_secret}; Path=/; HttpOnly; Secure; SameSite=None".encode()
            message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
        await send(message)

    await _function(scope, receive, send_with_cookie)
