"""A database of its own for every branch's Previews, so every pull request's Preview runs on a
database no other pull request writes to, with exactly its own migrations.

All of them live on one preview server (the GitHub secret PREVIEW_DATABASE_URL: a Postgres URL whose
role may create databases, such as a Supabase project's pooler URL), one database per branch, named
after it; Production's database is another server's (PRODUCTION_DATABASE_URL) and never touched.
The pull request's head branch is the key, so the push's Preview and the pull request's are one
Preview on one database; closing the pull request drops it (`nox -s close`). A migration that
changed, or went away, since the branch's database applied it rebuilds the database from scratch:
a Preview holds test data only. Why not Supabase Branching: docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit, urlunsplit

import psycopg

PREFIX = "preview_"
CONNECTION = {
    "prepare_threshold": None,
    "connect_timeout": 10,
    "autocommit": True,
}  # the pooler; DDL outside transactions


class NotAUrl(ValueError):
    pass


def name_for(branch: str) -> str:
    """A database name Postgres accepts (63 bytes), readable, and distinct for distinct branches."""
    slug = re.sub(r"[^a-z0-9]+", "_", branch.lower()).strip("_")[:40]
    return f"{PREFIX}{slug}_{hashlib.sha256(branch.encode()).hexdigest()[:8]}"


def url_for(server_url: str, branch: str) -> str:
    """The branch's database on the preview server: the same URL, another database."""
    parts = urlsplit(server_url)
    if parts.scheme not in ("postgres", "postgresql") or not parts.netloc:
        raise NotAUrl("PREVIEW_DATABASE_URL must be a postgresql:// URL (the Supabase CLI and Vercel both take one)")
    return urlunsplit(parts._replace(path="/" + name_for(branch)))


def _exists(conn: psycopg.Connection[object], name: str) -> bool:
    return conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone() is not None


def ensure(server_url: str, branch: str) -> tuple[str, bool]:
    """The branch's database, created now if it did not exist: (its URL, whether it was created)."""
    name = name_for(branch)
    with psycopg.connect(server_url, **CONNECTION) as conn:  # type: ignore[arg-type]
        if _exists(conn, name):
            return url_for(server_url, branch), False
        try:
            conn.execute(f'create database "{name}"'.encode())
        except psycopg.errors.DuplicateDatabase:  # the other workflow of the same push was first
            return url_for(server_url, branch), False
    return url_for(server_url, branch), True


def drop(server_url: str, branch: str) -> bool:
    """Drop the branch's database (connections to it ended); whether there was one."""
    name = name_for(branch)
    with psycopg.connect(server_url, **CONNECTION) as conn:  # type: ignore[arg-type]
        existed = _exists(conn, name)
        conn.execute(f'drop database if exists "{name}" with (force)'.encode())
    return existed
