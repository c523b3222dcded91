"""The pipeline's deployment steps, one command each (nox sessions call them):

    python -m ci.deploy preview [--reuse]   build and deploy a Preview (or reuse the commit's)
    python -m ci.deploy production          build and deploy Production
    python -m ci.deploy rollback [--from URL]  back to the previous Production deployment
    python -m ci.deploy migrate ENVIRONMENT  apply migrations with that environment's database

Each prints one line per fact, writes the deployment URL to $GITHUB_OUTPUT, and fails
with one line that says what to fix.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from dotenv import dotenv_values

from ci import build_check, github, plans, vercel
from ci.http import ApiError
from ci.vercel import DeploymentFailed, MissingConfig, VercelProject


def _commit() -> tuple[str, str, str]:
    """(sha, branch, pr number) of what is deployed: a PR's head, not its merge commit."""
    pull_request = github.event().get("pull_request") or {}
    head = pull_request.get("head") or {}
    sha = head.get("sha") or os.environ.get("GITHUB_SHA", "")
    branch = head.get("ref") or os.environ.get("GITHUB_REF_NAME", "")
    return sha, branch, str(pull_request.get("number") or "")


def _announce(url: str, environment: str, sha: str, reused: bool = False) -> None:
    print(url)
    github.write_output("url", url)
    note = " (reused: already built for this commit)" if reused else ""
    github.write_summary(f"### {environment} deployment\n\n{url}{note}\n\ncommit `{sha[:12]}`\n")
    if os.environ.get("GITHUB_TOKEN") and os.environ.get("GITHUB_REPOSITORY") and sha:
        try:
            run_url = f"{os.environ.get('GITHUB_SERVER_URL', '')}/{os.environ['GITHUB_REPOSITORY']}/actions/runs/"
            log_url = run_url + os.environ["GITHUB_RUN_ID"] if os.environ.get("GITHUB_RUN_ID") else None
            github.record_deployment(github.Repository.from_env(), sha, environment, url, log_url)
        except ApiError as error:  # the deployment exists; only its GitHub mirror failed
            print(f"warning: could not record the GitHub deployment: {error}", file=sys.stderr)


def deploy(environment: str, reuse: bool) -> int:
    reason = github.skip_reason()
    if reason:
        print(f"skipped: {reason}")
        github.write_summary(f"### {environment.title()} deployment skipped\n\n{reason}\n")
        github.write_output("url", "")
        return 0
    project = VercelProject.from_env()
    production = environment == "production"
    sha, branch, pr = _commit()
    if reuse and not production:
        existing = vercel.find_preview_for_commit(project, sha)
        if existing:
            ready = vercel.wait_until_ready(project, existing["url"])
            _announce("https://" + ready["url"], "Preview", sha, reused=True)
            return 0
    meta = {"githubCommitSha": sha, "githubCommitRef": branch, "githubPrId": pr}
    with vercel.python_version_file():
        vercel.pull(project, environment)
        _build_and_check(project, production)
        # CLI deployments get no VERCEL_GIT_COMMIT_SHA from Vercel: the app reads this instead.
        url = vercel.deploy(project, production, meta, env={"JESSIE_COMMIT_SHA": sha})
    vercel.wait_until_ready(project, url)
    _announce(url, "Production" if production else "Preview", sha)
    return 0


def rollback(current: str | None) -> int:
    project = VercelProject.from_env()
    target = vercel.previous_production(project, current)
    vercel.rollback_to(project, "https://" + target["url"])
    message = f"rolled Production back to https://{target['url']}"
    print(message)
    github.write_summary(f"### ⏪ Rollback\n\n{message}\n")
    return 0


def migrate(environment: str) -> int:
    """Migrations run with the database settings Vercel holds for that environment."""
    reason = github.skip_reason()
    if reason:
        print(f"skipped: {reason}")
        return 0
    project = VercelProject.from_env()
    vercel.pull(project, environment)
    values = dotenv_values(f".vercel/.env.{environment}.local")
    url = values.get("DATABASE_URL") or values.get("POSTGRES_URL_NON_POOLING") or values.get("POSTGRES_URL")
    if not url:
        raise MissingConfig(f"the {environment} environment on Vercel has no DATABASE_URL (or POSTGRES_URL)")
    env = {**os.environ, "DATABASE_URL": url, "VERCEL_ENV": environment}
    return subprocess.run([sys.executable, "-m", "app.cli", "migrate"], env=env, check=False).returncode


def _build_and_check(project: VercelProject | None, production: bool) -> None:
    """`vercel build`, then the Build Output check: nothing incomplete is ever uploaded."""
    plan = plans.plan_from_env()
    vercel.build(project, production, plan)
    try:
        report = build_check.check_output(Path.cwd(), plan)
    except build_check.BuildCheckError as error:
        raise DeploymentFailed(f"the build output is not deployable: {error}") from None
    for line in report.lines():
        print(line)


def build_locally(production: bool) -> int:
    """`vercel build` of an unlinked checkout, offline, and its check (`nox -s build`)."""
    vercel.ensure_project_settings()
    with vercel.python_version_file():
        _build_and_check(None, production)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ci.deploy")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build locally, offline").add_argument("--prod", action="store_true")
    for name in ("preview", "production"):
        command = commands.add_parser(name)
        command.add_argument("--reuse", action="store_true", help="reuse this commit's preview if there is one")
    commands.add_parser("rollback").add_argument("--from", dest="current", help="the failing deployment's URL")
    commands.add_parser("migrate").add_argument("environment", choices=["preview", "production"])
    args = parser.parse_args(argv)
    try:
        if args.command in ("preview", "production"):
            return deploy(args.command, args.reuse)
        if args.command == "build":
            return build_locally(args.prod)
        if args.command == "rollback":
            return rollback(args.current)
        return migrate(args.environment)
    except (MissingConfig, DeploymentFailed, ApiError, plans.UnknownPlan) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
