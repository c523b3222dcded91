"""A tiny ASGI function (no dependencies) that the local Vercel's tests build with the real
CLI and deploy: each path exercises one thing the platform does to a function."""

import asyncio
import json
import os
import sys
from typing import Any
from urllib.parse import parse_qs


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


def _try_write(path: str) -> str:
    try:
        with open(path, "w") as file:
            file.write("x")
    except OSError as error:
        return f"{type(error).__name__}: {error.strerror}"
    return "written"


def _try_import(name: str) -> str:
    try:
        __import__(name)
    except ImportError as error:
        return type(error).__name__
    return "imported"


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    query = {key: values[0] for key, values in parse_qs(scope["query_string"].decode()).items()}
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    path = scope["path"]
    answer: object
    if path == "/sleep":
        await asyncio.sleep(float(query["seconds"]))
        answer = {"slept": float(query["seconds"]), "pid": os.getpid()}
    elif path == "/crash":
        print("about to crash", flush=True)
        os._exit(3)
    elif path == "/write":
        answer = {"result": _try_write(query["path"])}
    elif path == "/import":
        answer = {"result": _try_import(query["name"])}
    elif path == "/headers":
        answer = {key.decode(): value.decode() for key, value in scope["headers"]}
    elif path == "/print":
        print("to stdout", flush=True)
        print("to stderr", file=sys.stderr, flush=True)
        answer = {"printed": 2}
    else:
        answer = {"path": path, "body_bytes": len(body), "pid": os.getpid(), "env": os.environ.get("VERCEL_ENV")}
    payload = json.dumps(answer).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": payload})
