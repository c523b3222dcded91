"""Connected Gmail accounts: connect (or reconnect), list, remove, re-encrypt."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row

from app.db.connection import Connection
from app.security import TokenCipher

RECONNECT_S = 600  # a connected account's first sync is under way or done: a reconnect buys no other
CONNECT_SYNCS_PER_HOUR = 3  # first syncs an address may start by connecting, disconnects between included


@dataclass(frozen=True)
class Account:
    """A connected account as the pages see it (its refresh token still encrypted)."""

    id: int
    email: str
    status: str
    sync_state: str
    mailbox_total: int | None  # Gmail's messagesTotal, read when a full sync starts
    last_sync_status: str | None
    last_sync_finished_at: datetime | None
    last_sync_error: str | None
    refresh_token_encrypted: str


@dataclass(frozen=True)
class Listed:
    """An account as `jessie accounts list` shows it."""

    id: int
    email: str
    status: str
    sync_state: str
    last_sync_status: str | None
    last_sync_finished_at: datetime | None
    last_sync_error: str | None
    consecutive_failures: int
    messages: int


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


def list_accounts(conn: Connection) -> list[Listed]:
    return (
        conn.cursor(row_factory=class_row(Listed))
        .execute(
            """select a.id, a.email, a.status, a.sync_state, a.last_sync_status, a.last_sync_finished_at,
               a.last_sync_error, a.consecutive_failures,
               (select count(*)::int from jessie.messages m where m.account_id = a.id and m.deleted_at is null) messages
           from jessie.accounts a order by a.email"""
        )
        .fetchall()
    )


def find_account(conn: Connection, email: str) -> Account | None:
    return (
        conn.cursor(row_factory=class_row(Account))
        .execute(
            """select id, email, status, sync_state, mailbox_total, last_sync_status, last_sync_finished_at,
                      last_sync_error, refresh_token_encrypted
               from jessie.accounts where email = %s""",
            [email.strip().lower()],
        )
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


def claim_connect_sync(conn: Connection, email: str, reconnect: bool) -> bool:
    """Whether connecting `email` may run a first sync now: not for a reconnect of an account
    that is connected and had one within RECONNECT_S, and at most CONNECT_SYNCS_PER_HOUR for an
    address however often it is disconnected and connected again."""
    email = email.strip().lower()
    conn.execute("select pg_advisory_xact_lock(hashtext('jessie.connect_syncs: ' || %s))", [email])
    conn.execute("delete from jessie.connect_syncs where synced_at < now() - interval '1 day'")
    row = conn.execute(
        """select count(*) filter (where synced_at > now() - interval '1 hour'),
                  coalesce(bool_or(synced_at > now() - make_interval(secs => %s)), false)
           from jessie.connect_syncs where email = %s""",
        [RECONNECT_S, email],
    ).fetchone()
    assert row is not None
    in_the_hour, just_now = int(row[0]), bool(row[1])
    if (reconnect and just_now) or in_the_hour >= CONNECT_SYNCS_PER_HOUR:
        return False
    conn.execute("insert into jessie.connect_syncs (email) values (%s)", [email])
    return True
