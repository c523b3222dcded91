"""Every step of local work and of CI is a nox session; GitHub Actions only calls them.

Each session syncs its own locked environment (uv, Python 3.12) with just the dependency
groups it needs, then runs one tool. Plain `nox` is the whole test suite.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "tests", "build", "workflows", "e2e", "pipeline"]
E2E_OUTPUT = "test-results/e2e"
TESTS = Path(__file__).parent.resolve() / "tests"


def _python() -> str:
    """Python 3.12 (Vercel's runtime): from PATH, else a pyenv install, never a download; without
    one, nox stops here with a line saying what to install."""
    found = shutil.which("python3.12")
    if found and subprocess.run([found, "-c", ""], capture_output=True, check=False).returncode == 0:
        return "3.12"
    installed = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")))
    if not installed:
        sys.exit("nox: Jessie needs Python 3.12 (Vercel's runtime): put python3.12 on PATH or `pyenv install 3.12`")
    return installed[-1]


PYTHON = _python()


def sync(session: nox.Session, *groups: str) -> None:
    """Install the locked project with only these dependency groups into the session's venv."""
    arguments = ["uv", "sync", "--locked", "--no-default-groups"]
    for group in groups:
        arguments += ["--group", group]
    session.run_install(*arguments, env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location}, silent=True)


def _tests(session: nox.Session, *folders: str) -> list[str]:
    """What pytest runs: the tests the arguments name (`-- tests/unit/test_x.py`, `tests/…::name`)
    alone, else the session's own folders, and the other arguments as given."""
    named = any(Path(arg.split("::")[0]).resolve().is_relative_to(TESTS) for arg in session.posargs)
    return [*([] if named else folders), *session.posargs]


def ci_deploy(session: nox.Session, *command: str) -> None:
    """`python -m ci.deploy COMMAND ARGS` with the ci group (it installs the pinned Vercel CLI
    from package-lock.json the first time it needs it)."""
    sync(session, "ci")
    session.run("python", "-m", "ci.deploy", *command, *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (lint + format check) and mypy."""
    sync(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "app", "ci", "sandbox", "tests", "bench", "noxfile.py")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Unit and integration tests on real Postgres and the Gmail sandbox."""
    sync(session, "test")
    session.run("pytest", *_tests(session, "tests/unit", "tests/integration"))


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """The real Vercel CLI builds offline (`-- --prod` for Production); then the Build Output is
    checked: cron, function, completeness (it imports from its own files alone), size."""
    sync(session, "ci")
    session.run("python", "-m", "ci.build_check", "--config-only")
    session.run("python", "-m", "ci.deploy", "build", *session.posargs)


@nox.session(python=PYTHON)
def workflows(session: nox.Session) -> None:
    """GitHub workflows: check-jsonschema's workflow schema, then zizmor (offline)."""
    sync(session, "workflows")
    files = sorted(glob.glob(".github/workflows/*.yml"))
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *files)
    session.run("zizmor", "--offline", "--min-severity", "informational", ".github/workflows")


@nox.session(python=PYTHON)
def e2e(session: nox.Session) -> None:
    """Playwright against `--base-url URL`, or against a local app + sandbox it starts itself.

    Uses the system Chromium when there is one, else Playwright's own download. JUnit XML,
    the HTML report and each failure's screenshot and trace land in test-results/e2e.
    """
    sync(session, "e2e")
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        session.run("playwright", "install", "chromium")
    Path(E2E_OUTPUT).mkdir(parents=True, exist_ok=True)
    session.run(
        "pytest",
        f"--junitxml={E2E_OUTPUT}/junit.xml",
        f"--html={E2E_OUTPUT}/report.html",
        "--self-contained-html",
        f"--output={E2E_OUTPUT}/failures",
        "--tracing=retain-on-failure",
        "--screenshot=only-on-failure",
        *_tests(session, "tests/e2e"),
    )


@nox.session(python=PYTHON)
def pipeline(session: nox.Session) -> None:
    """The whole Git flow offline: the workflow files run in act (a GitHub Actions engine)
    against a local Vercel and GitHub (push → Preview, PR → Playwright on it, merge →
    Production → cron)."""
    sync(session, "pipeline")
    session.run("pytest", *_tests(session, "tests/pipeline"))


@nox.session(python=PYTHON)
def rehearse(session: nox.Session) -> None:
    """`nox -s rehearse -- pr | merge | ci`: this checkout's workflows in act against the local
    stand-ins, before pushing; results printed, logs and artifacts in test-results/rehearsal."""
    sync(session, "pipeline")
    session.run("python", "-m", "tests.pipeline.rehearse", *session.posargs)


@nox.session(python=PYTHON)
def report(session: nox.Session) -> None:
    """The e2e JUnit results as Markdown: job summary and (with --comment) the sticky PR comment."""
    sync(session, "ci")
    session.run("python", "-m", "ci.report", f"{E2E_OUTPUT}/junit.xml", *session.posargs)


@nox.session(python=PYTHON)
def migrate(session: nox.Session) -> None:
    """`nox -s migrate -- preview|production`: that environment's database migrated by the Supabase CLI
    (a Preview's: its branch's own, created when it is new)."""
    ci_deploy(session, "migrate")


@nox.session(python=PYTHON)
def deploy(session: nox.Session) -> None:
    """`nox -s deploy -- preview [--reuse]` or `-- production` (not yet on the domain):
    build, check, deploy, wait until READY."""
    ci_deploy(session)


@nox.session(python=PYTHON)
def promote(session: nox.Session) -> None:
    """`nox -s promote -- URL`: that deployment takes the Production domain."""
    ci_deploy(session, "promote")


@nox.session(python=PYTHON)
def rollback(session: nox.Session) -> None:
    """`nox -s rollback -- --to URL`: the Production domain back to an earlier deployment."""
    ci_deploy(session, "rollback")


@nox.session(python=PYTHON)
def alias(session: nox.Session) -> None:
    """`nox -s alias -- URL`: the pull request's own address (JESSIE_PR_ALIAS) moved to that Preview."""
    ci_deploy(session, "alias")


@nox.session(python=PYTHON)
def close(session: nox.Session) -> None:
    """A pull request closed: its branch's Preview database dropped, its own address removed."""
    ci_deploy(session, "close")


@nox.session(python=PYTHON)
def dev(session: nox.Session) -> None:
    """Jessie on http://localhost:3000: embedded Postgres, the Gmail sandbox, a local hourly cron."""
    sync(session, "local")
    project_environment(session)
    session.run("python", "-m", "sandbox.local", *session.posargs)


def project_environment(session: nox.Session) -> None:
    """`.venv`, on the Python 3.12 found above, for the README's `uv run jessie …`: uv does not look
    in pyenv, and without a project environment it would download a Python instead (`uv run`
    installs the project into it on first use)."""
    if not Path(".venv").exists():
        session.run_install("uv", "venv", "--quiet", "--python", PYTHON, ".venv", silent=True)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks; the last line printed is one JSON object of figures."""
    sync(session, "test")
    session.run("python", "-m", "bench", *session.posargs)


@nox.session(python=PYTHON)
def cron(session: nox.Session) -> None:
    """`nox -s cron -- https://production`: one hourly cron call (for Vercel Hobby plans)."""
    sync(session, "ci")
    session.run("python", "-m", "ci.cron", *session.posargs)
