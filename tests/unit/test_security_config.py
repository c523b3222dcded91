"""Secrets: encryption with rotation, the cron bearer check, settings that refuse to guess."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

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
    secret: dict[str, Any] = {name: value}
    production = Settings(vercel_env="production", data_dir=tmp_path, **secret)
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


# ---- test mode: a Preview's own Gmail stand-in, never Production's -------------------------

PREVIEW_SECRETS: dict[str, Any] = {
    "SESSION_SECRET": "s" * 8 + "0123456789abcdefghijklmnopqrstuv",
    "VERCEL_URL": "jessie-x.vercel.app",
}


def test_test_mode_points_a_preview_at_its_own_stand_in_with_a_client_of_its_own() -> None:
    settings = Settings(VERCEL_ENV="preview", JESSIE_TEST_MODE="1", GOOGLE_CLIENT_ID="real.apps", **PREVIEW_SECRETS)
    base = "https://jessie-x.vercel.app/_test/google"
    assert (settings.gmail_api_endpoint, settings.google_auth_uri) == (base + "/", base + "/o/oauth2/v2/auth")
    assert (settings.google_token_uri, settings.google_revoke_uri) == (base + "/token", base + "/revoke")
    assert settings.redirect_uri == "https://jessie-x.vercel.app/auth/callback"
    assert settings.google_client_id != "real.apps"  # never the project's real client
    assert settings.require("google_client_secret")
    with pytest.raises(ValidationError, match="JESSIE_TEST_MODE needs VERCEL_URL"):
        Settings(VERCEL_ENV="preview", JESSIE_TEST_MODE="1")


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"JESSIE_TEST_MODE": "1"}, "JESSIE_TEST_MODE"),
        ({"GMAIL_API_ENDPOINT": "https://jessie-x.vercel.app/_test/google/"}, "GMAIL_API_ENDPOINT"),
        ({"GOOGLE_TOKEN_URI": "https://jessie.example/_test/google/token"}, "GOOGLE_TOKEN_URI"),
    ],
)
def test_production_refuses_test_mode_and_the_stand_ins_endpoints(
    variables: dict[str, str], named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(VERCEL_ENV="production", **PREVIEW_SECRETS, **variables)  # type: ignore[arg-type]
    said = describe_invalid(refused.value)
    assert said == f"{named}: Production never runs the Gmail stand-in of test mode"
    assert PREVIEW_SECRETS["SESSION_SECRET"] not in said  # a check across settings never quotes them
    # The app does not start: every answer is a 500 that names it (and no route runs).
    from fastapi.testclient import TestClient

    from app.config import get_settings
    from app.web.main import create_app

    for key, value in {"VERCEL_ENV": "production", **PREVIEW_SECRETS, **variables}.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        answer = TestClient(create_app()).get("/api/health")
    finally:
        get_settings.cache_clear()
    assert answer.status_code == 500
    assert named in answer.json()["error"]
