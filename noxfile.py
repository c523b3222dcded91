"""Every step of local work and of CI is a nox session; GitHub Actions only calls them.

Each session syncs its own locked environment (uv, Python 3.12) with just the dependency
group it needs, then runs one tool.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "tests", "build"]
VERCEL = "node_modules/.bin/vercel"
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


def _python() -> str:
    """Python 3.12 (Vercel's runtime): from PATH, else a pyenv install, never a download."""
    found = shutil.which("python3.12")
    if found and subprocess.run([found, "-c", ""], capture_output=True, check=False).returncode == 0:
        return "3.12"
    installed = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")))
    if installed:
        return installed[-1]
    return "3.12"


PYTHON = _python()


def sync(session: nox.Session, *groups: str) -> None:
    """Install the locked project with only these dependency groups into the session's venv."""
    arguments = ["uv", "sync", "--locked", "--no-default-groups"]
    for group in groups:
        arguments += ["--group", group]
    session.run_install(*arguments, env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location}, silent=True)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (lint + format check) and mypy."""
    sync(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "app", "ci", "sandbox")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Unit and integration tests on real Postgres and the Gmail sandbox."""
    sync(session, "test")
    session.run("pytest", "tests/unit", "tests/integration", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks; the last line printed is one JSON object of figures."""
    sync(session, "test")
    session.run("python", "-m", "bench", *session.posargs)


def vercel_cli(session: nox.Session) -> str:
    """The Vercel CLI pinned in package.json (installed from package-lock.json when missing)."""
    if not Path(VERCEL).exists():
        session.run("npm", "ci", "--no-audit", "--no-fund", external=True)
    return VERCEL


def _real_binary(name: str) -> str:
    """The executable itself, not a pyenv shim (shims follow .python-version files)."""
    found = shutil.which(name) or name
    if "/.pyenv/shims/" in found:
        which = subprocess.run(["pyenv", "which", name], capture_output=True, text=True, check=False)
        if which.returncode == 0:
            return which.stdout.strip()
    return found


def toolchain_env() -> dict[str, str]:
    """`vercel build` looks for uv and Python 3.12 on PATH."""
    python = PYTHON if os.path.isabs(PYTHON) else _real_binary("python3.12")
    path = os.pathsep.join([os.path.dirname(python), os.path.dirname(_real_binary("uv")), os.environ["PATH"]])
    return {"PATH": path, "VERCEL_TELEMETRY_DISABLED": "1"}


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """The real Vercel CLI builds offline; then the Build Output is checked (cron, function, size)."""
    sync(session, "ci")
    session.run("python", "-m", "ci.build_check", "--config-only")
    project = Path(".vercel/project.json")
    if not project.exists():
        project.parent.mkdir(exist_ok=True)
        project.write_text(json.dumps(LOCAL_PROJECT, indent=2))
    arguments = ["build", "--yes", *(["--prod"] if "--prod" in session.posargs else [])]
    # The CLI writes .python-version, which would switch every pyenv shim in this checkout.
    had_python_version = Path(".python-version").exists()
    try:
        session.run(vercel_cli(session), *arguments, external=True, env=toolchain_env())
    finally:
        if not had_python_version:
            Path(".python-version").unlink(missing_ok=True)
    session.run("python", "-m", "ci.build_check")


@nox.session(python=PYTHON)
def dev(session: nox.Session) -> None:
    """Jessie on http://localhost:3000: embedded Postgres, the Gmail sandbox, a local hourly cron."""
    sync(session, "local")
    session.run("python", "-m", "sandbox.local", *session.posargs)
