"""What the local Vercel knows: one team, one project, its environment variables, uploaded
files, deployments and the Production alias."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .functions import DEFAULT_CONCURRENCY

TARGETS = ("production", "preview", "development")


@dataclass
class Deployment:
    id: str
    url: str  # host:port, as Vercel gives a hostname
    name: str
    project_id: str
    target: str | None
    meta: dict[str, str]
    env: dict[str, str]
    files: list[dict[str, Any]]
    created_at: int
    inspector_url: str
    ready_state: str = "QUEUED"
    building_at: int | None = None
    ready_at: int | None = None
    error_message: str | None = None
    auto_assign_domains: bool = True  # false when deployed with --skip-domain
    served_production: bool = False  # only these can be rolled back to
    crons: list[dict[str, str]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def to_json(self, team: dict[str, str], aliases: list[str]) -> dict[str, Any]:
        return {
            "id": self.id,
            "uid": self.id,
            "url": self.url,
            "name": self.name,
            "projectId": self.project_id,
            "ownerId": team["id"],
            "team": team,
            "target": self.target,
            "readyState": self.ready_state,
            "state": self.ready_state,
            "status": self.ready_state,
            "createdAt": self.created_at,
            "created": self.created_at,
            "buildingAt": self.building_at,
            "ready": self.ready_at,
            "meta": self.meta,
            "inspectorUrl": self.inspector_url,
            "alias": aliases,
            "aliasAssigned": bool(aliases),
            "type": "LAMBDAS",
            "version": 2,
            "regions": ["local1"],
            "creator": {"uid": "usr_jessie"},
            **({"errorMessage": self.error_message} if self.error_message else {}),
        }


@dataclass
class Alias:
    """A custom alias (POST /v2/deployments/{id}/aliases): a hostname that serves one deployment."""

    uid: str
    host: str
    deployment_id: str
    created_at: int

    def to_json(self) -> dict[str, Any]:
        return {"uid": self.uid, "alias": self.host, "deploymentId": self.deployment_id, "createdAt": self.created_at}


@dataclass
class EnvVar:
    """A project environment variable. Sensitive ones (Vercel's default for Production and
    Preview) reach the functions but never come back out of the API: `vercel pull` gets ""."""

    value: str
    type: str  # sensitive | encrypted | plain

    @property
    def readable(self) -> str:
        return "" if self.type == "sensitive" else self.value


DEFAULT_ENV_TYPES = {"production": "sensitive", "preview": "sensitive", "development": "encrypted"}
PLANS = ("hobby", "pro", "enterprise")


@dataclass
class VercelState:
    root: Path
    token: str = field(default_factory=lambda: "vercellocal" + secrets.token_hex(16))  # the CLI refuses "-"
    team: dict[str, str] = field(
        default_factory=lambda: {"id": "team_jessie", "slug": "jessie-team", "name": "Jessie Team"}
    )
    project_id: str = "prj_jessie"
    project_name: str = "jessie"
    plan: str = "pro"
    env: dict[str, dict[str, EnvVar]] = field(default_factory=lambda: {target: {} for target in TARGETS})
    protection_bypass: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    files: dict[str, Path] = field(default_factory=dict)  # sha1 → stored blob
    deployments: dict[str, Deployment] = field(default_factory=dict)
    production_id: str | None = None  # the deployment the Production alias serves
    auto_assign: bool = True  # a rollback turns automatic assignment off until the next promote
    alias_host: str = ""
    aliases: dict[str, Alias] = field(default_factory=dict)  # host → alias (moved, never shared)
    last_alias_request: dict[str, Any] | None = None
    cron_calls: list[dict[str, Any]] = field(default_factory=list)
    crons_disabled: bool = False
    unhandled: list[str] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)  # runtime log entries, drain-shaped
    function_concurrency: int = DEFAULT_CONCURRENCY  # invocations per instance (Fluid); 1 = one at a time
    lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def blobs(self) -> Path:
        return self.root / "files"

    def new_id(self) -> str:
        return f"dpl_{next(self._ids):04d}{secrets.token_hex(6)}"

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def find(self, id_or_host: str) -> Deployment | None:
        key = id_or_host.removeprefix("https://").rstrip("/")
        if key in self.deployments:
            return self.deployments[key]
        if key == self.alias_host and self.production_id:
            return self.deployments[self.production_id]
        if key in self.aliases:
            return self.deployments.get(self.aliases[key].deployment_id)
        return next((d for d in self.deployments.values() if d.url == key), None)

    def aliases_of(self, deployment: Deployment) -> list[str]:
        custom = [alias.host for alias in self.aliases.values() if alias.deployment_id == deployment.id]
        return ([self.alias_host] if deployment.id == self.production_id else []) + custom

    def serves(self, deployment: Deployment, host: str) -> bool:
        """Whether a request for `host` reaches `deployment` now (Vercel routes each by its host)."""
        return host == deployment.url or host in self.aliases_of(deployment)

    def env_values(self, target: str) -> dict[str, str]:
        """What a function of this target runs with."""
        return {key: variable.value for key, variable in self.env.get(target, {}).items()}

    def assign_production(self, deployment: Deployment) -> None:
        """The Production domain now serves `deployment` (call with the lock held)."""
        self.production_id = deployment.id
        deployment.served_production = True

    def production(self) -> Deployment | None:
        return self.deployments.get(self.production_id) if self.production_id else None
