"""GitHub's side of a run that act leaves to us: the event payloads, and which workflows an
event starts.

act runs every workflow that listens to an event's name and ignores `branches` and
`branches-ignore` filters, so the test decides which files GitHub would start, by GitHub's
filter rules (docs: "Workflow syntax for GitHub Actions", filter pattern cheat sheet), and
hands act those files alone.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

REPOSITORY = "jessie/jessie"
PULL_REQUEST_TYPES = ("opened", "synchronize", "reopened")  # what `pull_request` runs on without `types`
_REPOSITORY_PAYLOAD = {
    "full_name": REPOSITORY,
    "name": REPOSITORY.split("/")[1],
    "owner": {"login": REPOSITORY.split("/")[0]},
    "default_branch": "main",
    "fork": False,
}


def push(branch: str, sha: str, before: str = "0" * 40, message: str = "") -> dict[str, Any]:
    return {
        "ref": f"refs/heads/{branch}",
        "before": before,
        "after": sha,
        "repository": _REPOSITORY_PAYLOAD,
        "pusher": {"name": "jessie-dev"},
        "head_commit": {"id": sha, "message": message},
    }


def pull_request(
    number: int, branch: str, sha: str, base_sha: str, fork_of: str | None = None, action: str = "opened"
) -> dict[str, Any]:
    """A pull request into main, from a branch here or (fork_of="owner/repo") from a fork; `action`
    is what happened to it (opened, synchronize, closed, …)."""
    head_repository = {**_REPOSITORY_PAYLOAD, "full_name": fork_of, "fork": True} if fork_of else _REPOSITORY_PAYLOAD
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "html_url": f"https://github.com/{REPOSITORY}/pull/{number}",
            "head": {"ref": branch, "sha": sha, "repo": head_repository},
            "base": {"ref": "main", "sha": base_sha, "repo": _REPOSITORY_PAYLOAD},
        },
        "repository": _REPOSITORY_PAYLOAD,
    }


def schedule(cron: str) -> dict[str, Any]:
    return {"schedule": cron, "repository": _REPOSITORY_PAYLOAD}


def _pattern(glob: str) -> re.Pattern[str]:
    """GitHub's branch patterns: `*` stays within one path segment, `**` crosses them."""
    if re.search(r"[?+\[\]]", glob):
        raise NotImplementedError(f"branch pattern {glob!r}: only * and ** are understood here")
    parts = re.split(r"(\*\*|\*)", glob)
    return re.compile("".join({"**": ".*", "*": "[^/]*"}.get(part, re.escape(part)) for part in parts))


def _matches(patterns: list[str], branch: str) -> bool:
    """A later `!pattern` excludes what earlier patterns included, as GitHub reads the list."""
    included = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if _pattern(pattern.removeprefix("!")).fullmatch(branch):
            included = not negated
    return included


def _triggers(on: Any, event_name: str, payload: dict[str, Any]) -> bool:
    if isinstance(on, str):
        return on == event_name
    if isinstance(on, list):
        return event_name in on
    if event_name not in on:
        return False
    if event_name == "push":
        branch = payload["ref"].removeprefix("refs/heads/")
    elif event_name in ("pull_request", "pull_request_target"):
        branch = payload["pull_request"]["base"]["ref"]
    else:
        return True  # schedule, workflow_dispatch: no branch filters
    filters = on[event_name] or {}
    if any(key.startswith(("paths", "tags")) for key in filters):
        unknown = sorted(filters)
        raise NotImplementedError(f"{event_name} filters {unknown}: only branch and type filters are understood here")
    if event_name != "push" and payload.get("action") not in filters.get("types", PULL_REQUEST_TYPES):
        return False
    if "branches" in filters:
        return _matches(filters["branches"], branch)
    if "branches-ignore" in filters:
        return not _matches(filters["branches-ignore"], branch)
    return True


def triggered(workflows: Path, event_name: str, payload: dict[str, Any]) -> list[str]:
    """The workflow files GitHub starts for this event, by name."""
    started = []
    for path in sorted(workflows.glob("*.yml")):
        document = yaml.safe_load(path.read_text())
        on = document.get("on", document.get(True))  # YAML 1.1 reads a bare `on` key as True
        if _triggers(on, event_name, payload):
            started.append(path.name)
    return started
