"""Connections that are safe behind Supabase's Supavisor pooler.

In transaction mode (port 6543) a server connection is shared between clients from one
transaction to the next, so nothing may outlive a transaction: no prepared statements
(`prepare_threshold=None`), no session-level advisory locks or SETs. Every connection
here follows those rules, whatever the URL, so code that works locally works there.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg_pool import ConnectionPool

from app.config import MissingSetting, Settings

# Query parameters that integrations add to URLs but libpq refuses ("invalid URI query
# parameter"): Supabase's Vercel integration adds `supa`, Prisma-style URLs `pgbouncer`.
_FOREIGN_PARAMETERS = {"supa", "pgbouncer"}
CONNECTION_OPTIONS: dict[str, object] = {"prepare_threshold": None}


def clean_url(url: str) -> str:
    parts = urlsplit(url)
    query = [
        (key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if key not in _FOREIGN_PARAMETERS
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


def database_url(settings: Settings) -> str:
    if settings.database_url is not None and settings.database_url.get_secret_value():
        return clean_url(settings.database_url.get_secret_value())
    if not settings.is_development:
        raise MissingSetting(f"DATABASE_URL (or POSTGRES_URL) is not set (required in {settings.vercel_env})")
    from app.db.embedded import embedded_database_url

    return embedded_database_url(settings.data_dir)


def connect(settings: Settings, *, autocommit: bool = False) -> psycopg.Connection:
    return psycopg.connect(database_url(settings), autocommit=autocommit, **CONNECTION_OPTIONS)  # type: ignore[arg-type]


def open_pool(settings: Settings, size: int | None = None) -> ConnectionPool:
    """A small pool: connections are borrowed per transaction, never held across Gmail calls."""
    return ConnectionPool(
        database_url(settings),
        min_size=1,
        max_size=size or settings.db_pool_size,
        kwargs=CONNECTION_OPTIONS,
        timeout=60,
        name="jessie",
        open=True,
    )
