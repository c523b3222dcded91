"""Vercel, as the pipeline drives it: the pinned CLI for pull/build/deploy/rollback, REST to wait.

The token travels in the environment (VERCEL_TOKEN, which the CLI reads), never on a
command line that logs could show. `VERCEL_API` points both the CLI (its global
`--api` flag) and the REST calls at another API, which is how the offline pipeline
test uses a local Vercel.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from dotenv import dotenv_values

from ci import plans
from ci.http import Api, ApiError

DEFAULT_API = "https://api.vercel.com"
ROOT = Path(__file__).resolve().parents[1]
CLI = os.environ.get("VERCEL_CLI") or str(ROOT / "node_modules" / ".bin" / "vercel")
READY, FAILED = "READY", ("ERROR", "CANCELED")
_URL = re.compile(r"https://[^\s\"'<>]+")
# What `vercel build` needs when the project is not linked (`vercel pull` writes the real one).
LOCAL_PROJECT = {
    "projectId": "prj_jessie_local",
    "orgId": "team_jessie_local",
    "settings": {
        "framework": None,
        "installCommand": None,
        "buildCommand": None,
        "outputDirectory": None,
        "rootDirectory": None,
        "devCommand": None,
        "nodeVersion": "20.x",
    },
}


class MissingConfig(RuntimeError):
    pass


class DeploymentFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class VercelProject:
    token: str
    org_id: str
    project_id: str
    api: str = DEFAULT_API

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> VercelProject:
        missing = [name for name in ("VERCEL_TOKEN", "VERCEL_ORG_ID", "VERCEL_PROJECT_ID") if not env.get(name)]
        if missing:
            raise MissingConfig(
                f"missing {', '.join(missing)}: set them as GitHub Actions secrets (Vercel → Settings → Tokens; "
                "the ids are in .vercel/project.json after `vercel link`)"
            )
        return cls(
            env["VERCEL_TOKEN"], env["VERCEL_ORG_ID"], env["VERCEL_PROJECT_ID"], env.get("VERCEL_API") or DEFAULT_API
        )

    def rest(self, **options: Any) -> Api:
        return Api(self.api, {"Authorization": f"Bearer {self.token}", "User-Agent": "jessie-ci"}, **options)

    def query(self, **params: object) -> str:
        """Team-scoped query string (personal accounts have no teamId)."""
        values = {key: value for key, value in params.items() if value is not None}
        if self.org_id.startswith("team_"):
            values["teamId"] = self.org_id
        return "?" + urlencode(values) if values else ""

    def cli_env(self) -> dict[str, str]:
        return {"VERCEL_TOKEN": self.token, "VERCEL_ORG_ID": self.org_id, "VERCEL_PROJECT_ID": self.project_id}

    def cli_flags(self) -> list[str]:
        return ["--api", self.api] if self.api != DEFAULT_API else []


# ---- the CLI ------------------------------------------------------------------------------


def toolchain_env() -> dict[str, str]:
    """`vercel build` asks `uv python list` for a Python 3.12 and runs uv: first on PATH go
    this interpreter's real installation (uv may skip virtualenvs), then this environment's
    own uv (a pinned dependency, so no pyenv shim is involved)."""
    installation = os.path.dirname(os.path.realpath(sys.executable))
    environment = os.path.dirname(sys.executable)
    path = os.pathsep.join([installation, environment, os.environ.get("PATH", "")])
    return {"PATH": path, "VERCEL_TELEMETRY_DISABLED": "1"}


# An active virtualenv (nox exports VIRTUAL_ENV, UV_PYTHON…) would capture the builder's
# `uv pip install vercel-runtime`: uv follows them instead of the build's own .venv, and the
# function ships without the module its handler imports first.
_FOREIGN_ENVIRONMENT = (
    "VIRTUAL_ENV",
    "UV_PYTHON",
    "UV_PROJECT_ENVIRONMENT",
    "CONDA_PREFIX",
    "PYTHONHOME",
    "PYTHONPATH",
)


def cli_environment(project: VercelProject | None = None) -> dict[str, str]:
    """What the CLI runs with: this machine's environment minus any active Python
    environment, plus the toolchain and the project's credentials."""
    inherited = {key: value for key, value in os.environ.items() if key not in _FOREIGN_ENVIRONMENT}
    return {**inherited, **toolchain_env(), **(project.cli_env() if project else {})}


def installed(cli: str) -> str:
    """A CLI pinned in package.json (Vercel's, Supabase's), installed from package-lock.json on
    first use: a job that needs neither never waits for them."""
    if not Path(cli).exists():
        print(f"installing the pinned {Path(cli).name} CLI (npm ci)", file=sys.stderr)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=ROOT, check=True)
    return cli


def run_cli(args: list[str], project: VercelProject | None = None) -> str:
    """Run the pinned CLI; returns stdout. On failure the error carries the CLI's own words."""
    env = cli_environment(project)
    command = [installed(CLI), *args, *(project.cli_flags() if project else [])]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines()[-15:]
        raise DeploymentFailed(f"vercel {args[0]} failed (exit {result.returncode}):\n" + "\n".join(output))
    return result.stdout


def ensure_project_settings(root: Path = Path()) -> None:
    """An unlinked checkout gets a local project.json so `vercel build` can run offline."""
    path = root / ".vercel" / "project.json"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(LOCAL_PROJECT, indent=2))


def pull(project: VercelProject, environment: str) -> None:
    run_cli(["pull", "--yes", f"--environment={environment}"], project)


def pull_env(project: VercelProject, environment: str) -> dict[str, str | None]:
    """`vercel pull`, and the environment's variables it wrote (Sensitive ones come back empty)."""
    pull(project, environment)
    return dict(dotenv_values(f".vercel/.env.{environment}.local"))


@contextlib.contextmanager
def python_version_file(root: Path = Path()) -> Iterator[None]:
    """`vercel build` writes .python-version and the prebuilt output then needs it; remove it
    afterwards (if it was not there before), since it would switch every pyenv shim here."""
    path = root / ".python-version"
    existed = path.exists()
    try:
        yield
    finally:
        if not existed:
            path.unlink(missing_ok=True)


def build(project: VercelProject | None, production: bool, plan: str = "pro") -> None:
    """`vercel build`, with vercel.json as this Vercel plan accepts it (`ci/plans.py`)."""
    with plans.vercel_json_for(plan):
        run_cli(["build", "--yes", *(["--prod"] if production else [])], project)


def parse_deployment_url(stdout: str) -> str:
    """The one https URL on stdout, alone on its line; a URL inside a warning or a second
    URL anywhere makes it ambiguous, and ambiguity is refused rather than guessed."""
    urls = _URL.findall(stdout)
    alone = [line.strip() for line in stdout.splitlines() if _URL.fullmatch(line.strip())]
    if len(urls) != 1 or len(alone) != 1:
        shown = stdout.strip()[:500] or "(nothing)"
        raise DeploymentFailed(f"expected exactly one deployment URL on stdout, found {len(urls)}: {shown}")
    return alone[0]


def deploy(
    project: VercelProject, production: bool, meta: Mapping[str, str], env: Mapping[str, str] | None = None
) -> str:
    """Upload the prebuilt output; `meta` finds it again by commit, `env` reaches its runtime."""
    # Production never takes the domain on creation: it is promoted once its smoke passed.
    args = ["deploy", "--prebuilt", "--yes", "--no-wait", *(["--prod", "--skip-domain"] if production else [])]
    for key, value in meta.items():
        if value:
            args += ["--meta", f"{key}={value}"]
    for key, value in (env or {}).items():
        args += ["--env", f"{key}={value}"]
    return parse_deployment_url(run_cli(args, project))


def rollback_to(project: VercelProject, url: str) -> None:
    run_cli(["rollback", url, "--yes", "--timeout", "3m"], project)


def promote(project: VercelProject, url: str) -> dict[str, Any]:
    """`vercel promote`: the deployment takes the Production domain (and automatic assignment
    is on again after a rollback). Returns the deployment as it is now."""
    run_cli(["promote", url, "--yes", "--timeout", "3m"], project)
    return get_deployment(project, url)


# ---- REST -----------------------------------------------------------------------------------


def _host(url_or_id: str) -> str:
    return url_or_id.removeprefix("https://").removeprefix("http://").rstrip("/")


def get_deployment(project: VercelProject, url_or_id: str, api: Api | None = None) -> dict[str, Any]:
    result: dict[str, Any] = (api or project.rest()).json(
        "GET", f"/v13/deployments/{_host(url_or_id)}{project.query()}"
    )
    return result


def wait_until_ready(
    project: VercelProject,
    url_or_id: str,
    timeout_s: float = 900,
    poll_s: float = 5,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll GET /v13/deployments/{id} until READY; ERROR/CANCELED/timeout raise with the inspector URL."""
    api = project.rest()
    end = clock() + timeout_s
    while True:
        deployment = get_deployment(project, url_or_id, api)
        state = deployment.get("readyState") or deployment.get("state")
        inspector = deployment.get("inspectorUrl") or "(no inspector URL)"
        if state == READY:
            return deployment
        if state in FAILED:
            raise DeploymentFailed(f"deployment {deployment.get('url', url_or_id)} is {state}: see {inspector}")
        if clock() >= end:
            raise DeploymentFailed(f"deployment {url_or_id} still {state} after {timeout_s:.0f}s: see {inspector}")
        sleep(poll_s)


def list_deployments(project: VercelProject, **filters: object) -> list[dict[str, Any]]:
    path = f"/v6/deployments{project.query(projectId=project.project_id, limit=20, **filters)}"
    deployments: list[dict[str, Any]] = project.rest().json("GET", path).get("deployments", [])
    return sorted(deployments, key=lambda d: d.get("created") or d.get("createdAt") or 0, reverse=True)


def find_preview_for_commit(project: VercelProject, sha: str, test_mode: bool = False) -> dict[str, Any] | None:
    """The newest preview built from this commit (with test mode, or without) that is not failed,
    to reuse instead of rebuilding."""
    for deployment in list_deployments(project, **{"meta-githubCommitSha": sha}):
        state = deployment.get("readyState") or deployment.get("state")
        built_with = (deployment.get("meta") or {}).get("jessieTestMode") == "1"
        if deployment.get("target") in (None, "preview") and state not in FAILED and built_with == test_mode:
            return deployment
    return None


PR_ALIAS = "jessie-pr-{number}.vercel.app"  # the default of the repository variable JESSIE_PR_ALIAS


def pr_alias(number: str) -> str:
    """The pull request's own host, from the pattern JESSIE_PR_ALIAS (`{number}` is the PR's)."""
    pattern = os.environ.get("JESSIE_PR_ALIAS", "").strip() or PR_ALIAS
    if "{number}" not in pattern:
        raise MissingConfig(f"JESSIE_PR_ALIAS ({pattern!r}) must contain {{number}}, the pull request's number")
    return pattern.replace("{number}", number).removeprefix("https://").strip("/")


def assign_alias(project: VercelProject, url_or_id: str, host: str) -> None:
    """Vercel's alias API: `host` now serves that deployment (moved from wherever it was)."""
    project.rest().json("POST", f"/v2/deployments/{_host(url_or_id)}/aliases{project.query()}", json={"alias": host})


def remove_alias(project: VercelProject, host: str) -> bool:
    """Whether there was such an alias (it is gone either way)."""
    answer = project.rest().request("DELETE", f"/v2/aliases/{host}{project.query()}")
    if answer.status_code == 404:
        return False
    if answer.status_code >= 400:
        raise DeploymentFailed(f"removing the alias {host} failed: HTTP {answer.status_code} {answer.text[:200]}")
    return True


def current_production(project: VercelProject) -> dict[str, Any] | None:
    """The deployment the Production domain serves now (None before the first promote)."""
    found: dict[str, Any] = project.rest().json("GET", f"/v9/projects/{project.project_id}{project.query()}")
    production: dict[str, Any] | None = (found.get("targets") or {}).get("production")
    return production


def production_domain(deployment: dict[str, Any]) -> str:
    """The domain a promoted deployment answers on (set PRODUCTION_URL to name it yourself)."""
    aliases = deployment.get("alias") or []
    if not aliases:
        raise DeploymentFailed(f"{deployment.get('url')} has no Production domain after the promote")
    return "https://" + _host(str(aliases[0]))


__all__ = ["ApiError", "DeploymentFailed", "MissingConfig", "VercelProject"]
