"""Migrations the way Supabase applies them: the pinned Supabase CLI's `supabase db push --db-url`.

Supabase documents `db push` for CI, through the pooler; the CLI records what it applied in
`supabase_migrations.schema_migrations`, the ledger Jessie reads and writes too (app/db/migrate.py).
Around the push, under Jessie's migration lock (the CLI takes none, so two pipelines that
migrate at once take turns): the old ledger carried over, every applied file checked unchanged
(the CLI compares versions only), and afterwards nothing left pending.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from app.db import migrate
from ci.vercel import ROOT, DeploymentFailed, installed

CLI = os.environ.get("SUPABASE_CLI") or str(ROOT / "node_modules" / ".bin" / "supabase")
CONNECTION = {"prepare_threshold": None, "connect_timeout": 10}  # the pooler in transaction mode


def _quiet(text: str, url: str) -> str:
    """The CLI's words, without the database URL or its password."""
    password = psycopg.conninfo.conninfo_to_dict(url).get("password")
    text = text.replace(url, "[the database URL]")
    return text.replace(str(password), "[redacted]") if password else text


def _cli(arguments: list[str], workdir: Path) -> subprocess.CompletedProcess[str]:
    """The CLI on a copy of the project (it keeps state in `supabase/.temp`, which must not end up
    in the checkout, where the function's files come from)."""
    with tempfile.TemporaryDirectory(prefix="supabase-") as scratch:
        shutil.copytree(workdir / "supabase", Path(scratch) / "supabase", ignore=shutil.ignore_patterns(".temp"))
        env = {**os.environ, "SUPABASE_TELEMETRY_DISABLED": "1"}
        command = [installed(CLI), *arguments, "--workdir", scratch]
        return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


def push(url: str, workdir: Path = ROOT) -> list[str]:
    """Apply what is pending with the CLI; returns the versions it applied."""
    with psycopg.connect(url, **CONNECTION) as held:  # type: ignore[arg-type]
        migrate.lock(held)  # held until this transaction ends, after the push
        with psycopg.connect(url, **CONNECTION) as conn:  # type: ignore[arg-type]  # committed as it closes
            waiting = migrate.prepare(conn, workdir / "supabase" / "migrations")
        result = _cli(["db", "push", "--db-url", url, "--yes"], workdir)
        output = _quiet((result.stderr + result.stdout).strip(), url)
        if result.returncode != 0:
            lines = output.splitlines()[-15:]
            raise DeploymentFailed(f"supabase db push failed (exit {result.returncode}):\n" + "\n".join(lines))
        with psycopg.connect(url, **CONNECTION) as conn:  # type: ignore[arg-type]
            left = migrate.pending(conn, workdir / "supabase" / "migrations")
        held.rollback()
    if left:
        raise DeploymentFailed(f"supabase db push left migrations pending: {', '.join(left)}")
    return [migration.version for migration in waiting]
