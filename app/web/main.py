"""The ASGI app Vercel serves (through api/index.py) and `jessie serve` runs locally.

Every answer, errors included, carries the same security headers and `Cache-Control:
no-store` (the pages hold people's mail); HTTPS answers carry HSTS. Every failure is a
page (or, under /api/, JSON) that says what happened in words, never a bare traceback.
Invalid settings do not stop the import (on Vercel that would only say
FUNCTION_INVOCATION_FAILED): every request answers 500 naming the variables instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from app.config import TEST_MODE_PATH, MissingSetting, Settings, describe_invalid, get_settings
from app.db.connection import DatabaseUnavailable
from app.logs import log_event
from app.web import api, assets, auth, drain, pages, queue
from app.web.context import AdminOnly, CronRefused, CrossSiteRefused, SignInRequired, bind_settings, page
from app.web.pages import BadInput

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    # No framing (frame-ancestors), forms post only to Jessie (form-action), no <base> rewriting links.
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
}
HSTS = "max-age=63072000; includeSubDomains"


def secure(request: Request, response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https":
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def _answer(request: Request, status: int, title: str, detail: str) -> Response:
    """An error as a page, or as JSON under /api/."""
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": detail}, status)
    return page(request, "message.html", status, title=title, detail=detail)


_WHY = {  # pydantic's error types, in words
    "int_parsing": "must be a whole number",
    "value_error": "must be a whole number",
    "greater_than_equal": "is too small",
    "less_than_equal": "is too large",
    "string_too_long": "is too long",
    "string_pattern_mismatch": "has characters it may not have",
    "missing": "is missing",
    "bool_parsing": "must be true or false",
}


def _in_words(problems: Sequence[Any]) -> str:
    """`“abc” (the sweep id) must be a whole number.`, once per problem, never pydantic's own text."""
    said = []
    for problem in problems:
        name = str(problem["loc"][-1]).replace("_", " ")
        given = problem.get("input")
        shown = f"“{given}” (the {name})" if isinstance(given, str) and len(given) <= 40 else f"the {name}"
        why = _WHY.get(problem["type"], "is not a value Jessie can use")
        if problem["type"] == "literal_error":  # a choice: say which ones there are
            why = "must be " + re.sub(r"'([^']*)'", r"“\1”", str(problem["ctx"]["expected"]))
        said.append(f"{shown} {why}.")
    return " ".join(said)


def _add_error_pages(app: FastAPI) -> None:
    def handle(kind: type[Exception], status: int, title: str, detail: str | None = None) -> None:
        def answer(request: Request, error: Exception) -> Response:
            return _answer(request, status, title, detail or str(error))

        app.add_exception_handler(kind, answer)

    handle(AdminOnly, 403, "Not for you", "The dashboard is for ADMIN_EMAILS only.")
    handle(CrossSiteRefused, 403, "Refused", "This request did not come from Jessie's own page: nothing was changed.")
    handle(BadInput, 400, "That did not work")
    handle(MissingSetting, 500, "Jessie is not configured")
    handle(DatabaseUnavailable, 503, "The database is unavailable", "Jessie's database cannot be reached right now.")

    @app.exception_handler(CronRefused)
    def cron_refused(_request: Request, refused: CronRefused) -> Response:
        challenge = {"WWW-Authenticate": "Bearer"} if refused.status == 401 else None
        return JSONResponse({"error": str(refused)}, refused.status, headers=challenge)

    @app.exception_handler(SignInRequired)
    def sign_in_first(request: Request, _error: SignInRequired) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "sign in first"}, 401)
        return RedirectResponse("/", 303)

    @app.exception_handler(RequestValidationError)
    def invalid_request(request: Request, error: RequestValidationError) -> Response:
        problems = error.errors()
        if any(problem["loc"][0] == "path" for problem in problems):  # an address that names nothing
            return _answer(request, 404, "Not found", f"There is nothing at this address: {_in_words(problems)}")
        return _answer(
            request, 400, "That did not work", f"This link or form is not one Jessie made: {_in_words(problems)}"
        )

    @app.exception_handler(HTTPException)
    def http_error(request: Request, error: HTTPException) -> Response:
        titles = {404: "Not found", 405: "Not allowed"}
        return _answer(request, error.status_code, titles.get(error.status_code, "Error"), str(error.detail))

    @app.exception_handler(Exception)
    def crash(request: Request, error: Exception) -> Response:
        """Outside every middleware (Starlette's last resort), so it adds the headers itself."""
        log_event("web.error", logging.ERROR, path=request.url.path, error=type(error).__name__)
        detail = "Something went wrong on Jessie's side; it has been logged."
        return secure(request, _answer(request, 500, "Something went wrong", detail))


def create_app(settings: Settings | None = None) -> FastAPI:
    # No trailing-slash redirects (Vercel Cron does not follow redirects), no API docs.
    app = FastAPI(
        title="Jessie",
        redirect_slashes=False,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(bind_settings)],  # the page renderer sees the settings the route resolved
    )
    app.state.pool = None
    app.state.settings_error = None
    try:
        app.state.settings = settings or get_settings()
    except ValidationError as error:
        app.state.settings_error = f"invalid settings: {describe_invalid(error)}"
        log_event("web.settings_invalid", logging.ERROR, error=app.state.settings_error)
    app.include_router(api.router)
    app.include_router(drain.router)
    app.include_router(queue.router)
    app.include_router(auth.router)
    app.include_router(pages.router)
    app.include_router(assets.router)
    _add_error_pages(app)

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if app.state.settings_error is not None:
            return secure(request, JSONResponse({"error": app.state.settings_error}, 500))
        if request.url.path.startswith(TEST_MODE_PATH + "/"):  # a test-mode Preview's Google, with Google's headers
            return await call_next(request)
        return secure(request, await call_next(request))

    return app


app = create_app()
