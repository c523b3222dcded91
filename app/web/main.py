"""The ASGI app Vercel serves (through api/index.py) and `jessie serve` runs locally."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from app.config import MissingSetting, Settings, get_settings
from app.web import api, auth, pages
from app.web.context import page


def create_app(settings: Settings | None = None) -> FastAPI:
    # No trailing-slash redirects (Vercel Cron does not follow redirects), no API docs.
    app = FastAPI(title="Jessie", redirect_slashes=False, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings or get_settings()
    app.state.pool = None
    app.include_router(api.router)
    app.include_router(auth.router)
    app.include_router(pages.router)

    @app.exception_handler(MissingSetting)
    def missing_setting(request: Request, error: MissingSetting) -> Response:
        """A missing secret names itself (never its value) instead of a bare 500."""
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": str(error)}, 500)
        return page(
            request,
            "message.html",
            500,
            title="Jessie is not configured",
            detail=str(error),
            email=None,
        )

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"
        )
        return response

    return app


app = create_app()
