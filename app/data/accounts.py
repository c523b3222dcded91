"""Connected Gmail accounts: connect (or reconnect), list, remove, re-encrypt."""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row

from app.db.connection import Connection
from app.security import TokenCipher


def connect_account(conn: Connection, cipher: TokenCipher, email: str, refresh_token: str) -> int:
    """Store the encrypted refresh token; a reconnect revives an account that needed it."""
    row = conn.execute(
        """insert into jessie.accounts (email, refresh_token_encrypted) values (%(email)s, %(token)s)
           on conflict (email) do update set refresh_token_encrypted = excluded.refresh_token_encrypted,
               status = 'active', consecutive_failures = 0, last_sync_error = null, updated_at = now()
           returning id""",
        {"email": email.strip().lower(), "token": cipher.encrypt(refresh_token)},
    ).fetchone()
    assert row is not None
    return int(row[0])


def list_accounts(conn: Connection) -> list[dict[str, Any]]:
    return (
        conn.cursor(row_factory=dict_row)
        .execute(
            """select a.id, a.email, a.status, a.sync_state, a.last_sync_status, a.last_sync_finished_at,
               a.last_sync_error, a.consecutive_failures,
               (select count(*) from jessie.messages m where m.account_id = a.id and m.deleted_at is null) messages
           from jessie.accounts a order by a.email"""
        )
        .fetchall()
    )


def find_account(conn: Connection, email: str) -> dict[str, Any] | None:
    return (
        conn.cursor(row_factory=dict_row)
        .execute("select * from jessie.accounts where email = %s", [email.strip().lower()])
        .fetchone()
    )


def remove_account(conn: Connection, email: str) -> bool:
    """Delete the account and, by cascade, its mail and run records."""
    return conn.execute("delete from jessie.accounts where email = %s", [email.strip().lower()]).rowcount > 0


def set_status(conn: Connection, email: str, status: str) -> bool:
    return (
        conn.execute(
            "update jessie.accounts set status = %s, updated_at = now() where email = %s", [status, email.lower()]
        ).rowcount
        > 0
    )


def rotate_keys(conn: Connection, cipher: TokenCipher) -> int:
    """Re-encrypt every refresh token with the first JESSIE_ENCRYPTION_KEY."""
    rows = conn.execute("select id, refresh_token_encrypted from jessie.accounts for update").fetchall()
    for account_id, ciphertext in rows:
        conn.execute(
            "update jessie.accounts set refresh_token_encrypted = %s where id = %s",
            [cipher.rotate(ciphertext), account_id],
        )
    return len(rows)


def claim_connect_sync(conn: Connection, email: str, every_s: float) -> bool:
    """Whether connecting `email` may run a first sync now: once per `every_s`, however often
    the callback completes (a reconnect within minutes rides on the one under way)."""
    conn.execute("delete from jessie.connect_syncs where synced_at < now() - interval '1 day'")
    row = conn.execute(
        """insert into jessie.connect_syncs (email) values (%(email)s)
           on conflict (email) do update set synced_at = now()
               where jessie.connect_syncs.synced_at < now() - make_interval(secs => %(every)s)
           returning email""",
        {"email": email.strip().lower(), "every": every_s},
    ).fetchone()
    return row is not None
