"""Vercel's entrypoint: the ASGI app, nothing else."""

from app.web.main import app

__all__ = ["app"]
