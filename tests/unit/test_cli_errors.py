"""What `jessie` says when a setting is wrong: one line on stderr naming it, exit 2, no secret."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import main
from app.config import get_settings

READ_HERE = ["DATABASE_URL", "POSTGRES_URL", "VERCEL_ENV", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"]


@pytest.fixture(autouse=True)
def bare_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Development, nothing set, and no dev stack running in the data directory."""
    for variable in READ_HERE:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("JESSIE_DATA_DIR", str(tmp_path / ".jessie"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_missing_setting_is_named_with_where_development_gets_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync"]) == 2
    [said] = capsys.readouterr().err.splitlines()
    assert said.startswith("jessie: GOOGLE_CLIENT_ID is not set")
    assert "nox -s dev" in said


@pytest.mark.parametrize("url", ["garbage", "mysql://jessie:s3cret-pw@db.example.com/jessie"])
def test_a_database_url_libpq_cannot_read_is_one_line_without_the_password(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["runs"]) == 2
    [said] = capsys.readouterr().err.splitlines()
    assert said.startswith("jessie: DATABASE_URL (or POSTGRES_URL) is not a PostgreSQL URL")
    assert "s3cret" not in said
