"""Building with the pinned CLI, deploying to the local Vercel, and calling what it serves."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from cryptography.fernet import Fernet

from app.config import CRON_PATH
from app.data.accounts import connect_account
from app.security import TokenCipher
from app.sync import fanout
from ci import build_check, plans
from ci import test_mode as ci_test_mode
from ci import vercel as ci_vercel
from sandbox.gmail import environment_for
from sandbox.gmail.server import SandboxServer
from sandbox.gmail.state import SandboxState
from sandbox.vercel.server import LocalVercel
from tests.checkout import copy_checkout
from tests.conftest import Sandbox
from tests.integration.sync_helpers import until

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


def build_app(
    tmp: Path,
    max_duration_s: int,
    *,
    production: bool = True,
    test_mode: bool = False,
    queue_trigger: dict[str, Any] | None = None,
) -> Path:
    """Jessie itself, built by the pinned CLI from a copy of this checkout (for Production, or a
    Preview with test mode's Gmail stand-in, as ci/deploy.py builds them, checked), with its
    functions' maxDuration set to `max_duration_s` and the queue consumer's trigger updated with
    `queue_trigger` (as vercel.json would set them)."""
    project = tmp / "jessie"
    copy_checkout(project)
    _cli_build(project, production)
    if test_mode:  # and the build check ci/deploy.py runs, which imports it from the function's files
        ci_test_mode.add_stand_in(project)
        assert build_check.check_output(project).stand_in
    for config_path in (project / ".vercel/output/functions").rglob(".vc-config.json"):
        config = json.loads(config_path.read_text())
        config["maxDuration"] = max_duration_s
        if "experimentalTriggers" in config:
            config["experimentalTriggers"] = [{**t, **(queue_trigger or {})} for t in config["experimentalTriggers"]]
        config_path.write_text(json.dumps(config))
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
        """The deployment's log entries, once every answered invocation has ended (its lines go
        to the log when it ends, after the answer)."""
        self.vercel.runtime.settle()
        deployment = self.vercel.state.find(url)
        assert deployment is not None
        entries: list[dict[str, Any]] = requests.get(f"{self.vercel.url}/_sandbox/logs", timeout=10).json()["logs"]
        return [entry for entry in entries if entry["deploymentId"] == deployment.id]


@dataclass
class DeployedJessie:
    """Jessie's Production deployment on the local Vercel, with its own database and Gmail sandbox."""

    vercel: LocalVercel
    client: Client
    sandbox: Sandbox
    database_url: str
    env: dict[str, str]

    @property
    def deployment_id(self) -> str | None:
        """The deployment Production serves."""
        return self.vercel.state.production_id

    @property
    def domain(self) -> str:
        return self.vercel.production_url

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.vercel.state.token}"}
        return requests.request(method, f"{self.vercel.url}{path}", headers=headers, timeout=120, **kwargs)

    def cron(self) -> requests.Response:
        secret = {"Authorization": f"Bearer {self.env['CRON_SECRET']}"}
        return self.client.get(self.domain + CRON_PATH, bypass=False, headers=secret)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(sql, params).fetchall()

    def deploy(
        self, tmp_factory: pytest.TempPathFactory, max_duration_s: int, queue_trigger: dict[str, Any] | None = None
    ) -> None:
        """Jessie built by the pinned CLI with `max_duration_s` (and `queue_trigger`), deployed to
        Production with `env`."""
        answer = requests.put(f"{self.vercel.url}/_sandbox/env", json={"production": self.env}, timeout=10)
        answer.raise_for_status()
        deploy(self.vercel, build_app(tmp_factory.mktemp("app"), max_duration_s, queue_trigger=queue_trigger), "--prod")

    def queue_messages(self) -> list[dict[str, Any]]:
        """The sweep topic's messages, as the local Vercel's queue holds them."""
        queues = self.vercel.runtime.queues
        return self.vercel.runtime.on_loop(lambda: queues.messages(fanout.TOPIC))

    def settle_queue(self, timeout_s: float) -> None:
        """Until the queue has nothing left to deliver and no run is alive: the seats' invocations
        go on after the cron's has answered."""
        runtime = self.vercel.runtime

        def settled() -> bool:
            idle = runtime.on_loop(lambda: runtime.queues.delivering() == 0)
            done = all(message["done"] for message in self.queue_messages())
            running = self.query("select count(*) from jessie.sync_runs where status = 'running'")
            return idle and done and running == [(0,)]

        until(settled, "the queue and every run to finish", timeout_s=timeout_s)

    def connect_account(self, email: str, refresh_token: str) -> None:
        with psycopg.connect(self.database_url) as conn:
            connect_account(conn, TokenCipher([self.env["JESSIE_ENCRYPTION_KEY"]]), email, refresh_token)


@contextmanager
def deployed_jessie(
    admin_url: str, template: str, tmp_factory: pytest.TempPathFactory, env: dict[str, str], **vercel_options: Any
) -> Iterator[DeployedJessie]:
    """A fresh database (from the migrated template), a Gmail sandbox and the local Vercel, with
    the environment a Production deployment of Jessie needs (`env` added); `deploy()` ships it."""
    name = f"deployed_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"create database {name} template {template}")
    database_url = psycopg.conninfo.make_conninfo(admin_url, dbname=name)
    with ExitStack() as running:
        running.callback(_drop_database, admin_url, name)
        sandbox = Sandbox(running.enter_context(SandboxServer(SandboxState(seed=4))))
        vercel = running.enter_context(LocalVercel(tmp_factory.mktemp("vercel"), **vercel_options))
        full_env = {
            "DATABASE_URL": database_url,
            **environment_for(sandbox.url),
            "CRON_SECRET": "cron-" + uuid.uuid4().hex + uuid.uuid4().hex,
            "JESSIE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "SESSION_SECRET": uuid.uuid4().hex * 2,
            **env,
        }
        yield DeployedJessie(vercel, Client(vercel), sandbox, database_url, full_env)


def _drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"drop database {name} with (force)")
