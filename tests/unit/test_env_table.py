"""The variables documented are the variables read: the one table in docs/ARCHITECTURE.md names
exactly what Settings reads, and OPERATIONS.md's GitHub secrets and variables are exactly those
the workflows use."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from itertools import takewhile
from pathlib import Path

import pytest
import yaml
from pydantic import AliasChoices, AliasPath

from app.config import Settings

ROOT = Path(__file__).parents[2]
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
OPERATIONS = ROOT / "docs" / "OPERATIONS.md"
WORKFLOWS = ROOT / ".github" / "workflows"
TABLE_HEADING = "### Environment variables"
GITHUB_HEADING = "### What to set in GitHub"
NAME = re.compile(r"`([A-Za-z][A-Za-z0-9_]*)`")
SET_NAME = re.compile(r"`([A-Z][A-Z0-9_]*)(?:=[^`]*)?`")  # `NAME` or `NAME=value`
CONTEXT_NAME = re.compile(r"\b(secrets|vars)\.([A-Za-z_][A-Za-z0-9_]*)")


def _documented_rows() -> list[list[str]]:
    """The names in the first column of each row of the first table under the heading."""
    section = ARCHITECTURE.read_text().split(TABLE_HEADING, 1)[1].split("\n#", 1)[0]
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = list(takewhile(lambda line: line.startswith("|"), lines[start:]))
    header, _separator, *rows = table
    assert header.split("|")[1].strip() == "variable", f"the table under {TABLE_HEADING!r} starts with 'variable'"
    return [[name.upper() for name in NAME.findall(row.split("|")[1])] for row in rows]


def _documented() -> set[str]:
    return {name for row in _documented_rows() for name in row}


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


def test_each_row_names_a_variable_and_none_twice() -> None:
    rows = _documented_rows()
    assert all(rows), "every row of the table names its variable(s) in backticks in the first column"
    twice = sorted(name for name, count in Counter(name for row in rows for name in row).items() if count > 1)
    assert not twice, f"the table in docs/ARCHITECTURE.md has more than one row for: {twice}"


def test_a_field_is_never_read_by_its_own_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Code may say `Settings(data_dir=…)` (populate_by_name), but a variable named after a field
    (DATA_DIR, LEASE_S, …) changes nothing: only the tabled names are read."""
    own_names = {name.upper() for name in Settings.model_fields} - _read_by_settings()
    assert {"DATA_DIR", "LEASE_S", "COMMIT_SHA"} <= own_names
    before = Settings().model_dump()
    for name in own_names:
        monkeypatch.setenv(name, "set-under-the-field-name")
    assert Settings().model_dump() == before


def _strings(node: object) -> Iterator[str]:
    """Every string in a workflow read as data (keys, values, `if:` conditions; comments are gone)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _used_by_workflows() -> dict[str, set[str]]:
    used: dict[str, set[str]] = {"secrets": set(), "vars": set()}
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for text in _strings(yaml.safe_load(path.read_text())):
            for context, name in CONTEXT_NAME.findall(text):
                used[context].add(name)
    used["secrets"].discard("GITHUB_TOKEN")  # GitHub's own: nobody sets it
    return used


def _listed_for_github() -> dict[str, set[str]]:
    """The names in the **Secrets** and **Variables** items under OPERATIONS.md's heading."""
    section = OPERATIONS.read_text().split(GITHUB_HEADING, 1)[1].split("\n#", 1)[0]
    bullets = re.split(r"^- ", section, flags=re.MULTILINE)
    items = {item.split("**")[1]: item for item in bullets if item.startswith("**")}
    assert {"Secrets", "Variables"} <= set(items), f"{GITHUB_HEADING!r} has a **Secrets** and a **Variables** item"
    return {"secrets": set(SET_NAME.findall(items["Secrets"])), "vars": set(SET_NAME.findall(items["Variables"]))}


@pytest.mark.parametrize("context", ["secrets", "vars"])
def test_operations_lists_the_github_secrets_and_variables_the_workflows_use(context: str) -> None:
    listed, used = _listed_for_github()[context], _used_by_workflows()[context]
    kind = {"secrets": "secrets", "vars": "variables"}[context]
    assert used, f"the workflows use no {context}.NAME: is {WORKFLOWS} read?"
    assert not used - listed, (
        f"the workflows use these {kind}, docs/OPERATIONS.md's {GITHUB_HEADING!r} lacks them: {sorted(used - listed)}"
    )
    assert not listed - used, (
        f"docs/OPERATIONS.md lists these GitHub {kind}, no workflow uses them as {context}.NAME: "
        f"{sorted(listed - used)}"
    )
