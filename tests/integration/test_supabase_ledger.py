"""One migration ledger, Supabase's: Jessie and the pinned Supabase CLI (`supabase db push`,
`supabase migration list`) agree on what is applied, whichever applied it; an old Jessie ledger
carries over once; a changed file stops both with one line; concurrent migrates apply once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from app.db.migrate import OLD_LEDGER, MigrationError, load_migrations, migrate
from app.db.statements import split
from ci import supabase
from ci.vercel import DeploymentFailed, installed
from tests.postgres import Postgres

VERSIONS = [migration.version for migration in load_migrations()]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def database(postgres_server: Postgres) -> Iterator[str]:
    """An empty database; its name (URLs from `postgres_server`)."""
    name = f"ledger_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_server.url(), autocommit=True) as conn:
        conn.execute(f"create database {name}")
    yield name
    with psycopg.connect(postgres_server.url(), autocommit=True) as conn:
        conn.execute(f"drop database {name} with (force)")


@pytest.fixture(autouse=True)
def cli_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI keeps its state under $HOME (~/.supabase): a throw-away one, for it and ci.supabase."""
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))


def cli(*arguments: str, workdir: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """The pinned CLI, as ci.supabase runs it (on a copy of `workdir`'s project)."""
    return supabase._cli(list(arguments), workdir)


def jessie(url: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {"DATABASE_URL": url, "VERCEL_ENV": "preview", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "app.cli", *arguments], env=env, capture_output=True, text=True)


def ledger(url: str) -> list[tuple[str, str, list[str]]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("select version, name, statements from supabase_migrations.schema_migrations order by 1")
        return [(version, name, statements) for version, name, statements in rows]


def listed(postgres_server: Postgres, name: str) -> list[list[str]]:
    """`supabase migration list`'s table: (local, remote) per version."""
    shown = cli("migration", "list", "--db-url", postgres_server.tcp_url(name))
    assert shown.returncode == 0, shown.stderr
    rows = [line.split("|") for line in shown.stdout.splitlines() if line.count("|") == 2]
    return [[cell.strip().strip("`") for cell in row[:2]] for row in rows[1:] if not set(row[0].strip()) <= {"-"}]


def test_what_jessie_applies_the_cli_sees_applied_exactly_as_it_records_it(
    postgres_server: Postgres, database: str, tmp_path: Path
) -> None:
    with psycopg.connect(postgres_server.url(database)) as conn:
        assert migrate(conn) == VERSIONS
    assert listed(postgres_server, database) == [[version, version] for version in VERSIONS]
    dry = cli("db", "push", "--dry-run", "--db-url", postgres_server.tcp_url(database))
    assert dry.returncode == 0 and "up to date" in dry.stdout + dry.stderr
    # The same files pushed by the CLI into another database: the same rows, statement for statement.
    other = f"cli_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_server.url(), autocommit=True) as conn:
        conn.execute(f"create database {other}")
    try:
        pushed = cli("db", "push", "--yes", "--db-url", postgres_server.tcp_url(other))
        assert pushed.returncode == 0, pushed.stderr
        assert ledger(postgres_server.url(other)) == ledger(postgres_server.url(database))
    finally:
        with psycopg.connect(postgres_server.url(), autocommit=True) as conn:
            conn.execute(f"drop database {other} with (force)")


def test_what_the_cli_pushes_jessie_sees_applied(postgres_server: Postgres, database: str) -> None:
    url = postgres_server.url(database)
    before = jessie(url, "migrate", "--check")
    assert before.returncode == 1
    assert before.stdout.splitlines() == [f"pending {version}" for version in VERSIONS] + [
        f"{len(VERSIONS)} migration(s) pending"
    ]
    pushed = cli("db", "push", "--yes", "--db-url", postgres_server.tcp_url(database))
    assert pushed.returncode == 0, pushed.stderr
    after = jessie(url, "migrate", "--check")
    assert (after.returncode, after.stdout.strip()) == (0, "nothing pending")
    assert jessie(url, "migrate").stdout.startswith("applied 0 migration(s)")


def test_the_splitter_is_the_clis_on_sql_that_tries_to_fool_it(
    postgres_server: Postgres, database: str, tmp_path: Path
) -> None:
    """Semicolons in every place the CLI's parser must not split at."""
    tricky = """-- a comment; with a semicolon
create table public.t (a text default 'it''s; here', "b;c" int);
/* a block; /* nested; */ still; */ insert into public.t (a) values ($$dollar; quoted$$);
insert into public.t (a) values ($tag$ a $$ inside; $tag$) ;;
create function public.f() returns int language sql begin atomic select 1; select 2; end;
create function public.g(x int) returns int as $body$ select x; $body$ language sql;
select E'back\\\\slash;';
select (1);   -- trailing
"""
    migrations = tmp_path / "supabase" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "20260101000000_tricky.sql").write_text(tricky)
    pushed = cli("db", "push", "--yes", "--db-url", postgres_server.tcp_url(database), workdir=tmp_path)
    assert pushed.returncode == 0, pushed.stderr
    ((_version, name, statements),) = ledger(postgres_server.url(database))
    assert name == "tricky"
    assert statements == split(tricky)
    assert statements[-1] == "-- trailing" and len(statements) == 8


def _migrated_the_old_way(url: str) -> None:
    """What an earlier Jessie left: its migrations applied, recorded in jessie.schema_migrations."""
    with psycopg.connect(url) as conn:
        conn.execute(
            f"create schema if not exists jessie; create table {OLD_LEDGER} (version text primary key, "
            "name text not null, checksum text not null, applied_at timestamptz not null default now())"
        )
        for migration in load_migrations():
            conn.execute(migration.sql.encode())
            conn.execute(
                f"insert into {OLD_LEDGER} (version, name, checksum) values (%s, %s, %s)",  # noqa: S608
                [migration.version, migration.name, migration.checksum],
            )


def test_an_old_ledger_carries_over_once_and_stays_readable(postgres_server: Postgres, database: str) -> None:
    url = postgres_server.url(database)
    _migrated_the_old_way(url)
    assert jessie(url, "migrate", "--check").returncode == 1  # Supabase's ledger knows nothing yet
    assert jessie(url, "migrate").stdout.startswith("applied 0 migration(s)")  # carried, not re-applied
    assert [version for version, _, _ in ledger(url)] == VERSIONS
    assert jessie(url, "migrate").stdout.startswith("applied 0 migration(s)")
    assert listed(postgres_server, database) == [[version, version] for version in VERSIONS]
    with psycopg.connect(url) as conn:  # left for deployments a rollback may return to
        assert conn.execute(f"select count(*) from {OLD_LEDGER}").fetchone() == (len(VERSIONS),)  # noqa: S608


def test_the_pipeline_carries_an_old_ledger_over_before_the_cli_pushes(
    postgres_server: Postgres, database: str
) -> None:
    _migrated_the_old_way(postgres_server.url(database))
    assert supabase.push(postgres_server.tcp_url(database)) == []  # without the carry-over: all re-applied
    assert [version for version, _, _ in ledger(postgres_server.url(database))] == VERSIONS


def test_a_file_changed_after_it_was_applied_stops_every_path_with_one_line(
    postgres_server: Postgres, database: str, tmp_path: Path
) -> None:
    url = postgres_server.url(database)
    _migrated_the_old_way(url)
    migrations = tmp_path / "supabase" / "migrations"
    migrations.mkdir(parents=True)
    for migration in load_migrations():
        (migrations / migration.file_name).write_text(migration.sql)
    first = load_migrations()[0]
    (migrations / first.file_name).write_text(first.sql + "\n-- edited\n")
    expected = f"{first.file_name} changed after it was applied"
    with psycopg.connect(url) as conn, pytest.raises(MigrationError, match=expected):  # the old ledger's checksum
        migrate(conn, migrations)
    with psycopg.connect(url) as conn:
        migrate(conn)  # carried over with the real files
    with psycopg.connect(url) as conn, pytest.raises(MigrationError, match=expected):  # the recorded statements
        migrate(conn, migrations)
    with pytest.raises(MigrationError, match=expected):
        supabase.push(postgres_server.tcp_url(database), workdir=tmp_path)


def test_two_pipeline_migrates_at_once_apply_each_migration_once(postgres_server: Postgres, database: str) -> None:
    results: list[list[str] | BaseException] = []
    barrier = threading.Barrier(2)

    def push() -> None:
        barrier.wait()
        try:
            results.append(supabase.push(postgres_server.tcp_url(database)))
        except (DeploymentFailed, MigrationError) as error:
            results.append(error)

    threads = [threading.Thread(target=push) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert sorted(results, key=lambda result: len(result) if isinstance(result, list) else -1) == [
        [],
        VERSIONS,
    ]  # the second waited, then found nothing to do
    assert [version for version, _, _ in ledger(postgres_server.url(database))] == VERSIONS


def test_the_repositorys_supabase_project_works_with_the_cli(tmp_path: Path) -> None:
    """config.toml parses (every command reads it) and `supabase migration new` makes a file
    that Jessie's runner takes as the next migration."""
    shutil.copytree(ROOT / "supabase", tmp_path / "supabase", ignore=shutil.ignore_patterns(".temp"))
    env = {"SUPABASE_TELEMETRY_DISABLED": "1", "PATH": "/usr/bin:/bin", "HOME": os.environ["HOME"]}
    command = [installed(supabase.CLI), "migration", "new", "add_things", "--workdir", str(tmp_path)]
    made = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert made.returncode == 0, made.stderr
    found = load_migrations(tmp_path / "supabase" / "migrations")
    assert [migration.version for migration in found[:-1]] == VERSIONS
    assert found[-1].name == "add_things" and found[-1].version > VERSIONS[-1]
