"""What is still running: the process table read from /proc, so a test can prove a command, a stack or
the whole test session left nothing behind (Postgres daemonizes, so parentage alone would miss it)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Running:
    pid: int
    parent: int
    session: int
    command: str

    def __str__(self) -> str:
        return f"{self.pid}: {self.command}"


def process_table() -> list[Running]:
    table = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone while we looked
            continue
        if fields[0] == "Z":  # a zombie has finished; only its parent's bookkeeping is left
            continue
        table.append(Running(int(entry.name), int(fields[1]), int(fields[3]), command))
    return table


def leftovers(marker: str, *, session: int | None = None, descendants_of: int | None = None) -> list[Running]:
    """Processes naming `marker` (a data directory), in `session`, or below `descendants_of`."""
    table = process_table()
    below: set[int] = set()
    if descendants_of is not None:
        frontier = {descendants_of}
        while frontier:
            frontier = {p.pid for p in table if p.parent in frontier} - below
            below |= frontier
    callers = _ancestors(table, os.getpid())  # what started this process (a `--basetemp` names the marker)
    return [
        p for p in table if p.pid not in callers and (marker in p.command or p.session == session or p.pid in below)
    ]


def _ancestors(table: list[Running], pid: int) -> set[int]:
    """`pid` and every process above it."""
    parents = {p.pid: p.parent for p in table}
    found = set()
    while pid and pid not in found:
        found.add(pid)
        pid = parents.get(pid, 0)
    return found
