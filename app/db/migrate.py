"""`jessie migrate`: apply supabase/migrations in order, once each, recorded in Supabase's ledger.

The ledger is the Supabase CLI's, `supabase_migrations.schema_migrations (version, name,
statements)`, written as the CLI writes it, so `supabase db push`, `supabase migration list`,
Supabase's GitHub integration and Branching and Jessie always agree on what is applied. The
pipeline applies migrations with the pinned CLI itself (`ci/deploy.py`); local and test paths
apply them here, in-process. A migration whose file changed after it was applied (its statements
differ from the recorded ones) stops everything with one line.

Concurrency: all pending migrations apply in one transaction that first takes a transaction-level
advisory lock (session locks do not survive Supavisor's transaction pooling), so a second
`jessie migrate` at the same moment waits, then finds nothing to do. The CLI takes no lock (each
migration is one implicit transaction of its own; a second push at the same moment fails on the
ledger's primary key or on the migration itself, and applies nothing twice), so the pipeline holds
the same advisory lock while the CLI runs.

Databases migrated before this ledger recorded versions in `jessie.schema_migrations`: those are
carried over once (`carry_over`), checksums compared, and that table is left as it was, readable
by deployments a rollback may return to.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from app.db.statements import split

LOCK_KEY = 7_400_263_913  # any constant; identifies "jessie migrations" among advisory locks
_NAME = re.compile(r"^(\d{14})_([a-z0-9_]+)\.sql$")
# The Supabase CLI's own statements (pkg/migration/history.go), so either may create the ledger.
LEDGER = (
    "create schema if not exists supabase_migrations",
    "create table if not exists supabase_migrations.schema_migrations (version text not null primary key)",
    "alter table supabase_migrations.schema_migrations add column if not exists statements text[]",
    "alter table supabase_migrations.schema_migrations add column if not exists name text",
)
OLD_LEDGER = "jessie.schema_migrations"


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """What the old ledger recorded (sha256 of the file)."""
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def statements(self) -> list[str]:
        """What Supabase's ledger records, as the CLI splits them."""
        return split(self.sql)

    @property
    def file_name(self) -> str:
        return f"{self.version}_{self.name}.sql"


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


def _exists(connection: psycopg.Connection, table: str) -> bool:
    row = connection.execute("select to_regclass(%s)", [table]).fetchone()
    return row is not None and row[0] is not None


def _applied(connection: psycopg.Connection) -> dict[str, list[str] | None]:
    """Version → recorded statements (None where a tool recorded the version alone)."""
    if not _exists(connection, "supabase_migrations.schema_migrations"):
        return {}
    rows = connection.execute("select version, statements from supabase_migrations.schema_migrations").fetchall()
    return {version: statements for version, statements in rows}


def _record(connection: psycopg.Connection, migration: Migration) -> None:
    connection.execute(
        """insert into supabase_migrations.schema_migrations (version, name, statements) values (%s, %s, %s)
           on conflict (version) do nothing""",
        [migration.version, migration.name, migration.statements],
    )


def carry_over(connection: psycopg.Connection, wanted: list[Migration]) -> list[str]:
    """Copy what the old ledger says was applied into Supabase's, once (a version already there is
    left alone); a file that changed since is an error, as it always was. Returns the versions copied."""
    if not _exists(connection, OLD_LEDGER):
        return []
    for statement in LEDGER:
        connection.execute(statement)
    old: dict[str, str] = dict(connection.execute(f"select version, checksum from {OLD_LEDGER}").fetchall())  # noqa: S608
    by_version = {migration.version: migration for migration in wanted}
    applied = _applied(connection)
    copied = []
    for version, checksum in sorted(old.items()):
        migration = by_version.get(version)
        if migration is None:
            raise MigrationError(f"{version} is recorded as applied but supabase/migrations has no such file")
        if migration.checksum != checksum:
            raise MigrationError(f"{migration.file_name} changed after it was applied")
        if version not in applied:
            _record(connection, migration)
            copied.append(version)
    return copied


def verify(connection: psycopg.Connection, wanted: list[Migration]) -> None:
    """Every applied migration still reads as it was recorded; one recorded without statements (by
    `supabase migration repair`) is taken as it is."""
    applied = _applied(connection)
    for migration in wanted:
        recorded = applied.get(migration.version)
        if recorded is not None and recorded != migration.statements:
            raise MigrationError(f"{migration.file_name} changed after it was applied")
    unknown = sorted(set(applied) - {migration.version for migration in wanted})
    if unknown:
        raise MigrationError(f"the database has applied {', '.join(unknown)}, which supabase/migrations lacks")


def prepare(connection: psycopg.Connection, directory: Path | None = None) -> list[Migration]:
    """Before anything is applied (here or by the CLI): the old ledger carried over, every applied
    file unchanged. Returns what is pending. The caller holds the lock (`lock`)."""
    wanted = load_migrations(directory)
    carry_over(connection, wanted)
    verify(connection, wanted)
    applied = _applied(connection)
    return [migration for migration in wanted if migration.version not in applied]


def lock(connection: psycopg.Connection) -> None:
    """Migrations one at a time, until the caller's transaction ends."""
    connection.execute("select pg_advisory_xact_lock(%s)", [LOCK_KEY])


def migrate(connection: psycopg.Connection, directory: Path | None = None) -> list[str]:
    """Apply what is pending, in one transaction; returns the versions applied now."""
    with connection.transaction():
        lock(connection)
        waiting = prepare(connection, directory)
        if waiting:
            for statement in LEDGER:
                connection.execute(statement)
        for migration in waiting:
            connection.execute(migration.sql.encode())  # our own files, not user input
            _record(connection, migration)
    return [migration.version for migration in waiting]


def pending(connection: psycopg.Connection, directory: Path | None = None) -> list[str]:
    """Versions Supabase's ledger does not list (all of them before it exists)."""
    applied = _applied(connection)
    return [migration.version for migration in load_migrations(directory) if migration.version not in applied]
