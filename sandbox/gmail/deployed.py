"""The Gmail + Google OAuth stand-in a test-mode Preview serves itself, under TEST_MODE_PATH.

It is the local sandbox's app, unchanged, with its state where Vercel keeps what instances share:
Vercel runs a deployment as many instances that share nothing but the database, each with its own
cold start and a read-only filesystem. So the state (mailboxes, OAuth codes and grants, faults,
quota settings, the clock) is one snapshot in the Preview's database, versioned and encrypted with
the deployment's JESSIE_ENCRYPTION_KEY (Fernet: nobody without the key writes one it would load).
Every request first brings this instance's copy to the stored version; a request that changes the
state (consent, the token endpoint, revocation, the admin API) takes the row's lock, applies, and
stores the new snapshot before its answer leaves, so the next request, on any instance, sees it.
Per-call counters (stats, quota buckets, the stall gate) stay per instance.

The mailboxes are seeded, so every Preview starts with the same ones (SEEDED). The admin API answers
only with the deployment's CRON_SECRET. Production never carries this module: the build check
refuses a Production build that contains it, and the app refuses test mode in Production.
"""

from __future__ import annotations

import asyncio
import pickle
import threading
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import psycopg
from cryptography.fernet import Fernet
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from app.config import TEST_MODE_ADMIN, TEST_MODE_PATH, Settings
from app.db.connection import CONNECTION_OPTIONS, database_url
from app.security import bearer_matches

from .api import below
from .app import create_app
from .state import AccountStats, SandboxState

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# email, messages, seed: the admin walks the mailbox, the patient shows a first sync's progress.
SEEDED = ((TEST_MODE_ADMIN, 60, 7), ("patient@example.com", 400, 2))  # the admin's as `nox -s dev` seeds it
SEED = 7
SCHEMA = "jessie_test_mode"
_TABLE = f"""
create schema if not exists {SCHEMA};
create table if not exists {SCHEMA}.state (
    id boolean primary key default true check (id),
    version bigint not null,
    snapshot bytea not null
);
alter table {SCHEMA}.state enable row level security;
"""


def seeded() -> SandboxState:
    state = SandboxState(seed=SEED)
    for email, messages, seed in SEEDED:
        state.create_account(email, messages, seed)
    return state


class Snapshots:
    """The stand-in's state in the Preview's database, one encrypted snapshot with a version."""

    def __init__(self, url: str, key: str) -> None:
        self.url = url
        self.fernet = Fernet(key.encode())
        self.version = 0  # what this instance's copy is at (0: nothing loaded yet)
        self._ready = False

    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self.url, **CONNECTION_OPTIONS)  # type: ignore[arg-type]
        if not self._ready:
            conn.execute(_TABLE.encode())
            conn.commit()
            self._ready = True
        return conn

    def _encode(self, state: SandboxState) -> bytes:
        shared = {
            "seed": state.seed,
            "clock": state.clock,
            "oauth": state.oauth,
            "faults": state.faults,
            "quota": state.quota.config,
            "mailboxes": state.mailboxes,
        }
        return self.fernet.encrypt(zlib.compress(pickle.dumps(shared)))

    def _restore(self, state: SandboxState, version: int, snapshot: bytes) -> None:
        shared = pickle.loads(zlib.decompress(self.fernet.decrypt(snapshot)))  # noqa: S301 -- ours, see above
        state.seed, state.clock, state.oauth = shared["seed"], shared["clock"], shared["oauth"]
        state.faults, state.mailboxes = shared["faults"], shared["mailboxes"]
        state.quota.configure(shared["quota"])
        for email in state.mailboxes:
            state.stats.setdefault(email, AccountStats())
        self.version = version

    def _load(self, conn: psycopg.Connection[Any], state: SandboxState, lock: bool) -> None:
        row = conn.execute(f"select version from {SCHEMA}.state" + (" for update" if lock else "")).fetchone()  # noqa: S608
        if row is None:  # the first request of a new Preview database: the seeded mailboxes
            conn.execute(
                f"insert into {SCHEMA}.state (version, snapshot) values (1, %s) on conflict do nothing",  # noqa: S608
                [self._encode(seeded())],
            )
            row = conn.execute(f"select version from {SCHEMA}.state" + (" for update" if lock else "")).fetchone()  # noqa: S608
        assert row is not None
        if int(row[0]) != self.version:
            loaded = conn.execute(f"select version, snapshot from {SCHEMA}.state").fetchone()  # noqa: S608
            assert loaded is not None
            self._restore(state, int(loaded[0]), bytes(loaded[1]))

    def catch_up(self, state: SandboxState) -> None:
        with self._connect() as conn:
            self._load(conn, state, lock=False)

    def begin(self, state: SandboxState) -> psycopg.Connection[Any]:
        """The row locked and this copy current: the change may be applied."""
        conn = self._connect()
        try:
            self._load(conn, state, lock=True)
        except BaseException:
            conn.close()
            raise
        return conn

    def commit(self, conn: psycopg.Connection[Any], state: SandboxState) -> None:
        with conn:
            row = conn.execute(
                f"update {SCHEMA}.state set version = version + 1, snapshot = %s returning version",  # noqa: S608
                [self._encode(state)],
            ).fetchone()
        assert row is not None
        self.version = int(row[0])

    def abandon(self, conn: psycopg.Connection[Any]) -> None:
        """A change that failed half-way: the stored state stands, this copy reloads it."""
        conn.rollback()
        conn.close()
        self.version = 0


def _route_path(scope: Scope) -> str:
    """The path below the mount (Starlette hands a mounted app the whole path and its root_path)."""
    return below(str(scope.get("root_path", "")), str(scope.get("path", "")))


def _changes_state(scope: Scope) -> bool:
    """Reads are GET (and batches of them); everything else may change the state."""
    return scope.get("method") not in ("GET", "HEAD") and not _route_path(scope).startswith("/batch")


class Persisted:
    """The sandbox app with its state in the database (see the module's docstring)."""

    def __init__(self, settings: Settings, state: SandboxState, snapshots: Snapshots) -> None:
        self.settings = settings
        self.state = state
        self.snapshots = snapshots
        self.app = create_app(state)
        self._changing = asyncio.Lock()
        self._loading = threading.Lock()

    def _admin_refused(self, scope: Scope) -> bool:
        if not _route_path(scope).startswith("/_sandbox"):
            return False
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}
        return not bearer_matches(headers.get("authorization"), self.settings.require("cron_secret"))

    def _registered(self) -> None:
        """This deployment's own OAuth client and callback (each Preview of the branch has its own URL)."""
        oauth = self.state.oauth
        oauth.clients[str(self.settings.google_client_id)] = self.settings.require("google_client_secret")
        oauth.redirect_uris.setdefault(str(self.settings.google_client_id), set()).add(self.settings.redirect_uri)

    def _catch_up(self) -> None:
        with self._loading:
            self.snapshots.catch_up(self.state)
            self._registered()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._admin_refused(scope):
            await JSONResponse({"error": "the stand-in's admin API needs the deployment's CRON_SECRET"}, 401)(
                scope, receive, send
            )
            return
        if not _changes_state(scope):
            await run_in_threadpool(self._catch_up)
            await self.app(scope, receive, send)
            return
        async with self._changing:
            conn = await run_in_threadpool(self.snapshots.begin, self.state)
            self._registered()
            answer: list[Message] = []

            async def keep(message: Message) -> None:
                answer.append(message)

            try:
                await self.app(scope, receive, keep)
                await run_in_threadpool(self.snapshots.commit, conn, self.state)
            except BaseException:
                await run_in_threadpool(self.snapshots.abandon, conn)
                raise
        for message in answer:  # only once the change is stored: the next request may land anywhere
            await send(message)


def mount(app: FastAPI, settings: Settings) -> None:
    """Serve the stand-in under TEST_MODE_PATH of the app (api/index.py, in a test-mode Preview)."""
    key = settings.encryption_keys()[0]
    state = SandboxState(seed=SEED)
    app.mount(TEST_MODE_PATH, Persisted(settings, state, Snapshots(database_url(settings), key)))
