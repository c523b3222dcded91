"""Jessie on embedded defaults: what `nox -s dev` runs and what the local e2e suite drives.

- the embedded Postgres under JESSIE_DATA_DIR, migrated;
- the Gmail sandbox (its own process) with a demo mailbox to connect on its consent page, its
  accounts and grants kept in JESSIE_DATA_DIR across restarts, as the database is;
- the app (`jessie serve`, its own process) wired to both, development secrets generated
  into JESSIE_DATA_DIR, and the rest of its wiring published there (DEV_STACK_FILE) for
  `jessie` commands while the stack runs;
- a stand-in for Vercel Cron that calls the cron endpoint with the secret at start and
  then at the start of each slot of `cron_interval_s` seconds (sandbox/dev_cron.py), the
  interval the app is told too.

Both servers get a socket that is already listening, so nothing here waits for them to
come up: early requests simply queue.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path

import requests

from app.config import CRON_PATH, DEV_STACK_FILE, Settings
from app.db.connection import connect
from app.db.embedded import stop_embedded
from app.db.migrate import migrate
from sandbox.dev_cron import check_interval, run_cron
from sandbox.gmail import environment_for
from sandbox.gmail.cli import spawn
from sandbox.gmail.oauth import DEFAULT_CLIENT_ID
from sandbox.serving import PortBusy, interrupt_on_sigterm, listening_socket

STOP_GRACE_S = 20.0  # how long a server of the stack may take to stop once told to

DEMO_ACCOUNT = "demo@example.com"
# The sandbox's accounts and the refresh tokens it issued, kept beside the database: a restart
# keeps both, so the token Jessie stored is still one the sandbox knows.
SANDBOX_STATE = "sandbox.json"


def working_tree_commit() -> str:
    """What the header shows in development, as Vercel's commit does elsewhere: HEAD, marked
    "+changes" when the working tree differs from it ("unknown" outside a Git checkout)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        status = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("+changes" if status.stdout.strip() else "")


@dataclass
class LocalStack:
    data_dir: Path
    app_port: int = 3000
    sandbox_port: int = 8025
    demo_messages: int = 250
    cron_interval_s: float | None = 3600.0  # None: no local cron (the e2e walk calls the endpoint itself)
    quota_units_per_second: float = 250.0
    app_url: str = ""
    sandbox_url: str = ""
    cron_calls: list[int] = field(default_factory=list)  # status of each scheduled call
    _processes: list[subprocess.Popen[str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def environment(self) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "POSTGRES_URL")},
            "VERCEL_ENV": "development",
            "JESSIE_DATA_DIR": str(self.data_dir),
            **self.shared_settings(),
            "ADMIN_EMAILS": os.environ.get("ADMIN_EMAILS", DEMO_ACCOUNT),
            "JESSIE_COMMIT_SHA": os.environ.get("JESSIE_COMMIT_SHA", working_tree_commit()),
        }

    def shared_settings(self) -> dict[str, str]:
        """What the app is given that `jessie` commands read too while the stack runs (from
        DEV_STACK_FILE): where the sandbox is, and the app's schedule. No secrets: those are in
        secrets.json already, and the sandbox's client secret is public by design."""
        return {
            **environment_for(self.sandbox_url),
            "OAUTH_REDIRECT_URI": self.callback,
            "JESSIE_QUOTA_UNITS_PER_SECOND": str(self.quota_units_per_second),
            **self.cron_environment(),
        }

    def cron_environment(self) -> dict[str, str]:
        """The app's slots (its "next sync around") are the local cron's own."""
        if self.cron_interval_s is None:
            return {}
        return {"JESSIE_CRON_INTERVAL_MINUTES": f"{self.cron_interval_s / 60:g}"}

    def settings(self) -> Settings:
        return Settings(
            vercel_env="development",
            data_dir=self.data_dir,
            database_url=None,
            google_client_id=DEFAULT_CLIENT_ID,
        )

    def start(self) -> LocalStack:
        """Both ports are taken first, so a busy one (PortBusy, naming the flag) stops the start
        before anything runs; anything else failing part-way stops what had started."""
        if self.cron_interval_s is not None:
            check_interval(self.cron_interval_s)
        with (
            listening_socket("127.0.0.1", self.app_port, "--port") as app_socket,
            listening_socket("127.0.0.1", self.sandbox_port, "--sandbox-port") as sandbox_socket,
        ):
            try:
                self.data_dir.mkdir(parents=True, exist_ok=True)
                self._start_sandbox(sandbox_socket)
                with connect(self.settings()) as conn:  # starts the embedded Postgres on first use
                    migrate(conn)
                self._start_app(app_socket)
                self._publish_settings()
            except BaseException:
                self.stop()
                raise
        if self.cron_interval_s is not None:
            threading.Thread(target=self._cron, args=(self.cron_interval_s,), daemon=True, name="local-cron").start()
        return self

    def _start_sandbox(self, sock: socket.socket) -> None:
        state = str(self.data_dir / SANDBOX_STATE)
        process, self.sandbox_url = spawn(
            *("--fd", str(sock.fileno()), "--quota", str(self.quota_units_per_second), "--state", state),
            pass_fds=(sock.fileno(),),
        )
        self._processes.append(process)
        created = requests.post(
            f"{self.sandbox_url}/_sandbox/accounts",
            json={"email": DEMO_ACCOUNT, "messages": self.demo_messages, "seed": 7},
            timeout=120,
        )
        if created.status_code != HTTPStatus.CONFLICT:  # a conflict: kept from the last start, with its grants
            created.raise_for_status()

    @property
    def callback(self) -> str:
        return f"{self.app_url}/auth/callback"

    def _start_app(self, sock: socket.socket) -> None:
        self.app_url = f"http://localhost:{sock.getsockname()[1]}"
        registered = requests.put(  # as the app's owner does in the Google Cloud Console
            f"{self.sandbox_url}/_sandbox/oauth",
            json={"redirect_uris": {DEFAULT_CLIENT_ID: [self.callback]}},
            timeout=10,
        )
        registered.raise_for_status()
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--fd", str(sock.fileno())],
            env=self.environment(),
            pass_fds=[sock.fileno()],
            text=True,
        )
        self._processes.append(process)

    def call_cron(self) -> requests.Response:
        """What Vercel Cron does: GET with the bearer secret, no retries, no redirects."""
        secret = self.settings().require("cron_secret")
        return requests.get(
            self.app_url + CRON_PATH,
            headers={"Authorization": f"Bearer {secret}", "User-Agent": "vercel-cron/1.0"},
            allow_redirects=False,
            timeout=600,
        )

    def _cron(self, interval_s: float) -> None:
        run_cron(self._call_cron_and_say, interval_s, time.time, self._stop.wait)

    def _call_cron_and_say(self) -> None:
        try:
            response = self.call_cron()
            self.cron_calls.append(response.status_code)
            print(f"local cron: {response.status_code} {response.text[:200]}", flush=True)
        except requests.RequestException as error:
            print(f"local cron: {type(error).__name__}", flush=True)

    def _publish_settings(self) -> None:
        draft = self.data_dir / f".{DEV_STACK_FILE}.{os.getpid()}"
        draft.write_text(json.dumps(self.shared_settings(), indent=2))
        draft.replace(self.data_dir / DEV_STACK_FILE)

    def stop(self) -> None:
        (self.data_dir / DEV_STACK_FILE).unlink(missing_ok=True)  # no stack to reach any more
        self._stop.set()
        for process in reversed(self._processes):
            process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:  # e.g. a request it will not abandon: killed, never left running
                print(f"local stack: process {process.pid} did not stop in time; killed", flush=True)
                process.kill()
                process.wait()
            if process.stdout is not None:  # the sandbox's "ready" line came through it
                process.stdout.close()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def cron_interval(text: str) -> float:
    try:
        return check_interval(float(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text}: {error}") from None


def main() -> None:
    parser = argparse.ArgumentParser(description="Jessie locally, on embedded defaults")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("JESSIE_DATA_DIR", ".jessie")))
    parser.add_argument("--port", type=int, default=3000, help="the app's port (default 3000; 0 picks a free one)")
    parser.add_argument(
        "--sandbox-port", type=int, default=8025, help="the Gmail sandbox's port (default 8025; 0 picks a free one)"
    )
    parser.add_argument("--demo-messages", type=int, default=250)
    parser.add_argument(
        "--cron-interval",
        type=cron_interval,
        default=os.environ.get("JESSIE_DEV_CRON_INTERVAL", "3600"),
        help="seconds between local cron calls, a divisor of the hour (default: hourly, as in production)",
    )
    parser.add_argument(
        "--keep-database",
        action="store_true",
        help="leave the embedded Postgres running on exit (later `jessie` commands reuse it)",
    )
    args = parser.parse_args()
    interrupt_on_sigterm()
    stack = LocalStack(args.data_dir, args.port, args.sandbox_port, args.demo_messages, args.cron_interval)
    try:
        with contextlib.suppress(KeyboardInterrupt), stack:
            database = "left running on exit" if args.keep_database else "stopped on exit"
            print(
                f"\nJessie (development) on {stack.app_url}\n"
                f"  Connect Gmail there and pick {DEMO_ACCOUNT} on the sandbox consent page.\n"
                f"  Gmail + Google OAuth sandbox: {stack.sandbox_url}\n"
                f"  Database: embedded Postgres under {args.data_dir}/postgres ({database})\n"
                f"  Local cron: now, then every {args.cron_interval:g}s from the top of the hour. "
                "Ctrl-C stops everything.\n",
                flush=True,
            )
            threading.Event().wait()
    except PortBusy as busy:  # nothing was started: one line, no traceback
        print(f"jessie dev: {busy}", file=sys.stderr)
        sys.exit(2)
    finally:
        if not args.keep_database:
            stop_embedded(args.data_dir)


if __name__ == "__main__":
    main()
