"""The world the Git flow runs in: a scratch repository, a local Vercel and GitHub, the Gmail
sandbox, Postgres for Preview and Production, and the workflows' own nox sessions.

Each workflow step is run as the workflow runs it (`nox -s <session> -- <args>` in the
checkout) with the environment variables the workflow passes, including GITHUB_OUTPUT,
GITHUB_STEP_SUMMARY and GITHUB_EVENT_PATH files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from cryptography.fernet import Fernet

from app.db.migrate import migrate
from sandbox.github.server import READ_ONLY, WORKFLOW, LocalGitHub
from sandbox.gmail import environment_for
from sandbox.gmail.oauth import DEFAULT_CLIENT_ID
from sandbox.gmail.server import SandboxServer
from sandbox.gmail.state import SandboxState
from sandbox.vercel.server import LocalVercel

REPOSITORY = Path(__file__).resolve().parents[2]
GITHUB_REPOSITORY = "jessie/jessie"
ADMIN = "owner@example.com"


@dataclass
class Step:
    session: str
    returncode: int
    output: str
    outputs: dict[str, str]
    summary: str


@dataclass
class World:
    root: Path
    workspace: Path
    vercel: LocalVercel
    github: LocalGitHub
    gmail: SandboxServer
    databases: dict[str, str]
    steps: list[Step] = field(default_factory=list)
    _count: int = 0

    # ---- the repository ---------------------------------------------------------------

    def git(self, *args: str) -> str:
        done = subprocess.run(["git", *args], cwd=self.workspace, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    def commit(
        self, message: str, edits: dict[str, tuple[str, str]] | None = None, append: dict[str, str] | None = None
    ) -> str:
        for path, (old, new) in (edits or {}).items():
            target = self.workspace / path
            text = target.read_text()
            assert old in text, f"{old!r} not in {path}"
            target.write_text(text.replace(old, new, 1))
        for path, extra in (append or {}).items():
            with (self.workspace / path).open("a") as file:
                file.write(extra)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

    # ---- workflow steps ----------------------------------------------------------------

    def run(
        self,
        session: str,
        *args: str,
        event: dict[str, Any],
        sha: str,
        ref: str,
        token: str,
        secrets: bool = True,
        extra: dict[str, str] | None = None,
    ) -> Step:
        """One workflow step: `nox -s session -- args`, with the workflow's environment."""
        self._count += 1
        files = self.root / f"step{self._count}"
        files.mkdir()
        (files / "event.json").write_text(json.dumps(event))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("VERCEL_", "GITHUB_", "NOX_", "VIRTUAL_ENV"))},
            "GITHUB_EVENT_PATH": str(files / "event.json"),
            "GITHUB_OUTPUT": str(files / "output"),
            "GITHUB_STEP_SUMMARY": str(files / "summary"),
            "GITHUB_SHA": sha,
            "GITHUB_REF_NAME": ref,
            "GITHUB_REPOSITORY": GITHUB_REPOSITORY,
            "GITHUB_API_URL": self.github.url,
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_RUN_ID": str(self._count),
            "GITHUB_TOKEN": token,
            "REQUESTS_CA_BUNDLE": str(self.vercel.ca),
            "E2E_IGNORE_HTTPS_ERRORS": "1",
            # A nested pytest keeps its temporary folders apart: its retention cleanup must
            # never reach this session's (the Postgres data directory lives there).
            "PYTEST_DEBUG_TEMPROOT": str(files),
            **(extra or {}),
        }
        if secrets:
            env |= {
                "VERCEL_TOKEN": self.vercel.state.token,
                "VERCEL_ORG_ID": self.vercel.state.team["id"],
                "VERCEL_PROJECT_ID": self.vercel.state.project_id,
                "VERCEL_API": self.vercel.url,
                "VERCEL_AUTOMATION_BYPASS_SECRET": self.vercel.state.protection_bypass,
            }
        command = [sys.executable, "-m", "nox", "-s", session, *(["--", *args] if args else [])]
        done = subprocess.run(command, cwd=self.workspace, env=env, capture_output=True, text=True, timeout=900)
        outputs = {}
        if (files / "output").exists():
            outputs = dict(line.split("=", 1) for line in (files / "output").read_text().splitlines() if "=" in line)
        summary = (files / "summary").read_text() if (files / "summary").exists() else ""
        step = Step(session, done.returncode, done.stdout + done.stderr, outputs, summary)
        self.steps.append(step)
        return step

    # ---- what the stand-ins saw ---------------------------------------------------------

    def vercel_state(self) -> dict[str, Any]:
        state: dict[str, Any] = requests.get(f"{self.vercel.url}/_sandbox/state", timeout=10).json()
        return state

    def github_state(self) -> dict[str, Any]:
        state: dict[str, Any] = requests.get(f"{self.github.url}/_sandbox/state", timeout=10).json()
        return state

    def get(self, url: str, bypass: bool = True, **kwargs: Any) -> requests.Response:
        headers = {"x-vercel-protection-bypass": self.vercel.state.protection_bypass} if bypass else {}
        return requests.get(url, headers=headers, verify=str(self.vercel.ca), timeout=60, **kwargs)


def _scratch_repository(workspace: Path) -> None:
    """The checkout as it is now (tracked and new files), as a fresh repository on main."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPOSITORY, capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = REPOSITORY / name
        if source.is_file():
            target = workspace / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (workspace / "node_modules").symlink_to(REPOSITORY / "node_modules")
    for args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.email", "ci@example.com"],
        ["config", "user.name", "Jessie CI"],
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


@pytest.fixture(scope="module")
def world(postgres_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("pipeline")
    workspace = root / "jessie"
    workspace.mkdir()
    _scratch_repository(workspace)
    databases = {}
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        for target in ("preview", "production"):
            name = f"pipeline_{target}_{uuid.uuid4().hex[:8]}"
            conn.execute(f"create database {name}")
            databases[target] = psycopg.conninfo.make_conninfo(postgres_admin_url, dbname=name)
    gmail = SandboxServer(SandboxState(seed=3)).start()
    requests.post(f"{gmail.url}/_sandbox/accounts", json={"email": ADMIN, "messages": 40, "seed": 5}, timeout=60)
    vercel = LocalVercel(root / "vercel").start()
    env = {target: _app_env(databases[target], gmail.url) for target in ("preview", "production")}
    # Production's callback is the one registered with Google; it hands Previews their codes.
    env["production"]["OAUTH_RELAY_ORIGINS"] = "https://127.0.0.1:*"
    requests.put(f"{vercel.url}/_sandbox/env", timeout=10, json=env)
    callback = f"https://{vercel.state.alias_host}/auth/callback"
    requests.put(f"{gmail.url}/_sandbox/oauth", json={"redirect_uris": {DEFAULT_CLIENT_ID: [callback]}}, timeout=10)
    github = LocalGitHub().start()
    github.token("workflow-token", WORKFLOW)
    github.token("fork-token", READ_ONLY)
    world = World(root, workspace, vercel, github, gmail, databases)
    try:
        yield world
    finally:
        github.stop()
        vercel.stop()
        gmail.stop()
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            for url in databases.values():
                conn.execute(f"drop database {psycopg.conninfo.conninfo_to_dict(url)['dbname']} with (force)")


def migrated(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        exists = conn.execute("select to_regclass('jessie.schema_migrations')").fetchone()
        if not exists or exists[0] is None:
            return []
        return [row[0] for row in conn.execute("select version from jessie.schema_migrations order by 1")]


__all__ = ["ADMIN", "World", "migrate", "migrated"]
