"""Server-side sessions: made at sign-in, looked up on every request, ended on sign-out.

The id travels in a signed cookie; only its SHA-256 is stored, so the table cannot be
used to sign in. A session ends when its user signs out or disconnects, after
IDLE_S without a request, or ABSOLUTE_S after it began, whichever comes first.
"""

from __future__ import annotations

import hashlib
import secrets

from app.db.connection import Connection

IDLE_S = 7 * 24 * 3600
ABSOLUTE_S = 30 * 24 * 3600
TOUCH_EVERY_S = 300  # last_seen_at is written at most this often
MAX_PER_USER = 20  # browsers and devices one user is signed in on at once


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def begin(conn: Connection, email: str, replacing: str | None = None) -> str:
    """A new session for `email`; returns its id (for the cookie only). The browser's previous
    session (`replacing`) ends with it, so signing in again in one browser keeps one session;
    beyond MAX_PER_USER a user's oldest sessions end, and expired ones are deleted."""
    if replacing is not None:
        end(conn, replacing)
    forget_expired(conn)
    session_id = secrets.token_urlsafe(32)
    conn.execute("insert into jessie.sessions (id_hash, email) values (%s, %s)", [_hash(session_id), email])
    conn.execute(
        """delete from jessie.sessions where email = %(email)s and id_hash not in (
               select id_hash from jessie.sessions where email = %(email)s
               order by created_at desc, last_seen_at desc limit %(keep)s)""",
        {"email": email, "keep": MAX_PER_USER},
    )
    return session_id


def user_of(conn: Connection, session_id: str) -> str | None:
    """The email of a live session, else None (its last_seen_at refreshed now and then)."""
    row = conn.execute(
        """select email, last_seen_at < now() - make_interval(secs => %(touch)s) from jessie.sessions
           where id_hash = %(id)s
             and created_at > now() - make_interval(secs => %(absolute)s)
             and last_seen_at > now() - make_interval(secs => %(idle)s)""",
        {"id": _hash(session_id), "touch": TOUCH_EVERY_S, "absolute": ABSOLUTE_S, "idle": IDLE_S},
    ).fetchone()
    if row is None:
        return None
    if row[1]:
        conn.execute("update jessie.sessions set last_seen_at = now() where id_hash = %s", [_hash(session_id)])
    return str(row[0])


def end(conn: Connection, session_id: str) -> None:
    conn.execute("delete from jessie.sessions where id_hash = %s", [_hash(session_id)])


def end_all(conn: Connection, email: str) -> int:
    """Every session of `email` (disconnect): a saved cookie opens nothing any more."""
    return conn.execute("delete from jessie.sessions where email = %s", [email]).rowcount


def forget_expired(conn: Connection) -> int:
    return conn.execute(
        """delete from jessie.sessions where created_at < now() - make_interval(secs => %s)
               or last_seen_at < now() - make_interval(secs => %s)""",
        [ABSOLUTE_S, IDLE_S],
    ).rowcount
