"""Building with the pinned CLI, deploying to the local Vercel, and calling what it serves."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import requests

from ci import plans
from ci import vercel as ci_vercel
from sandbox.vercel.server import LocalVercel
from tests.checkout import copy_checkout

TINY = Path(__file__).parent / "tiny_function"


def build_tiny(
    tmp: Path,
    *,
    index_prefix: str = "",
    vercelignore: str | None = None,
    hourly_cron_on: str | None = None,
    production: bool = False,
) -> Path:
    """The tiny function, built offline by the pinned CLI into `tmp` (with the hourly cron
    of vercel.json as `ci/plans.py` turns it for the plan `hourly_cron_on`, if given)."""
    project = tmp / "project"
    shutil.copytree(TINY, project)
    if hourly_cron_on is not None:
        config = json.loads((project / "vercel.json").read_text())
        config["crons"] = [plans.cron_for("pro")]
        (project / "vercel.json").write_text(json.dumps(config))
    if index_prefix:
        index = project / "api" / "index.py"
        index.write_text(index_prefix + index.read_text())
    if vercelignore is not None:
        (project / ".vercelignore").write_text(vercelignore)
    with plans.vercel_json_for(hourly_cron_on or "pro", project):
        _cli_build(project, production)
    return project


def _cli_build(project: Path, production: bool) -> None:
    """`vercel build` offline in `project` (unlinked: a local project.json)."""
    ci_vercel.ensure_project_settings(project)
    done = subprocess.run(
        [ci_vercel.CLI, "build", "--yes", *(["--prod"] if production else [])],
        cwd=project,
        env=ci_vercel.cli_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def build_app(tmp: Path, max_duration_s: int) -> Path:
    """Jessie itself, built for Production by the pinned CLI from a copy of this checkout, with
    its function's maxDuration set to `max_duration_s` (as vercel.json would set it)."""
    project = tmp / "jessie"
    copy_checkout(project)
    _cli_build(project, production=True)
    config_path = project / ".vercel/output/functions/api/index.func/.vc-config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "maxDuration": max_duration_s}))
    return project


def upload(vercel: LocalVercel, project: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """`vercel deploy --prebuilt` to the local Vercel, as the CLI answered."""
    target = ci_vercel.VercelProject(vercel.state.token, vercel.state.team["id"], vercel.state.project_id, vercel.url)
    return subprocess.run(
        [ci_vercel.CLI, "deploy", "--prebuilt", "--yes", "--no-wait", *flags, *target.cli_flags()],
        cwd=project,
        env=ci_vercel.cli_environment(target),
        capture_output=True,
        text=True,
        check=False,
    )


def deploy(vercel: LocalVercel, project: Path, *flags: str) -> str:
    """`vercel deploy --prebuilt`, then READY; returns the deployment URL."""
    target = ci_vercel.VercelProject(vercel.state.token, vercel.state.team["id"], vercel.state.project_id, vercel.url)
    done = upload(vercel, project, *flags)
    assert done.returncode == 0, done.stderr[-2000:]
    url = ci_vercel.parse_deployment_url(done.stdout)
    ci_vercel.wait_until_ready(target, url, poll_s=0.2)
    return url


class Client:
    def __init__(self, vercel: LocalVercel) -> None:
        self.vercel = vercel
        self.session = requests.Session()
        self.session.verify = str(vercel.ca)
        self.session.trust_env = False

    def get(self, url: str, bypass: bool = True, **kwargs: Any) -> requests.Response:
        headers = {"x-vercel-protection-bypass": self.vercel.state.protection_bypass} if bypass else {}
        headers |= kwargs.pop("headers", {})
        return self.session.get(url, headers=headers, timeout=60, **kwargs)

    def post(self, url: str, data: bytes) -> requests.Response:
        headers = {"x-vercel-protection-bypass": self.vercel.state.protection_bypass}
        return self.session.post(url, data=data, headers=headers, timeout=60)

    def logs(self, url: str) -> list[dict[str, Any]]:
        deployment = self.vercel.state.find(url)
        assert deployment is not None
        entries: list[dict[str, Any]] = requests.get(f"{self.vercel.url}/_sandbox/logs", timeout=10).json()["logs"]
        return [entry for entry in entries if entry["deploymentId"] == deployment.id]
