"""Vercel Queues' consumer of the sweep topic (vercel.json's experimentalTriggers): the same app
as api/index.py, invoked with push deliveries at /api/queue/sweep (app/web/queue.py)."""

from app.web.main import app

__all__ = ["app"]
