"""Settings: the one place that reads environment variables.

Secrets are optional at load time so that each entry point can say precisely which one
it lacks (`Settings.require`): a missing secret is a clear error naming it, never a
silent default. In development only, the three app secrets are generated once into
`JESSIE_DATA_DIR` so `nox -s dev` works on a fresh clone; outside development they must
be set, long enough (32 characters), and not a placeholder (`<secret>`, `${CRON_SECRET}`,
`changeme123`, a run of one character…); surrounding whitespace is not part of a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from app.gmail.quota import MODELS, ModelName, QuotaModel
from app.origins import OriginPattern, parse_patterns

Environment = Literal["development", "preview", "production"]
MIN_SECRET_LENGTH = 32
MIN_RUN_BUDGET_S = 10.0
INTERACTIVE_WAIT_S = 50.0  # the longest a person waits for "Sync now" to answer
CONNECT_WAIT_S = 15.0  # what connecting Gmail spends on the first sync before showing the inbox
CRON_GRACE_S = 600  # how late a cron run may start before "the cron did not run"
# Test mode: a Preview serves its own Gmail + Google OAuth stand-in under this path (sandbox/gmail/deployed.py).
TEST_MODE_PATH = "/_test/google"
# The hourly cron's endpoint: vercel.json's crons name it too (the build check holds them equal).
CRON_PATH = "/api/cron/email-sync"
TEST_MODE_CLIENT_ID = "jessie-test-mode.apps.googleusercontent.com"
TEST_MODE_ADMIN = "demo@example.com"  # the stand-in's first seeded mailbox: who walks /runs on a test-mode Preview
GOOGLE_ENDPOINTS = {
    "gmail_api_endpoint": "https://gmail.googleapis.com/",
    "google_auth_uri": "https://accounts.google.com/o/oauth2/v2/auth",
    "google_token_uri": "https://oauth2.googleapis.com/token",
    "google_revoke_uri": "https://oauth2.googleapis.com/revoke",
}
# Google's paths, as the stand-in serves them below the deployment's own origin + TEST_MODE_PATH.
TEST_MODE_ENDPOINTS = {
    "gmail_api_endpoint": "/",
    "google_auth_uri": "/o/oauth2/v2/auth",
    "google_token_uri": "/token",
    "google_revoke_uri": "/revoke",
}
# Template leftovers: <secret>, ${CRON_SECRET}, $CRON_SECRET, {{ secret }}, %SECRET%.
_TEMPLATE = re.compile(r"^(<.*>|\$\{.*\}|\$[A-Za-z_]+|\{\{.*\}\}|%.*%)$")
_PLACEHOLDER_WORDS = ("changeme", "changethis", "replaceme", "placeholder", "yoursecret", "your-secret", "example")
MIN_DISTINCT_CHARACTERS = 10  # "aaaa…" or "0000…" is no secret, however long
GENERATED_IN_DEVELOPMENT: dict[str, Callable[[], str]] = {
    "cron_secret": lambda: secrets.token_urlsafe(32),
    "jessie_encryption_key": lambda: _fernet_key(),
    "session_secret": lambda: secrets.token_urlsafe(48),
}


DEV_STACK_FILE = "dev-stack.json"  # in JESSIE_DATA_DIR while `nox -s dev` runs: see _RunningDevStack


class MissingSetting(RuntimeError):
    """A required setting is absent (or a placeholder); the message names the variable."""


class _EnvironmentByAlias(EnvSettingsSource):
    """The environment, read by each field's alias alone: the names docs/ARCHITECTURE.md tables.
    `populate_by_name` lets code say `Settings(data_dir=…)`; without this, pydantic-settings would
    also let DATA_DIR, LEASE_S, COMMIT_SHA, … in the environment set fields."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.config = self.config | SettingsConfigDict(populate_by_name=False, validate_by_name=False)


class _RunningDevStack(PydanticBaseSettingsSource):
    """Development only, beneath the environment: the settings a running `nox -s dev` gave its app
    (the Gmail sandbox's endpoints and OAuth client, the callback, the cron interval), which it
    writes to JESSIE_DATA_DIR/dev-stack.json while it runs, so `jessie sync` and the other
    commands reach that stack's sandbox with no variables set."""

    def __init__(self, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self.given = init_settings()

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # all of it comes from __call__

    def _given(self, name: str, variable: str, default: str) -> str:
        return str(self.given.get(name, self.given.get(variable, os.environ.get(variable, default))))

    def __call__(self) -> dict[str, Any]:
        if self._given("vercel_env", "VERCEL_ENV", "development").lower() != "development":
            return {}
        path = Path(self._given("data_dir", "JESSIE_DATA_DIR", ".jessie")) / DEV_STACK_FILE
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError):  # no stack running here
            return {}
        return {variable: value for variable, value in stored.items() if isinstance(value, str)}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        environment = _EnvironmentByAlias(settings_cls)
        return (
            init_settings,
            environment,
            _RunningDevStack(settings_cls, init_settings),
            dotenv_settings,
            file_secret_settings,
        )

    database_url: SecretStr | None = Field(None, validation_alias=AliasChoices("DATABASE_URL", "POSTGRES_URL"))
    data_dir: Path = Field(Path(".jessie"), validation_alias="JESSIE_DATA_DIR")

    gmail_api_endpoint: str = Field(GOOGLE_ENDPOINTS["gmail_api_endpoint"], validation_alias="GMAIL_API_ENDPOINT")
    google_auth_uri: str = Field(GOOGLE_ENDPOINTS["google_auth_uri"], validation_alias="GOOGLE_AUTH_URI")
    google_token_uri: str = Field(GOOGLE_ENDPOINTS["google_token_uri"], validation_alias="GOOGLE_TOKEN_URI")
    google_revoke_uri: str = Field(GOOGLE_ENDPOINTS["google_revoke_uri"], validation_alias="GOOGLE_REVOKE_URI")
    # A Preview that carries its own Gmail + Google OAuth stand-in (never Production): the endpoints
    # and the OAuth client then default to the stand-in's, on this deployment's own URL.
    test_mode: bool = Field(False, validation_alias="JESSIE_TEST_MODE")
    google_client_id: str | None = Field(None, validation_alias="GOOGLE_CLIENT_ID")
    google_client_secret: SecretStr | None = Field(None, validation_alias="GOOGLE_CLIENT_SECRET")

    cron_secret: SecretStr | None = Field(None, validation_alias="CRON_SECRET")
    jessie_encryption_key: SecretStr | None = Field(None, validation_alias="JESSIE_ENCRYPTION_KEY")
    session_secret: SecretStr | None = Field(None, validation_alias="SESSION_SECRET")

    vercel_env: Environment = Field("development", validation_alias="VERCEL_ENV")
    # Where this deployment answers (Vercel's system variables: hosts without a scheme).
    vercel_url: str | None = Field(None, validation_alias="VERCEL_URL")
    # Set on every deployment; Vercel Queues pins the messages a deployment sends to it.
    vercel_deployment_id: str | None = Field(None, validation_alias="VERCEL_DEPLOYMENT_ID")
    vercel_branch_url: str | None = Field(None, validation_alias="VERCEL_BRANCH_URL")
    vercel_production_url: str | None = Field(None, validation_alias="VERCEL_PROJECT_PRODUCTION_URL")
    # The one callback registered with Google (default: the Production domain's). Previews use it
    # too: Production hands the code back to a Preview whose origin OAUTH_RELAY_ORIGINS allows.
    oauth_redirect_uri: str | None = Field(None, validation_alias="OAUTH_REDIRECT_URI")
    # Comma-separated origin patterns (app/origins.py: `*` stands within one DNS label).
    oauth_relay_origins: str = Field("", validation_alias="OAUTH_RELAY_ORIGINS")
    # Vercel sets VERCEL_GIT_COMMIT_SHA for Git deployments; CLI deployments get JESSIE_COMMIT_SHA.
    commit_sha: str = Field("unknown", validation_alias=AliasChoices("VERCEL_GIT_COMMIT_SHA", "JESSIE_COMMIT_SHA"))

    # The sync's knobs.
    sync_concurrency: int = Field(8, ge=1, le=64, validation_alias="JESSIE_SYNC_CONCURRENCY")
    # Which of Gmail's quota models the Google Cloud project has (app/gmail/quota.py): its costs
    # and per-user minute. A per-second rate replaces that minute's pacing (0 = no pacing).
    gmail_quota_model: ModelName = Field("2026", validation_alias="JESSIE_GMAIL_QUOTA_MODEL")
    quota_units_per_second: float | None = Field(None, ge=0, validation_alias="JESSIE_QUOTA_UNITS_PER_SECOND")
    # The units a day's syncs may spend before first syncs wait (app/sync/daily_quota.py): the
    # model's daily threshold unless set (0 = no daily budget).
    gmail_daily_units: int | None = Field(None, ge=0, validation_alias="JESSIE_GMAIL_DAILY_UNITS")
    batch_size: int = Field(50, ge=1, le=50, validation_alias="JESSIE_BATCH_SIZE")
    max_body_chars: int = Field(100_000, ge=1_000, validation_alias="JESSIE_MAX_BODY_CHARS")
    http_timeout_s: float = Field(30.0, gt=0, validation_alias="JESSIE_HTTP_TIMEOUT_SECONDS")
    retry_base_s: float = Field(0.5, gt=0, validation_alias="JESSIE_RETRY_BASE_SECONDS")
    # How long an account stays leased to a run that stops renewing it (it renews every third).
    lease_s: float = Field(30, ge=1, validation_alias="JESSIE_LEASE_SECONDS")

    # The hourly sweep's fan-out: parallel invocations of the sweep worker, within the database
    # connections all sync invocations together may hold (the pooler's client limit, less
    # headroom for page views) and Gmail's per-project quota.
    sweep_max_invocations: int = Field(8, ge=1, le=100, validation_alias="JESSIE_SWEEP_MAX_INVOCATIONS")
    sweep_accounts_per_invocation: int = Field(10_000, ge=1, validation_alias="JESSIE_SWEEP_ACCOUNTS_PER_INVOCATION")
    db_connection_budget: int = Field(60, ge=2, validation_alias="JESSIE_DB_CONNECTION_BUDGET")
    gmail_project_units_per_minute: int = Field(
        1_200_000, ge=1, validation_alias="JESSIE_GMAIL_PROJECT_UNITS_PER_MINUTE"
    )
    # Set by Vercel when the project has a Protection Bypass for Automation secret: a test-mode
    # Preview's calls to its own (protected) Google stand-in carry it.
    vercel_automation_bypass_secret: SecretStr | None = Field(None, validation_alias="VERCEL_AUTOMATION_BYPASS_SECRET")

    # The web app's.
    admin_emails: str = Field("", validation_alias="ADMIN_EMAILS")  # comma-separated: who sees /runs
    alert_webhook_url: SecretStr | None = Field(None, validation_alias="ALERT_WEBHOOK_URL")
    alert_after_failures: int = Field(3, ge=1, validation_alias="JESSIE_ALERT_AFTER_FAILURES")
    # The cron function's budget: Vercel's maxDuration minus a margin longer than one HTTP timeout.
    function_max_duration_s: float = Field(300, gt=0, validation_alias="JESSIE_FUNCTION_MAX_DURATION")
    cron_margin_s: float = Field(45, ge=0, validation_alias="JESSIE_CRON_MARGIN_SECONDS")
    manual_sync_interval_s: float = Field(60, ge=0, validation_alias="JESSIE_MANUAL_SYNC_INTERVAL_SECONDS")
    # How often a cron run is due (vercel.json's schedule, or the GitHub cron on Hobby).
    cron_interval_minutes: float = Field(60, gt=0, validation_alias="JESSIE_CRON_INTERVAL_MINUTES")

    # Vercel Log Drains: the drain's signature secret (x-vercel-signature), and the team's
    # endpoint verification code, which the endpoint answers in `x-vercel-verify`.
    log_drain_secret: SecretStr | None = Field(None, validation_alias="LOG_DRAIN_SECRET")
    log_drain_verify_token: str | None = Field(None, validation_alias="LOG_DRAIN_VERIFY_TOKEN")

    @field_validator("gmail_api_endpoint")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @model_validator(mode="after")
    def _test_mode_only_on_previews(self) -> Settings:
        """Production never runs the stand-in: neither test mode nor endpoints on its own path."""
        stand_in = [
            name.upper()
            for name in GOOGLE_ENDPOINTS
            if TEST_MODE_PATH in getattr(self, name) or (self.vercel_url and self.vercel_url in getattr(self, name))
        ]
        if self.vercel_env == "production" and (self.test_mode or stand_in):
            named = ["JESSIE_TEST_MODE"] if self.test_mode else stand_in
            raise ValueError(f"{', '.join(named)}: Production never runs the Gmail stand-in of test mode")
        if not self.test_mode:
            return self
        if not self.vercel_url:
            raise ValueError("JESSIE_TEST_MODE needs VERCEL_URL, the deployment's own host (Vercel sets it)")
        base = f"https://{self.vercel_url}{TEST_MODE_PATH}"
        for name, path in TEST_MODE_ENDPOINTS.items():  # whatever the Preview's environment says otherwise
            setattr(self, name, base + path)
        # A Preview has no cron schedule: the walk calls the endpoint, and each walk's call begins a
        # sweep of its own when a slot is a minute (not an hour, which a re-run would join).
        if "cron_interval_minutes" not in self.model_fields_set:
            self.cron_interval_minutes = 1
        # The stand-in is not Google: it gets a client of its own, never the project's real one.
        self.google_client_id = TEST_MODE_CLIENT_ID
        if self.session_secret is not None:
            key = self.session_secret.get_secret_value().encode()
            self.google_client_secret = SecretStr(hmac.new(key, b"jessie test mode client", hashlib.sha256).hexdigest())
        return self

    @field_validator("oauth_relay_origins")
    @classmethod
    def _relay_patterns_parse(cls, value: str) -> str:
        parse_patterns(value)  # a pattern that cannot be read is a start-up error naming it
        return value

    @property
    def quota_model(self) -> QuotaModel:
        return MODELS[self.gmail_quota_model]

    @property
    def daily_units_budget(self) -> int | None:
        if self.gmail_daily_units is not None:
            return self.gmail_daily_units or None
        return self.quota_model.daily_threshold

    @property
    def account_units_per_second(self) -> float:
        """The most one account's sync spends per second, on average (0: unpaced)."""
        if self.quota_units_per_second is not None:
            return self.quota_units_per_second
        return self.quota_model.per_user_per_minute / 60

    @property
    def is_development(self) -> bool:
        return self.vercel_env == "development"

    def require(self, name: str) -> str:
        """The value of a required setting, generated in development, else an error naming it."""
        value = getattr(self, name)
        text = str(value.get_secret_value() if isinstance(value, SecretStr) else value or "").strip()
        variable = name.upper()
        if not text and self.is_development and name in GENERATED_IN_DEVELOPMENT:
            text = _development_secret(self.data_dir, name)
        if not text:
            raise MissingSetting(f"{variable} is not set (required in the {self.vercel_env} environment)")
        if name in SECRETS and not self.is_development:
            weakness = secret_weakness(text)
            if weakness:
                raise MissingSetting(
                    f"{variable} {weakness}: set a random value of at least {MIN_SECRET_LENGTH} characters, e.g. "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
                )
        return text

    @property
    def admins(self) -> set[str]:
        named = {email.strip().lower() for email in self.admin_emails.split(",") if email.strip()}
        return named | ({TEST_MODE_ADMIN} if self.test_mode else set())

    @property
    def redirect_uri(self) -> str:
        """The registered OAuth callback, from configuration only (never from request headers);
        in test mode the deployment's own, which its stand-in registers."""
        if self.test_mode:
            return f"https://{self.vercel_url}/auth/callback"
        if self.oauth_redirect_uri:
            return self.oauth_redirect_uri
        if self.vercel_production_url:
            return f"https://{self.vercel_production_url}/auth/callback"
        raise MissingSetting("OAUTH_REDIRECT_URI is not set (the Google OAuth callback registered for this app)")

    @property
    def own_origins(self) -> list[str]:
        """The origins this deployment answers on; the first is the one to use by default."""
        hosts = [self.vercel_url, self.vercel_branch_url]
        if self.vercel_env == "production":
            hosts.insert(0, self.vercel_production_url)
        origins = [f"https://{host}" for host in hosts if host]
        if self.oauth_redirect_uri and (self.is_development or not origins):
            origins.insert(0, origin_of(self.oauth_redirect_uri))
        return origins

    @property
    def relay_patterns(self) -> list[OriginPattern]:
        return parse_patterns(self.oauth_relay_origins)

    @property
    def run_budget_s(self) -> float:
        """What a sync run may take: the function's max duration (vercel.json's maxDuration,
        which the build check holds equal to this setting's default) minus a margin longer
        than one HTTP timeout. The cron, `jessie sync` and `ci/cron.py` all derive from it."""
        return max(MIN_RUN_BUDGET_S, self.function_max_duration_s - self.cron_margin_s)

    @property
    def cron_overdue_after_s(self) -> float:
        """No successful cron run for this long is the "cron did not run" incident: one
        interval, plus the longest a run may take, plus a grace period for a late start."""
        return self.cron_interval_minutes * 60 + self.function_max_duration_s + CRON_GRACE_S

    @property
    def manual_sync_budget_s(self) -> float:
        """ "Sync now" answers while a person waits, within the function's budget."""
        return min(INTERACTIVE_WAIT_S, self.run_budget_s)

    @property
    def sync_pool_size(self) -> int:
        """A process that syncs: one connection per worker, plus the run's bookkeeping and heartbeat."""
        return self.sync_concurrency + 2

    @property
    def connections_per_invocation(self) -> int:
        """What one sync invocation may hold: its pool and the probe made when the pool opens."""
        return self.sync_pool_size + 1

    @property
    def max_live_runs(self) -> int:
        """Sync runs that may be alive at once within JESSIE_DB_CONNECTION_BUDGET."""
        return max(1, self.db_connection_budget // self.connections_per_invocation)

    @property
    def connect_sync_budget_s(self) -> float:
        """Connecting Gmail syncs the newest mail at once (the listing is newest first); a large
        mailbox continues, resumably, on the hourly runs."""
        return min(CONNECT_WAIT_S, self.run_budget_s)

    def encryption_keys(self) -> list[str]:
        return [key.strip() for key in self.require("jessie_encryption_key").split(",") if key.strip()]


def _fernet_key() -> str:
    from cryptography.fernet import Fernet  # only when development generates its key

    return Fernet.generate_key().decode()


SECRETS = {"cron_secret", "session_secret", "jessie_encryption_key", "log_drain_secret"}


def secret_weakness(text: str) -> str | None:
    """Why `text` is no secret for a deployment, or None."""
    for part in text.split(","):  # JESSIE_ENCRYPTION_KEY may hold several keys
        part = part.strip()
        squashed = re.sub(r"[^a-z]", "", part.lower())
        if _TEMPLATE.match(part) or any(word.replace("-", "") in squashed for word in _PLACEHOLDER_WORDS):
            return "is a placeholder"
        if len(part) < MIN_SECRET_LENGTH:
            return f"is too short ({len(part)} characters)"
        if len(set(part)) < MIN_DISTINCT_CHARACTERS:
            return "is not random (too few different characters)"
    return None


def describe_invalid(error: ValidationError) -> str:
    """pydantic's errors as one line: each variable, what is wrong, what it got."""
    parts = []
    for problem in error.errors():
        if not problem["loc"]:  # a check across settings: its input is all of them, secrets included
            parts.append(str(problem["msg"]).removeprefix("Value error, "))
            continue
        variable = ".".join(str(part) for part in problem["loc"])
        parts.append(f"{variable}: {problem['msg']} (got {problem.get('input')!r})")
    return "; ".join(parts)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _development_secret(data_dir: Path, name: str) -> str:
    """`name` from JESSIE_DATA_DIR/secrets.json (mode 0600), created once, development only.

    All secrets are written together and published with a hard link, which fails if
    another process got there first: concurrent first starts agree on one set of keys.
    """
    path = data_dir / "secrets.json"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = data_dir / f".secrets.{os.getpid()}.json"
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump({key: make() for key, make in GENERATED_IN_DEVELOPMENT.items()}, file)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return _published_secrets(path.resolve())[name]


@cache
def _published_secrets(path: Path) -> dict[str, str]:
    """Read once per process: a published secrets file never changes (signing every session
    cookie must not read a file)."""
    stored: dict[str, str] = json.loads(path.read_text())
    return stored


@cache
def get_settings() -> Settings:
    return Settings()
