"""The world the Git flow runs in: a scratch repository, a local Vercel and GitHub, the Gmail
sandbox, Postgres for Preview and Production, and act running the workflow files. The
pipeline test and `nox -s rehearse` both stage it.

The repository's settings are what an owner would configure on GitHub: its secrets and
variables go into act (`--secret-file`, `--var`), and the runner reaches the stand-ins
through its environment (`--env GITHUB_API_URL=…`, `VERCEL_API=…`, a CA bundle that trusts
the local Vercel's certificate); the workflows run unedited.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import certifi
import psycopg
import requests
from cryptography.fernet import Fernet

from ci import preview_db
from sandbox.github.server import READ_ONLY, WORKFLOW, LocalGitHub
from sandbox.gmail import environment_for
from sandbox.gmail.oauth import DEFAULT_CLIENT_ID
from sandbox.gmail.server import SandboxServer
from sandbox.gmail.state import SandboxState
from sandbox.vercel.server import LocalVercel
from tests.checkout import copy_checkout
from tests.integration.web_helpers import consent
from tests.pipeline import github_events
from tests.pipeline.act import Runner, WorkflowRun
from tests.postgres import Postgres

ADMIN = "owner@example.com"
PR_ALIAS = "jessie-pr-{number}.vercel.app"  # the repository variable JESSIE_PR_ALIAS
WORKFLOW_TOKEN = "ghs_workflow-token"  # throw-away tokens of the local GitHub
FORK_TOKEN = "ghs_fork-token"


@dataclass
class World:
    root: Path
    workspace: Path
    vercel: LocalVercel
    github: LocalGitHub
    gmail: SandboxServer
    databases: dict[str, str]  # the Production database, and the preview server's (each branch has one on it)
    production_env: dict[str, str]
    preview_env: dict[str, str]
    runner: Runner

    # ---- the repository ---------------------------------------------------------------

    def git(self, *args: str) -> str:
        done = subprocess.run(["git", *args], cwd=self.workspace, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    def commit(self, message: str, edits: Mapping[str, tuple[str, str]] | None = None) -> str:
        """Edit files (old → new, each old text present once or more) and commit."""
        for path, (old, new) in (edits or {}).items():
            target = self.workspace / path
            text = target.read_text()
            assert old in text, f"{old!r} not in {path}"
            target.write_text(text.replace(old, new, 1))
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

    # ---- GitHub's side --------------------------------------------------------------------

    def secrets(self) -> dict[str, str]:
        """The repository's Actions secrets, as its owner set them (README, "Set up")."""
        state = self.vercel.state
        return {
            "GITHUB_TOKEN": WORKFLOW_TOKEN,  # what GitHub gives a run of this repository
            "VERCEL_TOKEN": state.token,
            "VERCEL_ORG_ID": state.team["id"],
            "VERCEL_PROJECT_ID": state.project_id,
            "VERCEL_AUTOMATION_BYPASS_SECRET": state.protection_bypass,
            "PREVIEW_DATABASE_URL": self.databases["preview"],
            "PRODUCTION_DATABASE_URL": self.databases["production"],
            "CRON_SECRET": self.production_env["CRON_SECRET"],
            "PREVIEW_CRON_SECRET": self.preview_env["CRON_SECRET"],
        }

    def variables(self, **extra: str) -> dict[str, str]:
        """The repository's Actions variables."""
        return {
            "PRODUCTION_URL": self.vercel.production_url,
            "JESSIE_PR_ALIAS": PR_ALIAS,
            "LOG_DRAIN_VERIFY_TOKEN": self.preview_env["LOG_DRAIN_VERIFY_TOKEN"],
            **extra,
        }

    def branch_database(self, branch: str) -> str:
        """The database a branch's Previews run on (ci/preview_db.py), on the preview server."""
        return preview_db.url_for(self.databases["preview"], branch)

    def an_hour_passes_on(self, url: str) -> None:
        """For a database's hourly bounds (a sweep per slot, first syncs per hour): they are an hour old."""
        with psycopg.connect(url) as conn:
            conn.execute(
                "update jessie.sweeps set slot = slot - interval '1 hour', started_at = started_at - interval '1 hour'"
            )
            conn.execute("update jessie.connect_syncs set synced_at = synced_at - interval '1 hour'")

    def act(
        self,
        event_name: str,
        payload: dict[str, Any],
        workflow: str,
        *,
        fork: bool = False,
        variables: Mapping[str, str] | None = None,
        matrix: Mapping[str, list[str]] | None = None,
    ) -> WorkflowRun:
        """One run of a workflow the event starts. A fork's pull request gets no secrets, only
        a read-only token."""
        started = github_events.triggered(self.workspace / ".github" / "workflows", event_name, payload)
        assert workflow in started, f"GitHub would not start {workflow} for this {event_name}: only {started}"
        secrets = {"GITHUB_TOKEN": FORK_TOKEN} if fork else self.secrets()
        return self.runner.run(
            event_name,
            payload,
            workflow,
            secrets=secrets,
            variables=self.variables() if variables is None else variables,
            matrix=matrix,
        )

    # ---- what the stand-ins saw ---------------------------------------------------------

    def vercel_state(self) -> dict[str, Any]:
        state: dict[str, Any] = requests.get(f"{self.vercel.url}/_sandbox/state", timeout=10).json()
        return state

    def github_state(self) -> dict[str, Any]:
        state: dict[str, Any] = requests.get(f"{self.github.url}/_sandbox/state", timeout=10).json()
        return state

    def production_id(self) -> str | None:
        production: str | None = self.vercel_state()["production"]
        return production

    def get(self, url: str, bypass: bool = True, **kwargs: Any) -> requests.Response:
        headers = {"x-vercel-protection-bypass": self.vercel.state.protection_bypass} if bypass else {}
        return requests.get(url, headers=headers, verify=str(self.vercel.ca), timeout=60, **kwargs)

    def connect_gmail(self, base_url: str) -> requests.Session:
        """Press Connect Gmail on a deployment and allow access on the sandbox's consent page.
        Google knows Production's callback alone: Production hands a Preview its code."""
        browser = requests.Session()
        browser.trust_env = False  # a REQUESTS_CA_BUNDLE in the environment would override `verify`
        browser.verify = str(self.vercel.ca)
        browser.headers["x-vercel-protection-bypass"] = self.vercel.state.protection_bypass
        started = browser.get(f"{base_url}/auth/google", allow_redirects=False, timeout=30)
        assert started.status_code == 303, started.text
        callback = consent(browser, started.headers["Location"], ADMIN)
        assert callback.startswith(f"{self.vercel.production_url}/auth/callback?")
        done = browser.get(callback, allow_redirects=False, timeout=60)
        if not base_url.startswith(self.vercel.production_url):
            assert done.status_code == 303, done.text
            assert done.headers["Location"].startswith(f"{base_url}/auth/callback?")
            done = browser.get(done.headers["Location"], allow_redirects=False, timeout=60)
        assert (done.status_code, done.headers.get("Location")) == (303, "/inbox"), done.text
        return browser


def _scratch_repository(workspace: Path) -> None:
    """The checkout as it is now, as a fresh clone's main branch."""
    copy_checkout(workspace)
    for args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.email", "ci@example.com"],
        ["config", "user.name", "Jessie CI"],
        ["remote", "add", "origin", f"https://github.com/{github_events.REPOSITORY}.git"],
        ["add", "-A"],
        ["commit", "-q", "-m", "Initial"],
    ):
        subprocess.run(["git", *args], cwd=workspace, check=True, capture_output=True)


def _app_env(database: str, gmail_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database,
        **environment_for(gmail_url),
        "CRON_SECRET": "cron-" + uuid.uuid4().hex,
        "JESSIE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "SESSION_SECRET": uuid.uuid4().hex * 2,
        "ADMIN_EMAILS": ADMIN,
        "JESSIE_QUOTA_UNITS_PER_SECOND": "250",
    }


def _ca_bundle(root: Path, local_ca: Path) -> Path:
    """What the runner trusts: the machine's authorities plus the local Vercel's."""
    machine = Path(os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") or certifi.where())
    bundle = root / "ca-bundle.pem"
    bundle.write_text(machine.read_text() + "\n" + local_ca.read_text())
    return bundle


@contextmanager
def stage(root: Path, postgres: Postgres) -> Iterator[World]:
    """Everything started under `root`, with two new databases on that Postgres server (their
    URLs over TCP, as a hosted database's are: the Supabase CLI migrates them); everything
    stopped and dropped afterwards."""
    workspace = root / "jessie"
    workspace.mkdir(parents=True)
    _scratch_repository(workspace)
    databases = {}
    postgres_url = postgres.url()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for target in ("preview", "production"):
            name = f"pipeline_{target}_{uuid.uuid4().hex[:8]}"
            conn.execute(f"create database {name}")
            databases[target] = postgres.tcp_url(name)
    gmail = SandboxServer(SandboxState(seed=3)).start()
    vercel = LocalVercel(root / "vercel").start()
    github = LocalGitHub().start()
    try:
        requests.post(f"{gmail.url}/_sandbox/accounts", json={"email": ADMIN, "messages": 40, "seed": 5}, timeout=60)
        env = {target: _app_env(databases[target], gmail.url) for target in ("preview", "production")}
        # Production's callback is the one registered with Google; it hands Previews their codes.
        env["production"]["OAUTH_RELAY_ORIGINS"] = "https://127.0.0.1:*"
        # A Preview's database is its branch's (the deployment is given it): none in the project's env.
        del env["preview"]["DATABASE_URL"]
        # A Preview hands codes on to its pull request's own address, which may be moved onto it later.
        env["preview"]["OAUTH_RELAY_ORIGINS"] = "https://" + PR_ALIAS.replace("{number}", "*")
        env["preview"]["LOG_DRAIN_VERIFY_TOKEN"] = uuid.uuid4().hex
        requests.put(f"{vercel.url}/_sandbox/env", timeout=10, json=env)
        callback = f"https://{vercel.state.alias_host}/auth/callback"
        registered = {"redirect_uris": {DEFAULT_CLIENT_ID: [callback]}}
        requests.put(f"{gmail.url}/_sandbox/oauth", json=registered, timeout=10)
        github.token(WORKFLOW_TOKEN, WORKFLOW)
        github.token(FORK_TOKEN, READ_ONLY)
        runner = Runner(
            root,
            workspace,
            {
                "GITHUB_API_URL": github.url,
                "VERCEL_API": vercel.url,
                "REQUESTS_CA_BUNDLE": str(_ca_bundle(root, vercel.ca)),
                "E2E_IGNORE_HTTPS_ERRORS": "1",
                # No hostname resolves offline: the browser reaches the aliases through the local Vercel.
                "E2E_PROXY": vercel.proxy_url,
            },
        )
        yield World(root, workspace, vercel, github, gmail, databases, env["production"], env["preview"], runner)
    finally:
        github.stop()
        vercel.stop()
        gmail.stop()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            branches = conn.execute("select datname from pg_database where datname like %s", [preview_db.PREFIX + "%"])
            names = [psycopg.conninfo.conninfo_to_dict(url)["dbname"] for url in databases.values()]
            for name in [*names, *(row[0] for row in branches.fetchall())]:
                conn.execute(f'drop database "{name}" with (force)'.encode())


def migrated(url: str) -> list[str]:
    """The versions Supabase's ledger lists (what the Supabase CLI and Jessie applied)."""
    with psycopg.connect(url) as conn:
        exists = conn.execute("select to_regclass('supabase_migrations.schema_migrations')").fetchone()
        if not exists or exists[0] is None:
            return []
        return [row[0] for row in conn.execute("select version from supabase_migrations.schema_migrations order by 1")]
