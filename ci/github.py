"""GitHub, as the pipeline talks to it: the sticky PR comment, the job summary, Deployments.

A pull request from a fork runs without secrets; `skip_reason()` says so in words, and
callers report "skipped" instead of failing on a missing token.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci.http import Api

SUMMARY_LIMIT_BYTES = 1024 * 1024  # GitHub refuses a step summary over 1 MiB
MARKER = "<!-- jessie:e2e-report -->"


@dataclass(frozen=True)
class Repository:
    token: str
    name: str  # owner/repo
    api_url: str = "https://api.github.com"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Repository:
        missing = [name for name in ("GITHUB_TOKEN", "GITHUB_REPOSITORY") if not env.get(name)]
        if missing:
            raise RuntimeError(f"missing {', '.join(missing)}: pass them from the workflow (github.token)")
        return cls(env["GITHUB_TOKEN"], env["GITHUB_REPOSITORY"], env.get("GITHUB_API_URL") or "https://api.github.com")

    def rest(self, **options: Any) -> Api:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "jessie-ci",
        }
        return Api(self.api_url, headers, **options)


def event(env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    path = env.get("GITHUB_EVENT_PATH")
    if not path or not Path(path).exists():
        return {}
    loaded: dict[str, Any] = json.loads(Path(path).read_text())
    return loaded


def skip_reason(env: Mapping[str, str] = os.environ) -> str | None:
    """Why this run cannot deploy: a fork's pull request gets no secrets."""
    pull_request = event(env).get("pull_request") or {}
    head = (pull_request.get("head") or {}).get("repo") or {}
    base = (pull_request.get("base") or {}).get("repo") or {}
    if pull_request and (head.get("fork") or head.get("full_name") != base.get("full_name")):
        return (
            f"pull request from the fork {head.get('full_name', '?')}: forks get no secrets, so no Preview is deployed"
        )
    return None


def upsert_sticky_comment(repo: Repository, number: int, body: str, marker: str = MARKER) -> tuple[str, int]:
    """Create the PR's one report comment, or update it: ("created" | "updated", comment id)."""
    api = repo.rest()
    text = f"{marker}\n{body}"
    page = 1
    while True:
        comments = api.json("GET", f"/repos/{repo.name}/issues/{number}/comments?per_page=100&page={page}")
        for comment in comments:
            if marker in (comment.get("body") or ""):
                api.json("PATCH", f"/repos/{repo.name}/issues/comments/{comment['id']}", json={"body": text})
                return "updated", int(comment["id"])
        if len(comments) < 100:
            break
        page += 1
    created = api.json("POST", f"/repos/{repo.name}/issues/{number}/comments", json={"body": text})
    return "created", int(created["id"])


def write_summary(markdown: str, env: Mapping[str, str] = os.environ) -> None:
    """Append to the job summary, cut to stay under GitHub's 1 MiB limit."""
    path = env.get("GITHUB_STEP_SUMMARY")
    if not path:
        print(markdown)
        return
    encoded = markdown.encode()
    if len(encoded) > SUMMARY_LIMIT_BYTES - 1024:
        note = "\n\n… (cut to fit GitHub's 1 MiB summary limit; the full report is in the artifact)\n"
        encoded = encoded[: SUMMARY_LIMIT_BYTES - 1024 - len(note)].decode(errors="ignore").encode() + note.encode()
    with open(path, "ab") as summary:
        summary.write(encoded + b"\n")


def add_mask(value: str) -> None:
    """GitHub hides `value` from the rest of the job's log (a workflow command; the line itself is not shown)."""
    if value:
        print(f"::add-mask::{value}")


def write_output(name: str, value: str, env: Mapping[str, str] = os.environ) -> None:
    path = env.get("GITHUB_OUTPUT")
    if path:
        with open(path, "a") as output:
            output.write(f"{name}={value}\n")


def record_deployment(repo: Repository, sha: str, environment: str, url: str, log_url: str | None = None) -> int:
    """A GitHub Deployment with a success status, so the PR shows "View deployment"."""
    api = repo.rest()
    deployment = api.json(
        "POST",
        f"/repos/{repo.name}/deployments",
        json={
            "ref": sha,
            "environment": environment,
            "auto_merge": False,
            "required_contexts": [],
            "transient_environment": environment != "Production",
            "production_environment": environment == "Production",
            "description": f"Vercel {environment.lower()} deployment",
        },
    )
    status = {"state": "success", "environment_url": url, "auto_inactive": True}
    if log_url:
        status["log_url"] = log_url
    api.json("POST", f"/repos/{repo.name}/deployments/{deployment['id']}/statuses", json=status)
    return int(deployment["id"])
