"""Every step of local work and of CI is a nox session; GitHub Actions only calls them.

Each session syncs its own locked environment (uv, Python 3.12) with just the dependency
group it needs, then runs one tool.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "tests"]


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
