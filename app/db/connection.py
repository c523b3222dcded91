"""Connections that are safe behind Supabase's Supavisor pooler.

In transaction mode (port 6543) a server connection is shared between clients from one
transaction to the next, so nothing may outlive a transaction: no prepared statements
(`prepare_threshold=None`), no session-level advisory locks or SETs. Every connection
here follows those rules, whatever the URL, so code that works locally works there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from app.config import MissingSetting, Settings

# Query parameters that integrations add to URLs but libpq refuses ("invalid URI query
# parameter"): Supabase's Vercel integration adds `supa`, Prisma-style URLs `pgbouncer`.
_FOREIGN_PARAMETERS = {"supa", "pgbouncer"}
Connection = psycopg.Connection[Any]  # what every query module's functions take
CONNECTION_OPTIONS: dict[str, object] = {"prepare_threshold": None, "connect_timeout": 10}
PROBE_TIMEOUT_S = 3  # a direct connection that says whether Postgres answers at all
POOL_WAIT_S = 60.0  # how long a caller waits for a pooled connection by default


class DatabaseUnavailable(RuntimeError):
    """Postgres cannot be reached; the message says where (never the password) and why."""


# What a call meets when Postgres is away: the probe's answer, a dead connection, a pool that waited.
DATABASE_DOWN = (DatabaseUnavailable, psycopg.OperationalError, PoolTimeout)


def _where(url: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    host = info.get("host") or "localhost"
    return f"{host}:{info['port']}" if info.get("port") else str(host)


def probe(url: str) -> None:
    """Raise DatabaseUnavailable unless a connection can be made now, within seconds."""
    try:
        psycopg.connect(url, **{**CONNECTION_OPTIONS, "connect_timeout": PROBE_TIMEOUT_S}).close()  # type: ignore[arg-type]
    except psycopg.OperationalError as error:
        reason = (str(error).strip().splitlines() or ["no answer"])[0].split(": ")[-1]
        raise DatabaseUnavailable(f"cannot reach the database at {_where(url)}: {reason}") from None


def clean_url(url: str) -> str:
    parts = urlsplit(url)
    query = [
        (key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if key not in _FOREIGN_PARAMETERS
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


def readable_url(url: str) -> str:
    """`url` without foreign parameters, if libpq can read it; else DatabaseUnavailable in words
    that never quote it (libpq's own message does, password included)."""
    try:
        cleaned = clean_url(url)
        psycopg.conninfo.conninfo_to_dict(cleaned)
    except (ValueError, psycopg.ProgrammingError):
        raise DatabaseUnavailable(
            "DATABASE_URL (or POSTGRES_URL) is not a PostgreSQL URL: expected "
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE (its value is not shown: it may hold a password)"
        ) from None
    return cleaned


def database_url(settings: Settings) -> str:
    if settings.database_url is not None and settings.database_url.get_secret_value():
        return readable_url(settings.database_url.get_secret_value())
    if not settings.is_development:
        raise MissingSetting(f"DATABASE_URL (or POSTGRES_URL) is not set (required in {settings.vercel_env})")
    from app.db.embedded import embedded_database_url

    return embedded_database_url(settings.data_dir)


def connect(settings: Settings, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    url = database_url(settings)
    try:
        return psycopg.connect(url, autocommit=autocommit, **CONNECTION_OPTIONS)  # type: ignore[arg-type]
    except psycopg.OperationalError:
        probe(url)  # says why, in one line
        raise


class Database:
    """The process's pool of connections, which recovers as soon as Postgres does.

    psycopg_pool waits longer and longer between reconnect attempts while Postgres is away,
    so after an outage a pool may go on failing for many seconds. Here a failed wait marks
    the pool suspect; the next caller first makes one direct connection: if Postgres answers,
    the pool is replaced by a fresh one at once, and if not, the caller fails at once with
    DatabaseUnavailable instead of waiting again.
    """

    def __init__(self, url: str, size: int) -> None:
        self.url, self.size = url, size
        self._pool = self._open()
        self._suspect = False
        self._lock = threading.Lock()

    def _open(self) -> ConnectionPool:
        return ConnectionPool(
            self.url,
            min_size=1,
            max_size=self.size,
            kwargs=CONNECTION_OPTIONS,
            timeout=POOL_WAIT_S,
            name="jessie",
            open=True,
        )

    def _current(self) -> ConnectionPool:
        with self._lock:
            if self._suspect:
                probe(self.url)
                stale, self._pool, self._suspect = self._pool, self._open(), False
                stale.close(timeout=0)
            return self._pool

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection[Any]]:
        """A connection for one transaction (committed when the block ends without error)."""
        pool = self._current()
        try:
            with pool.connection(timeout=timeout) as conn:
                yield conn
        except (PoolTimeout, psycopg.OperationalError):  # Postgres away (or the pool behind)
            self._suspect = True
            raise

    def resize(self, size: int) -> None:
        """At most `size` connections from now on (a replacement pool keeps it too)."""
        with self._lock:
            self.size = size
            self._pool.resize(min_size=1, max_size=size)

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_pool(settings: Settings, size: int | None = None) -> Database:
    """A small pool: connections are borrowed per transaction, never held across Gmail calls. By
    default sized for a process that syncs (settings.sync_pool_size)."""
    url = database_url(settings)
    probe(url)  # an unreachable database is one clear line, not a minute of reconnect attempts
    return Database(url, size or settings.sync_pool_size)
