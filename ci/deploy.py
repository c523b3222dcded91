"""The pipeline's deployment steps, one command each (nox sessions call them):

    python -m ci.deploy preview [--reuse]   build and deploy a Preview (or reuse the commit's)
    python -m ci.deploy production          build and deploy Production, not yet on the domain
    python -m ci.deploy promote URL         give that deployment the Production domain
    python -m ci.deploy rollback --to URL   give the domain back to an earlier deployment
    python -m ci.deploy migrate ENVIRONMENT  apply migrations to that environment's database (Supabase CLI)
    python -m ci.deploy build [--prod]      build locally, offline (`nox -s build`)

Production is deployed with `--skip-domain`: Vercel marks a deployment READY whether or
not its function imports, so the smoke suite runs against the deployment URL first, and
only a deployment that passed it is promoted. Promoting is always explicit, so a deploy
after a rollback (which turns Vercel's automatic assignment off) reaches the domain too.

Each prints one line per fact, writes its URL to $GITHUB_OUTPUT, and fails with one line
that says what to fix.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dotenv import dotenv_values

from app.db.connection import clean_url
from app.db.migrate import MigrationError
from ci import build_check, github, plans, supabase, vercel
from ci.http import ApiError
from ci.vercel import DeploymentFailed, MissingConfig, VercelProject


def _commit() -> tuple[str, str, str]:
    """(sha, branch, pr number) of what is deployed: a PR's head, not its merge commit."""
    pull_request = github.event().get("pull_request") or {}
    head = pull_request.get("head") or {}
    sha = head.get("sha") or os.environ.get("GITHUB_SHA", "")
    branch = head.get("ref") or os.environ.get("GITHUB_REF_NAME", "")
    return sha, branch, str(pull_request.get("number") or "")


def _announce(url: str, environment: str, sha: str, note: str = "", record: bool = True) -> None:
    print(url)
    github.write_output("url", url)
    github.write_summary(f"### {environment} deployment\n\n{url}{note}\n\ncommit `{sha[:12]}`\n")
    if record and os.environ.get("GITHUB_TOKEN") and os.environ.get("GITHUB_REPOSITORY") and sha:
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
            _announce("https://" + ready["url"], "Preview", sha, " (reused: already built for this commit)")
            return 0
    meta = {"githubCommitSha": sha, "githubCommitRef": branch, "githubPrId": pr}
    with vercel.python_version_file():
        vercel.pull(project, environment)
        _build_and_check(project, production)
        # CLI deployments get no VERCEL_GIT_COMMIT_SHA from Vercel: the app reads this instead.
        url = vercel.deploy(project, production, meta, env={"JESSIE_COMMIT_SHA": sha})
    vercel.wait_until_ready(project, url)
    if production:
        _announce(url, "Production", sha, " (not on the Production domain until it passes the smoke)", record=False)
    else:
        _announce(url, "Preview", sha)
    return 0


def promote(url: str) -> int:
    """Give `url` the Production domain; `previous` names what served it before (for rollback)."""
    project = VercelProject.from_env()
    previous = vercel.current_production(project)
    github.write_output("previous", "https://" + previous["url"] if previous else "")
    deployment = vercel.promote(project, url)
    domain = os.environ.get("PRODUCTION_URL") or vercel.production_domain(deployment)
    sha = (deployment.get("meta") or {}).get("githubCommitSha", "")
    _announce(domain, "Production", sha, f" now serves {url}")
    return 0


def rollback(to: str) -> int:
    if not to:
        raise DeploymentFailed("no earlier Production deployment to roll back to: this was the first")
    project = VercelProject.from_env()
    vercel.rollback_to(project, to)
    message = f"rolled Production back to {to}"
    print(message)
    github.write_summary(f"### ⏪ Rollback\n\n{message}\n")
    return 0


UNREADABLE = ("", "[SENSITIVE]")  # what `vercel pull` writes for a Sensitive variable


def migration_database(environment: str, pulled: dict[str, str | None]) -> str:
    """The URL migrations use: the workflow's DATABASE_URL secret, else what Vercel returned.

    Vercel keeps Production and Preview variables Sensitive by default, and `vercel pull`
    gets those back empty: such a value is missing, and the message says what to do.
    """
    given = os.environ.get("DATABASE_URL", "").strip()
    if given:
        return given
    names = ("DATABASE_URL", "POSTGRES_URL_NON_POOLING", "POSTGRES_URL")
    for name in names:
        value = (pulled.get(name) or "").strip()
        if value not in UNREADABLE:
            return value
    secret = f"{environment.upper()}_DATABASE_URL"
    if any(name in pulled for name in names):
        raise MissingConfig(
            f"the {environment} DATABASE_URL on Vercel is a Sensitive variable, which `vercel pull` cannot "
            f"read back: store the same URL as the GitHub secret {secret} (the workflow passes it as DATABASE_URL)"
        )
    raise MissingConfig(
        f"the {environment} environment on Vercel has no DATABASE_URL (or POSTGRES_URL): set it there, "
        f"and as the GitHub secret {secret}"
    )


def migrate(environment: str) -> int:
    """Migrations against that environment's database, applied by the pinned Supabase CLI."""
    reason = github.skip_reason()
    if reason:
        print(f"skipped: {reason}")
        return 0
    pulled: dict[str, str | None] = {}
    if not os.environ.get("DATABASE_URL", "").strip():
        project = VercelProject.from_env()
        vercel.pull(project, environment)
        pulled = dict(dotenv_values(f".vercel/.env.{environment}.local"))
    applied = supabase.push(clean_url(migration_database(environment, pulled)))
    print(f"applied {len(applied)} migration(s) with the Supabase CLI{': ' + ', '.join(applied) if applied else ''}")
    return 0


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
    commands.add_parser("promote").add_argument("url", help="the deployment that passed the smoke")
    commands.add_parser("rollback").add_argument("--to", required=True, help="the deployment to serve again")
    commands.add_parser("migrate").add_argument("environment", choices=["preview", "production"])
    args = parser.parse_args(argv)
    try:
        if args.command in ("preview", "production"):
            return deploy(args.command, args.reuse)
        if args.command == "build":
            return build_locally(args.prod)
        if args.command == "promote":
            return promote(args.url)
        if args.command == "rollback":
            return rollback(args.to)
        return migrate(args.environment)
    except (MissingConfig, DeploymentFailed, ApiError, plans.UnknownPlan, MigrationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
