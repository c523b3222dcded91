"""The `jessie` command: migrate, accounts, sync, runs, serve, sandbox."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any, NoReturn

from pydantic import ValidationError

from app.config import DEV_STACK_FILE, MissingSetting, describe_invalid, get_settings
from app.db.connection import DatabaseUnavailable
from app.db.migrate import MigrationError
from app.security import WrongEncryptionKey
from app.statuses import AccountStatus, RunStatus


def _migrate(args: argparse.Namespace) -> int:
    from app.db.connection import connect
    from app.db.migrate import migrate, pending

    with connect(get_settings()) as conn:
        if args.check:
            waiting = pending(conn)
            for version in waiting:
                print(f"pending {version}")
            print(f"{len(waiting)} migration(s) pending" if waiting else "nothing pending")
            return 1 if waiting else 0
        applied = migrate(conn)
    print(f"applied {len(applied)} migration(s){': ' + ', '.join(applied) if applied else ''}")
    return 0


def _accounts(args: argparse.Namespace) -> int:
    from app.data import accounts
    from app.db.connection import connect
    from app.security import TokenCipher

    settings = get_settings()
    with connect(settings) as conn:
        if args.action == "add":
            cipher = TokenCipher.from_settings(settings)
            account_id = accounts.connect_account(conn, cipher, args.email, args.refresh_token)
            print(f"account {account_id} {args.email.lower()} connected")
        elif args.action == "list":
            rows = [asdict(row) for row in accounts.list_accounts(conn)]
            _table(rows, ["id", "email", "status", "messages", "last_sync_status", "last_sync_finished_at"])
        elif args.action == "remove":
            if not accounts.remove_account(conn, args.email):
                print(f"no account {args.email}", file=sys.stderr)
                return 1
            print(f"account {args.email} removed with its mail")
        elif args.action in ("disable", "enable"):
            status = AccountStatus.DISABLED if args.action == "disable" else AccountStatus.ACTIVE
            if not accounts.set_status(conn, args.email, status):
                print(f"no account {args.email}", file=sys.stderr)
                return 1
            print(f"account {args.email} {status}")
        else:
            count = accounts.rotate_keys(conn, TokenCipher.from_settings(settings))
            print(f"re-encrypted {count} refresh token(s) with the first key")
    return 0


def _sync(args: argparse.Namespace) -> int:
    from app.sync import triggers

    interactive = sys.stderr.isatty() and not args.log
    if interactive:
        logging.getLogger("jessie").setLevel(logging.WARNING)
    done = 0

    def progress(result: Any) -> None:
        nonlocal done
        done += 1
        if interactive:
            print(
                f"\r{done} account(s) synced · last: {result.email} {result.status} "
                f"+{result.messages_added} ~{result.messages_updated} -{result.messages_deleted}\033[K",
                end="",
                file=sys.stderr,
                flush=True,
            )

    settings = get_settings()
    for name in ("google_client_id", "google_client_secret"):  # said once here, not once per account
        settings.require(name)
    summary = triggers.cli(settings, args.budget, progress)
    if interactive:
        print(file=sys.stderr)
    if isinstance(summary, triggers.NotStarted):
        print(f"jessie: the sync did not start: {summary.reason}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary.contract()))
    else:
        print(
            f"run {summary.run_id} {summary.status}: {summary.accounts_ok} ok, {summary.accounts_failed} failed, "
            f"{summary.accounts_incomplete} incomplete, {summary.accounts_busy} held by another run, "
            f"{summary.accounts_held} first syncs held for the daily quota · "
            f"+{summary.messages_added} ~{summary.messages_updated} "
            f"-{summary.messages_deleted} messages · {summary.quota_units} quota units · {summary.duration_ms} ms"
        )
    return 0 if summary.status != RunStatus.FAILED else 1


def _runs(args: argparse.Namespace) -> int:
    """Sweeps (one cron slot over all its invocations) and single runs, newest first; with
    --invocations, each sweep's runs under it."""
    from app.data.runs import recent_entries, sweep_runs
    from app.db.connection import connect

    columns = ["kind", "id", "trigger", "status", "started_at", "invocations", "accounts_ok", "accounts_failed"]
    columns += ["messages_added", "messages_updated", "messages_deleted", "quota_units", "duration_ms"]
    rows: list[dict[str, Any]] = []
    with connect(get_settings()) as conn:
        for entry in recent_entries(conn, args.limit):
            rows.append(asdict(entry))
            if args.invocations and entry.kind == "sweep":
                rows += [asdict(run) | {"kind": "  invocation"} for run in sweep_runs(conn, entry.id)]
    _table(rows, columns)
    return 0


def _serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:
        print("jessie serve needs uvicorn (a local-only dependency): uv sync", file=sys.stderr)
        return 2
    if args.fd is not None:  # a listening socket handed over by a parent (no start-up race)
        uvicorn.run("app.web.main:app", fd=args.fd, log_level="info", proxy_headers=False)
    else:
        uvicorn.run("app.web.main:app", host=args.host, port=args.port, log_level="info", proxy_headers=False)
    return 0


def _sandbox(arguments: list[str]) -> NoReturn:
    """`jessie sandbox ARGS` is `python -m sandbox.gmail ARGS`, in this very process (exec):
    nothing deployed ever imports the stand-in (it is not in the deployed bundle at all), and
    a signal that stops `jessie sandbox` stops the sandbox, with no child left behind."""
    os.execv(sys.executable, [sys.executable, "-m", "sandbox.gmail", *arguments])  # noqa: S606 (fixed argv)


def _table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max([len(column), *(len(line[i]) for line in cells)]) for i, column in enumerate(columns)]
    print("  ".join(column.ljust(width) for column, width in zip(columns, widths, strict=True)))
    for line in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):  # in this machine's zone, naming it (TZ=… picks another)
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    return str(value)


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def email_address(text: str) -> str:
    if not _EMAIL.match(text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r} is not an email address")
    return text.strip().lower()


def refresh_token(text: str) -> str:
    if not text.strip() or any(character.isspace() for character in text.strip()):
        raise argparse.ArgumentTypeError("a refresh token is one word (Google's start with 1//)")
    return text.strip()


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} seconds: a budget is more than zero")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jessie", description="Gmail → Postgres, hourly, on Vercel.")
    commands = parser.add_subparsers(dest="command", required=True)

    migrate = commands.add_parser("migrate", help="apply supabase/migrations (recorded in Supabase's ledger)")
    migrate.add_argument("--check", action="store_true", help="list what is pending; exit 1 if anything is")
    migrate.set_defaults(handler=_migrate)

    accounts = commands.add_parser("accounts", help="connected Gmail accounts")
    actions = accounts.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="connect an account with its refresh token")
    add.add_argument("--email", required=True, type=email_address)
    add.add_argument("--refresh-token", required=True, type=refresh_token)
    actions.add_parser("list")
    for name in ("remove", "disable", "enable"):
        actions.add_parser(name).add_argument("--email", required=True)
    actions.add_parser("rotate-keys", help="re-encrypt tokens with the first JESSIE_ENCRYPTION_KEY")
    accounts.set_defaults(handler=_accounts)

    sync = commands.add_parser("sync", help="one sync run, as the hourly cron does")
    sync.add_argument("--budget", type=seconds, help="seconds the run may take (default: as the cron's)")
    sync.add_argument("--json", action="store_true", help="last line of stdout: the run summary as JSON")
    sync.add_argument("--log", action="store_true", help="JSON log lines even on a terminal")
    sync.set_defaults(handler=_sync)

    runs = commands.add_parser("runs", help="recent sweeps and sync runs")
    runs.add_argument("--limit", type=int, default=20)
    runs.add_argument("--invocations", action="store_true", help="each sweep's runs, one per invocation")
    runs.set_defaults(handler=_runs)

    serve = commands.add_parser("serve", help="the web app, locally")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--fd", type=int, help="serve on this inherited, already listening socket")
    serve.set_defaults(handler=_serve)

    commands.add_parser("sandbox", help="the local Gmail + Google OAuth sandbox (python -m sandbox.gmail)")
    return parser


def _where_settings_come_from() -> str:
    """In development, the way to have every setting: a running dev stack publishes its own."""
    settings = get_settings()
    if not settings.is_development:
        return ""
    published = settings.data_dir / DEV_STACK_FILE
    return f"; set it, or start `nox -s dev` (while it runs, jessie reads its settings from {published})"


def main(argv: list[str] | None = None) -> int:
    """Every error a person can fix is one line on stderr (exit 2), never a traceback."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sandbox"]:  # everything after it is the sandbox's own arguments
        _sandbox(argv[1:])
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return int(handler(args))
    except ValidationError as error:
        print(f"jessie: invalid settings: {describe_invalid(error)}", file=sys.stderr)
    except MissingSetting as error:
        print(f"jessie: {error}{_where_settings_come_from()}", file=sys.stderr)
    except (DatabaseUnavailable, WrongEncryptionKey, MigrationError) as error:
        print(f"jessie: {error}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
