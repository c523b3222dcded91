"""`jessie migrate`: apply supabase/migrations in order, once each, safely under concurrency.

All pending migrations apply in one transaction that first takes a transaction-level
advisory lock (session locks do not survive Supavisor's transaction pooling): a second
`jessie migrate` running at the same moment waits, then finds nothing left to do.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

LOCK_KEY = 7_400_263_913  # any constant; identifies "jessie migrations" among advisory locks
_NAME = re.compile(r"^(\d{14})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    pass


def migrations_dir() -> Path:
    """supabase/migrations beside the app package; on Vercel, beside the function's working directory."""
    for root in (Path(__file__).resolve().parents[2], Path.cwd()):
        candidate = root / "supabase" / "migrations"
        if candidate.is_dir():
            return candidate
    raise MigrationError("supabase/migrations not found")


def load_migrations(directory: Path | None = None) -> list[Migration]:
    found = []
    for path in sorted((directory or migrations_dir()).glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named <14-digit timestamp>_<name>.sql")
        found.append(Migration(match.group(1), match.group(2), path.read_text()))
    return found


_LEDGER = """
create schema if not exists jessie;
create table if not exists jessie.schema_migrations (
    version text primary key,
    name text not null,
    checksum text not null,
    applied_at timestamptz not null default now()
);
alter table jessie.schema_migrations enable row level security;
"""


def migrate(connection: psycopg.Connection, directory: Path | None = None) -> list[str]:
    """Apply what is pending; returns the versions applied now."""
    wanted = load_migrations(directory)
    with connection.transaction():
        connection.execute("select pg_advisory_xact_lock(%s)", [LOCK_KEY])
        connection.execute(_LEDGER)
        rows = connection.execute("select version, checksum from jessie.schema_migrations").fetchall()
        applied: dict[str, str] = {row[0]: row[1] for row in rows}
        done = []
        for migration in wanted:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(f"{migration.version}_{migration.name} changed after it was applied")
                continue
            connection.execute(migration.sql.encode())  # our own files, not user input
            connection.execute(
                "insert into jessie.schema_migrations (version, name, checksum) values (%s, %s, %s)",
                [migration.version, migration.name, migration.checksum],
            )
            done.append(migration.version)
    return done


def pending(connection: psycopg.Connection, directory: Path | None = None) -> list[str]:
    """Versions not yet applied (all of them when the ledger does not exist yet)."""
    wanted = [m.version for m in load_migrations(directory)]
    exists = connection.execute("select to_regclass('jessie.schema_migrations')").fetchone()
    if not exists or exists[0] is None:
        return wanted
    applied = {row[0] for row in connection.execute("select version from jessie.schema_migrations")}
    return [version for version in wanted if version not in applied]
