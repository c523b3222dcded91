"""What a sync counts, defined once: what it stored and what it spent at Gmail.

An account's sync adds them up (`AccountResult`), a run sums its accounts' (`RunSummary`), and
the same names are the columns of `sync_run_accounts` and `sync_runs`, the fields of the
`sync.account` and `sync.run` log lines and of the JSON answers. SQL takes the column list from
here (`columns`, `assignments`, `sums`), so a new counter is one line below and a migration.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Self

from psycopg import sql


@dataclass
class Counters:
    messages_added: int = 0
    messages_updated: int = 0  # labels changed, or undeleted
    messages_deleted: int = 0
    quota_units: int = 0  # as Gmail charges them under the project's quota model
    requests: int = 0  # Gmail API calls, each batch part once
    http_requests: int = 0  # the HTTP requests that carried them
    retries: int = 0

    def __iadd__(self, other: Counters) -> Self:
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNTERS}


COUNTERS = tuple(field.name for field in fields(Counters))


def columns(table: str | None = None) -> sql.Composable:
    """`messages_added, …` (each prefixed with `table.` when given), for a SELECT list."""
    return sql.SQL(", ").join(sql.Identifier(*([table] if table else []), name) for name in COUNTERS)


def assignments() -> sql.Composable:
    """`messages_added = %(messages_added)s, …`, for an UPDATE from named parameters."""
    return sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder(name)) for name in COUNTERS
    )


def sums(table: str) -> sql.Composable:
    """`sum(table.messages_added)::int as messages_added, …`, for a total over rows."""
    return sql.SQL(", ").join(
        sql.SQL("sum({})::int as {}").format(sql.Identifier(table, name), sql.Identifier(name)) for name in COUNTERS
    )
