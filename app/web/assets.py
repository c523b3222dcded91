"""The few static files the pages use, served by the function itself (every path is rewritten
to it on Vercel): the favicon and the script that makes busy forms say so."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

router = APIRouter()
STATIC = Path(__file__).parent / "static"
CACHE = {"Cache-Control": "public, max-age=86400"}  # not mail: safe to keep for a day


@router.get("/favicon.ico")
@router.get("/static/favicon.svg")
def favicon() -> FileResponse:
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml", headers=CACHE)


@router.get("/static/jessie.js")
def script() -> FileResponse:
    return FileResponse(STATIC / "jessie.js", media_type="text/javascript", headers=CACHE)
