"""The one table of environment variables (docs/ARCHITECTURE.md) names exactly what Settings reads."""

from __future__ import annotations

import re
from itertools import takewhile
from pathlib import Path

import pytest
from pydantic import AliasChoices, AliasPath

from app.config import Settings

ARCHITECTURE = Path(__file__).parents[2] / "docs" / "ARCHITECTURE.md"
TABLE_HEADING = "### Environment variables"
NAME = re.compile(r"`([A-Za-z][A-Za-z0-9_]*)`")


def _documented() -> set[str]:
    """The names in the first column of the first table under the heading."""
    section = ARCHITECTURE.read_text().split(TABLE_HEADING, 1)[1].split("\n#", 1)[0]
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = list(takewhile(lambda line: line.startswith("|"), lines[start:]))
    header, _separator, *rows = table
    assert header.split("|")[1].strip() == "variable", f"the table under {TABLE_HEADING!r} starts with 'variable'"
    return {name.upper() for row in rows for name in NAME.findall(row.split("|")[1])}


def _env_names(alias: str | AliasPath | AliasChoices) -> list[str]:
    """The variables one validation alias is looked up under (an AliasPath by its first key)."""
    if isinstance(alias, AliasChoices):
        return [name for choice in alias.choices for name in _env_names(choice)]
    if isinstance(alias, AliasPath):
        return [str(alias.path[0])]
    return [alias]


def _read_by_settings() -> set[str]:
    """What pydantic-settings looks up for each of Settings' fields: its validation alias (each
    choice), else its alias, else its own name (with `env_prefix`); case-insensitively unless
    `case_sensitive`. A field with an alias is never read by its own name: Settings reads the
    environment by alias alone (the test below holds it to that)."""
    config = Settings.model_config
    prefix = config.get("env_prefix", "")
    target = config.get("env_prefix_target", "variable")
    names: set[str] = set()
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias or field.alias
        if alias is None:
            names.add((prefix if target in ("variable", "all") else "") + field_name)
        else:
            names |= {(prefix if target in ("alias", "all") else "") + name for name in _env_names(alias)}
    return {name.upper() for name in names}


def test_the_table_and_settings_name_the_same_variables() -> None:
    documented, read = _documented(), _read_by_settings()
    assert len(read) >= len(Settings.model_fields)
    assert not read - documented, (
        f"Settings reads these, the table in docs/ARCHITECTURE.md lacks them: {sorted(read - documented)}"
    )
    assert not documented - read, f"the table documents these, Settings does not read them: {sorted(documented - read)}"


def test_a_field_is_never_read_by_its_own_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Code may say `Settings(data_dir=…)` (populate_by_name), but a variable named after a field
    (DATA_DIR, LEASE_S, …) changes nothing: only the tabled names are read."""
    own_names = {name.upper() for name in Settings.model_fields} - _read_by_settings()
    assert {"DATA_DIR", "LEASE_S", "COMMIT_SHA"} <= own_names
    before = Settings().model_dump()
    for name in own_names:
        monkeypatch.setenv(name, "set-under-the-field-name")
    assert Settings().model_dump() == before
