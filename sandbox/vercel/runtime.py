"""Turning an uploaded prebuilt deployment into a running function, as Vercel's build does.

QUEUED → BUILDING: the uploaded files are written out; the Python dependencies are
installed from the uploaded uv.lock (the CLI does not upload the vendored packages, the
platform installs them); the function is imported once, and a deployment whose function
fails to import ends in ERROR with its log. READY: the function serves HTTPS on the port
its URL names, behind the edge wrapper (Deployment Protection, forwarded headers).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.serving import listening_socket

from .state import Deployment, VercelState

EDGE_SOURCE = Path(__file__).parent / "edge.py"


class BuildFailed(Exception):
    pass


def _uv() -> str:
    """This environment's own uv (a pinned dependency of the local group)."""
    return str(Path(sys.executable).parent / "uv")


@dataclass
class Runtime:
    state: VercelState
    cert: Path
    key: Path
    sockets: dict[str, socket.socket] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _env_lock: threading.Lock = field(default_factory=threading.Lock)

    def reserve_port(self, deployment_id: str) -> int:
        """The deployment's URL is known at creation, so its socket is bound then."""
        sock = listening_socket("127.0.0.1", 0)
        self.sockets[deployment_id] = sock
        return int(sock.getsockname()[1])

    def build_in_background(self, deployment: Deployment) -> None:
        threading.Thread(target=self._build, args=(deployment,), daemon=True, name=f"build-{deployment.id}").start()

    def _log(self, deployment: Deployment, line: str) -> None:
        with self.state.lock:
            deployment.log.append(line.rstrip())

    def _build(self, deployment: Deployment) -> None:
        with self.state.lock:
            deployment.ready_state, deployment.building_at = "BUILDING", self.state.now_ms()
        try:
            directory = self._materialize(deployment)
            config = json.loads((directory / ".vercel" / "output" / "config.json").read_text())
            deployment.crons = list(config.get("crons") or [])
            python = self._environment(deployment, directory)
            env = self._function_env(deployment, directory)
            self._import_check(deployment, python, directory, env)
            self._start(deployment, python, directory, env)
        except (BuildFailed, OSError, ValueError, KeyError) as error:
            with self.state.lock:
                deployment.ready_state, deployment.error_message = "ERROR", str(error).splitlines()[0][:300]
            self._log(deployment, f"Error: {error}")
            sock = self.sockets.pop(deployment.id, None)
            if sock is not None:
                sock.close()
            return
        with self.state.lock:
            deployment.ready_state, deployment.ready_at = "READY", self.state.now_ms()
            if deployment.target == "production":
                self.state.production_id = deployment.id  # production deployments are promoted when ready
        self._log(deployment, "Deployment completed")

    def _materialize(self, deployment: Deployment) -> Path:
        directory = self.state.root / "deployments" / deployment.id
        for entry in deployment.files:
            target = directory / entry["file"]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.state.files[entry["sha"]], target)
            target.chmod(entry.get("mode", 0o100644) & 0o777)
        self._log(deployment, f"Retrieved {len(deployment.files)} files")
        return directory

    def _environment(self, deployment: Deployment, directory: Path) -> Path:
        """A virtualenv from the uploaded uv.lock, shared by deployments with the same lock."""
        lock = (directory / "uv.lock").read_bytes() + (directory / "pyproject.toml").read_bytes()
        venv = self.state.root / "environments" / hashlib.sha256(lock).hexdigest()[:16]
        python = venv / "bin" / "python"
        with self._env_lock:
            if python.exists():
                self._log(deployment, "Using the cached dependencies of this uv.lock")
                return python
            self._log(deployment, "Installing dependencies from uv.lock")
            uv = _uv()
            uvicorn = importlib.metadata.version("uvicorn")
            steps = [
                [uv, "venv", "--quiet", "-p", sys.executable, str(venv)],
                [uv, "sync", "--frozen", "--no-dev", "--no-default-groups", "--no-install-project", "--quiet"],
                [uv, "pip", "install", "--quiet", "--python", str(python), f"uvicorn=={uvicorn}"],
            ]
            for step in steps:
                done = subprocess.run(
                    step,
                    cwd=directory,
                    capture_output=True,
                    text=True,
                    check=False,
                    env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)},
                )
                if done.returncode != 0:
                    shutil.rmtree(venv, ignore_errors=True)
                    raise BuildFailed(f"installing dependencies failed: {done.stderr.strip()[-500:]}")
        return python

    def _function_env(self, deployment: Deployment, directory: Path) -> dict[str, str]:
        target = deployment.target or "preview"
        return {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", str(self.state.root)),
            **self.state.env.get(target, {}),
            **deployment.env,
            "VERCEL": "1",
            "VERCEL_ENV": target,
            "VERCEL_URL": deployment.url,
            "VERCEL_DEPLOYMENT_ID": deployment.id,
            "PYTHONPATH": str(directory),
            "PYTHONDONTWRITEBYTECODE": "1",
            "JESSIE_EDGE_APP": "api.index:app",
            "JESSIE_EDGE_BYPASS_SECRET": self.state.protection_bypass,
            "JESSIE_EDGE_OPEN_HOSTS": self.state.alias_host,
        }

    def _import_check(self, deployment: Deployment, python: Path, directory: Path, env: dict[str, str]) -> None:
        shutil.copyfile(EDGE_SOURCE, directory / "_vercel_edge.py")
        done = subprocess.run(
            [str(python), "-c", "import api.index"],
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        for line in (done.stdout + done.stderr).splitlines()[-40:]:
            self._log(deployment, line)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise BuildFailed(f"the function failed to import: {last}")

    def _start(self, deployment: Deployment, python: Path, directory: Path, env: dict[str, str]) -> None:
        sock = self.sockets.pop(deployment.id)
        log = (directory / "function.log").open("ab")
        command = [
            str(python),
            "-m",
            "uvicorn",
            "_vercel_edge:app",
            "--fd",
            str(sock.fileno()),
            "--ssl-keyfile",
            str(self.key),
            "--ssl-certfile",
            str(self.cert),
            "--log-level",
            "warning",
        ]
        self.processes[deployment.id] = subprocess.Popen(
            command, cwd=directory, env=env, pass_fds=[sock.fileno()], stdout=log, stderr=log
        )
        sock.close()  # the function holds it now; connections queue until it serves

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        for sock in self.sockets.values():
            sock.close()
