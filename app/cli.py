"""The `jessie` command."""

from __future__ import annotations

import argparse
import sys


def _sandbox(args: argparse.Namespace) -> int:
    from sandbox.gmail.cli import run  # local work only: the sandbox is never deployed

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jessie", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    sandbox = commands.add_parser("sandbox", help="run the local Gmail + Google OAuth sandbox")
    from sandbox.gmail.cli import add_arguments

    add_arguments(sandbox)
    sandbox.set_defaults(handler=_sandbox)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
