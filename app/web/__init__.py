"""The FastAPI app: cron endpoint, health, Gmail connect, inbox, run dashboard."""
