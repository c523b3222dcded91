"""Jessie: syncs every connected user's Gmail into Postgres, hourly, from a Vercel Cron Job."""
