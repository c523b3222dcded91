"""`python -m sandbox.gmail` (or `jessie sandbox`): the Gmail sandbox on a port, optionally
with generated accounts; and `spawn`, which starts it as its own process."""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import sys
from pathlib import Path

from ..serving import interrupt_on_sigterm
from .faults import FaultConfig
from .oauth import DEFAULT_CLIENT_ID
from .quota import MODELS, QuotaConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025, help="0 picks a free port")
    parser.add_argument("--fd", type=int, help="serve on this inherited, already listening socket instead")
    parser.add_argument("--accounts", type=int, default=0, help="generated accounts user1@example.com …")
    parser.add_argument("--messages", type=int, default=100, help="messages per generated account")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--token-lifetime", type=int, default=3599, help="access token lifetime, seconds")
    parser.add_argument(
        "--quota-model", choices=sorted(MODELS), default="2026", help="Gmail's quota model: its limits and costs"
    )
    parser.add_argument(
        "--quota", type=float, default=None, help="units per user per second instead of the model's minute (0 = off)"
    )
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--rate-limit-rate", type=float, default=0.0)
    parser.add_argument("--reset-rate", type=float, default=0.0)
    parser.add_argument("--client", action="append", default=[], metavar="ID:SECRET", help="extra OAuth client")
    parser.add_argument(
        "--redirect-uri", action="append", default=[], help="a callback registered for the sandbox's own client"
    )
    parser.add_argument(
        "--state", type=Path, help="keep accounts and refresh tokens in this file: loaded on start, saved on stop"
    )


def run(args: argparse.Namespace) -> int:
    from .persistence import load, save
    from .server import SandboxServer  # needs uvicorn, a local-only dependency
    from .state import SandboxState

    state = SandboxState(seed=args.seed, access_token_lifetime=args.token_lifetime)
    state.quota.configure(QuotaConfig(model=args.quota_model, units_per_second=args.quota))
    state.faults.configure(
        FaultConfig(
            error_rate=args.error_rate,
            rate_limit_rate=args.rate_limit_rate,
            reset_rate=args.reset_rate,
            latency_ms=args.latency_ms,
            jitter_ms=args.jitter_ms,
            seed=args.seed,
        )
    )
    for client in args.client:
        client_id, _, secret = client.partition(":")
        state.oauth.clients[client_id] = secret
    for uri in args.redirect_uri:
        state.oauth.register_redirect_uri(DEFAULT_CLIENT_ID, uri)
    if args.state:
        load(state, args.state)
    for index in range(args.accounts):
        email = f"user{index + 1}@example.com"
        if email not in state.mailboxes:  # not already kept in --state
            state.create_account(email, args.messages, args.seed + index)
    sock = None if args.fd is None else socket.socket(fileno=args.fd)
    server = SandboxServer(state, args.host, args.port, sock)
    interrupt_on_sigterm()  # uvicorn re-raises the signal once it has stopped: then the state is saved
    try:
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever(lambda url: print(f"sandbox ready {url}", flush=True))
    finally:
        if args.state:
            save(state, args.state)
    return 0


def spawn(*args: str, pass_fds: tuple[int, ...] = ()) -> tuple[subprocess.Popen[str], str]:
    """`jessie sandbox ARGS` in its own process: the process and the URL it announced."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.gmail", *args], stdout=subprocess.PIPE, text=True, pass_fds=pass_fds
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("sandbox ready "):
        process.terminate()
        process.wait()
        process.stdout.close()
        raise RuntimeError(f"the Gmail sandbox did not start: {line!r}")
    return process, line.removeprefix("sandbox ready ")
