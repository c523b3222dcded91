"""Issue comments (list, create, update), deployments and their statuses, on GitHub's paths.

Tokens carry permissions as a workflow's GITHUB_TOKEN does; a pull request from a fork
gets a read-only token, and writes with it answer 403 "Resource not accessible by
integration", as GitHub does. Every answer carries GitHub's `x-ratelimit-*` headers
(1,000 requests an hour for a GITHUB_TOKEN), and a test can make the next requests meet a
secondary rate limit: 403 or 429, with or without `retry-after`, GitHub's message.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.serving import ServerThread

READ_ONLY = {"pull-requests": "read", "deployments": "read", "contents": "read"}
WORKFLOW = {"pull-requests": "write", "deployments": "write", "contents": "read"}


@dataclass
class GitHubState:
    repository: str = "jessie/jessie"
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    deployments: list[dict[str, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    used: int = 0  # of this hour's primary rate limit
    secondary: list[dict[str, Any]] = field(default_factory=list)  # answers the next requests get
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1001))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


RATE_LIMIT = 1000  # requests an hour for a workflow's GITHUB_TOKEN
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID."
)


PRIMARY_MESSAGE = "API rate limit exceeded for installation. Wait until the rate limit resets."


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message, "documentation_url": "https://docs.github.com/rest"}, status)


def create_app(state: GitHubState) -> Starlette:
    def permissions(request: Request) -> dict[str, str] | None:
        header = request.headers.get("authorization", "")
        token = header.split(" ", 1)[1].strip() if " " in header else ""
        return state.tokens.get(token)

    Handler = Callable[[Request], Awaitable[Response]]

    def guarded(scope: str, write: bool) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            async def check(request: Request) -> Response:
                with state.lock:
                    state.calls.append(f"{request.method} {request.url.path}")
                    state.used += 1
                    limited = state.secondary.pop(0) if state.secondary else None
                    if state.used > RATE_LIMIT:  # the primary limit: nothing left this hour
                        limited = {"status": 403, "retry_after": None, "message": PRIMARY_MESSAGE}
                    headers = {
                        "x-ratelimit-limit": str(RATE_LIMIT),
                        "x-ratelimit-remaining": str(max(0, RATE_LIMIT - state.used)),
                        "x-ratelimit-used": str(state.used),
                        "x-ratelimit-reset": str(int(time.time()) + 3600),
                        "x-ratelimit-resource": "core",
                    }
                if limited is not None:
                    answer = _error(int(limited["status"]), limited.get("message", SECONDARY_MESSAGE))
                    if limited.get("retry_after") is not None:
                        answer.headers["retry-after"] = str(limited["retry_after"])
                    answer.headers.update(headers)
                    return answer
                response = await unguarded(request)
                response.headers.update(headers)
                return response

            async def unguarded(request: Request) -> Response:
                granted = permissions(request)
                if granted is None:
                    return _error(401, "Bad credentials")
                if f"{request.path_params['owner']}/{request.path_params['repo']}" != state.repository:
                    return _error(404, "Not Found")
                if granted.get(scope) not in (("write",) if write else ("read", "write")):
                    return _error(403, "Resource not accessible by integration")
                return await handler(request)

            return check

        return decorate

    @guarded("pull-requests", write=False)
    async def list_comments(request: Request) -> Response:
        number = int(request.path_params["number"])
        per_page = min(100, int(request.query_params.get("per_page", 30)))
        page = int(request.query_params.get("page", 1))
        with state.lock:
            comments = state.comments.get(number, [])
            return JSONResponse(comments[(page - 1) * per_page : page * per_page])

    @guarded("pull-requests", write=True)
    async def create_comment(request: Request) -> Response:
        body = json.loads(await request.body())
        comment = {
            "id": next(state._ids),
            "body": body["body"],
            "user": {"login": "github-actions[bot]"},
            "created_at": _now(),
            "updated_at": _now(),
        }
        with state.lock:
            state.comments.setdefault(int(request.path_params["number"]), []).append(comment)
        return JSONResponse(comment, 201)

    @guarded("pull-requests", write=True)
    async def update_comment(request: Request) -> Response:
        body = json.loads(await request.body())
        wanted = int(request.path_params["id"])
        with state.lock:
            for comment in (c for comments in state.comments.values() for c in comments):
                if comment["id"] == wanted:
                    comment.update(body=body["body"], updated_at=_now(), edits=comment.get("edits", 0) + 1)
                    return JSONResponse(comment)
        return _error(404, "Not Found")

    @guarded("deployments", write=True)
    async def create_deployment(request: Request) -> Response:
        body = json.loads(await request.body())
        deployment = {"id": next(state._ids), **body, "statuses": [], "created_at": _now()}
        with state.lock:
            state.deployments.append(deployment)
        return JSONResponse({k: v for k, v in deployment.items() if k != "statuses"}, 201)

    @guarded("deployments", write=True)
    async def create_status(request: Request) -> Response:
        body = json.loads(await request.body())
        wanted = int(request.path_params["id"])
        with state.lock:
            deployment = next((d for d in state.deployments if d["id"] == wanted), None)
            if deployment is None:
                return _error(404, "Not Found")
            status = {"id": next(state._ids), **body, "created_at": _now()}
            deployment["statuses"].append(status)
        return JSONResponse(status, 201)

    async def admin_tokens(request: Request) -> Response:
        body = json.loads(await request.body())
        with state.lock:
            state.tokens[body["token"]] = dict(body["permissions"])
        return JSONResponse({})

    async def admin_secondary_limit(request: Request) -> Response:
        """`{"requests": n, "status": 403 | 429, "retry_after": seconds | null}`"""
        body = json.loads(await request.body())
        answer = {"status": int(body.get("status", 403)), "retry_after": body.get("retry_after")}
        with state.lock:
            state.secondary.extend(answer for _ in range(int(body.get("requests", 1))))
        return JSONResponse({"pending": len(state.secondary)})

    async def admin_state(_request: Request) -> Response:
        with state.lock:
            return JSONResponse({"comments": state.comments, "deployments": state.deployments, "calls": state.calls})

    repo = "/repos/{owner}/{repo}"
    return Starlette(
        routes=[
            Route(repo + "/issues/{number:int}/comments", list_comments, methods=["GET"]),
            Route(repo + "/issues/{number:int}/comments", create_comment, methods=["POST"]),
            Route(repo + "/issues/comments/{id:int}", update_comment, methods=["PATCH"]),
            Route(repo + "/deployments", create_deployment, methods=["POST"]),
            Route(repo + "/deployments/{id:int}/statuses", create_status, methods=["POST"]),
            Route("/_sandbox/tokens", admin_tokens, methods=["POST"]),
            Route("/_sandbox/state", admin_state),
            Route("/_sandbox/secondary-limit", admin_secondary_limit, methods=["POST"]),
        ]
    )


class LocalGitHub(ServerThread):
    def __init__(self, state: GitHubState | None = None) -> None:
        self.state = state or GitHubState()
        super().__init__(create_app(self.state))

    def token(self, value: str, permissions: dict[str, str]) -> str:
        self.state.tokens[value] = dict(permissions)
        return value
