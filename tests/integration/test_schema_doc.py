"""docs/ARCHITECTURE.md's schema section names every table of the `jessie` schema with every
column the migrations leave it with, read from a migrated database rather than from the SQL."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

ARCHITECTURE = Path(__file__).parents[2] / "docs" / "ARCHITECTURE.md"
HEADING = "### Database"
TABLE = re.compile(r"`(\w+)\(([^`]*)\)`")  # `name(column, column type, …, primary key (…))`


def _documented() -> dict[str, set[str]]:
    section = ARCHITECTURE.read_text().split(HEADING, 1)[1].split("\n#", 1)[0]
    tables: dict[str, set[str]] = {}
    for name, columns in TABLE.findall(section):
        plain = re.sub(r"'[^']*'|\([^()]*\)", "", columns)  # 'a|b' checks, primary key (a, b)
        words = (part.split()[0] for part in plain.split(",") if part.strip())
        assert name not in tables, f"{HEADING!r} describes jessie.{name} twice"
        tables[name] = {word for word in words if word not in ("primary", "…")}
    return tables


def test_the_schema_section_names_every_table_and_column(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            """select c.table_name, c.column_name from information_schema.columns c
               join information_schema.tables t using (table_schema, table_name)
               where c.table_schema = 'jessie' and t.table_type = 'BASE TABLE'"""
        ).fetchall()
    actual: dict[str, set[str]] = {}
    for table, column in rows:
        actual.setdefault(table, set()).add(column)
    documented = _documented()
    assert set(actual) == set(documented), (
        f"tables the migrations make, {HEADING!r} lacks: {sorted(set(actual) - set(documented))}; "
        f"tables it describes that do not exist: {sorted(set(documented) - set(actual))}"
    )
    wrong = {
        table: {"lacks": sorted(actual[table] - columns), "no such column": sorted(columns - actual[table])}
        for table, columns in documented.items()
        if columns != actual[table]
    }
    assert not wrong, f"docs/ARCHITECTURE.md's {HEADING!r} differs from the migrated schema: {wrong}"
