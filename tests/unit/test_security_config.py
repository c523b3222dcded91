"""Secrets: encryption with rotation, the cron bearer check, settings that refuse to guess."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from app.config import MissingSetting, Settings, describe_invalid
from app.db.connection import clean_url
from app.security import TokenCipher, WrongEncryptionKey, bearer_matches


def test_first_key_encrypts_all_keys_decrypt() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    legacy = TokenCipher([old]).encrypt("1//refresh")
    both = TokenCipher([new, old])
    assert both.decrypt(legacy) == "1//refresh"
    rotated = both.rotate(legacy)
    assert TokenCipher([new]).decrypt(rotated) == "1//refresh"
    with pytest.raises(WrongEncryptionKey, match=r"JESSIE_ENCRYPTION_KEY does not decrypt .* rotate-keys"):
        TokenCipher([old]).decrypt(rotated)
    with pytest.raises(MissingSetting, match="32 url-safe"):
        TokenCipher(["not-a-key"])


@pytest.mark.parametrize(
    ("header", "ok"),
    [("Bearer s3cret", True), ("bearer s3cret", True), ("Bearer wrong", False), ("s3cret", False),
     (None, False), ("Bearer ", False), ("Basic s3cret", False)],
)  # fmt: skip
def test_bearer_matches(header: str | None, ok: bool) -> None:
    assert bearer_matches(header, "s3cret") is ok


def test_outside_development_a_missing_or_placeholder_secret_is_named(tmp_path: Path) -> None:
    production = Settings(vercel_env="production", data_dir=tmp_path, cron_secret="changethis")
    with pytest.raises(MissingSetting, match="CRON_SECRET is a placeholder"):
        production.require("cron_secret")
    with pytest.raises(MissingSetting, match="SESSION_SECRET is not set"):
        production.require("session_secret")
    assert not (tmp_path / "secrets.json").exists()


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("test", "is too short (4 characters)"),
        ("changeme123", "is a placeholder"),
        ("<secret>", "is a placeholder"),
        ("${CRON_SECRET}", "is a placeholder"),
        ("{{ cron_secret }}", "is a placeholder"),
        ("your-secret-goes-here-please-replace-it", "is a placeholder"),
        ("a" * 40, "is not random"),
        ("   ", "is not set"),
    ],
)
@pytest.mark.parametrize("name", ["cron_secret", "session_secret", "jessie_encryption_key"])
def test_weak_secrets_are_refused_outside_development(tmp_path: Path, name: str, value: str, words: str) -> None:
    production = Settings(vercel_env="production", data_dir=tmp_path, **{name: value})
    with pytest.raises(MissingSetting, match=rf"{name.upper()} {re.escape(words)}"):
        production.require(name)


def test_a_real_secret_is_taken_without_its_surrounding_whitespace(tmp_path: Path) -> None:
    secret = "kX3v9Qm2Lp7Rt5Wz8Nc4Hd6Jf1Gb0Ys-_Ue"
    production = Settings(vercel_env="production", data_dir=tmp_path, cron_secret=f"  {secret}\n")
    assert production.require("cron_secret") == secret
    key = Fernet.generate_key().decode()
    assert Settings(vercel_env="preview", jessie_encryption_key=f"{key}, {key}").encryption_keys() == [key, key]


def test_invalid_settings_are_one_line_naming_each_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERCEL_ENV", "staging")
    monkeypatch.setenv("JESSIE_SYNC_CONCURRENCY", "abc")
    with pytest.raises(ValidationError) as invalid:
        Settings()
    line = describe_invalid(invalid.value)
    assert "\n" not in line
    assert "VERCEL_ENV: Input should be 'development', 'preview' or 'production' (got 'staging')" in line
    assert "JESSIE_SYNC_CONCURRENCY: Input should be a valid integer" in line


def test_development_generates_secrets_once_privately(tmp_path: Path) -> None:
    first = Settings(vercel_env="development", data_dir=tmp_path)
    key = first.require("jessie_encryption_key")
    assert Settings(vercel_env="development", data_dir=tmp_path).require("jessie_encryption_key") == key
    secrets_file = tmp_path / "secrets.json"
    assert stat.S_IMODE(os.stat(secrets_file).st_mode) == 0o600
    assert set(json.loads(secrets_file.read_text())) == {"cron_secret", "jessie_encryption_key", "session_secret"}
    TokenCipher(first.encryption_keys())  # a usable Fernet key


def test_database_url_falls_back_to_postgres_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("POSTGRES_URL", "postgres://u:p@pooler.example:6543/db")
    assert Settings().database_url.get_secret_value() == "postgres://u:p@pooler.example:6543/db"  # type: ignore[union-attr]
    monkeypatch.setenv("DATABASE_URL", "postgres://direct/db")
    assert Settings().database_url.get_secret_value() == "postgres://direct/db"  # type: ignore[union-attr]


def test_integration_parameters_libpq_refuses_are_dropped() -> None:
    url = "postgres://u:p@aws-0.pooler.supabase.com:6543/postgres?sslmode=require&supa=base-pooler.x"
    assert clean_url(url) == "postgres://u:p@aws-0.pooler.supabase.com:6543/postgres?sslmode=require"
