"""The one table of environment variables (docs/ARCHITECTURE.md) names exactly what Settings reads."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import AliasChoices

from app.config import Settings

TABLE_HEADING = "### Environment variables"
NAME = re.compile(r"`([A-Z][A-Z0-9_]+)`")


def _documented() -> set[str]:
    text = (Path(__file__).parents[2] / "docs" / "ARCHITECTURE.md").read_text()
    section = text[text.index(TABLE_HEADING) :].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in NAME.findall(row.split(" | ")[0])}


def _read_by_settings() -> set[str]:
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias or field.alias
        if isinstance(alias, AliasChoices):
            names |= {choice for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(name.upper())
    return names


def test_the_table_and_settings_name_the_same_variables() -> None:
    documented, read = _documented(), _read_by_settings()
    assert len(read) > 40
    assert not read - documented, (
        f"Settings reads these, the table in docs/ARCHITECTURE.md lacks them: {sorted(read - documented)}"
    )
    assert not documented - read, f"the table documents these, Settings does not read them: {sorted(documented - read)}"
