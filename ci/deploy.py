"""The pipeline's deployment steps, one command each (nox sessions call them):

    python -m ci.deploy preview [--reuse]   build and deploy a Preview (or reuse the commit's)
    python -m ci.deploy production          build and deploy Production, not yet on the domain
    python -m ci.deploy promote URL         give that deployment the Production domain
    python -m ci.deploy rollback --to URL   give the domain back to an earlier deployment
    python -m ci.deploy migrate ENVIRONMENT  apply migrations to that environment's database (Supabase CLI;
                                             a Preview's: its branch's own, ci/preview_db.py)
    python -m ci.deploy alias URL           the pull request's own address moved to that Preview
    python -m ci.deploy close               a pull request closed: its branch's database and address go
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

from app.db.connection import clean_url
from app.db.migrate import MigrationError
from ci import build_check, github, plans, preview_db, supabase, test_mode, vercel
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
    test = not production and test_mode.wanted()
    sha, branch, pr = _commit()
    # The meta finds a Preview again; one is reused only if it was built the same way.
    meta = {"githubCommitSha": sha, "githubCommitRef": branch, "githubPrId": pr, "jessieTestMode": "1" if test else ""}
    if reuse and not production:
        existing = vercel.find_preview_for_commit(project, sha, test_mode=test)
        if existing:
            ready = vercel.wait_until_ready(project, existing["url"])
            _announce("https://" + ready["url"], "Preview", sha, " (reused: already built for this commit)")
            return 0
    with vercel.python_version_file():
        pulled = vercel.pull_env(project, environment)
        # CLI deployments get no VERCEL_GIT_COMMIT_SHA from Vercel: the app reads this instead.
        env = {"JESSIE_COMMIT_SHA": sha}
        if not production:  # the branch's own database (ci/preview_db.py), and test mode unless turned off
            env["DATABASE_URL"] = _branch_database(pulled, branch)
            env |= {"JESSIE_TEST_MODE": "1"} if test else {}
        _build_and_check(project, production, test)
        url = vercel.deploy(project, production, meta, env=env)
    vercel.wait_until_ready(project, url)
    if production:
        _announce(url, "Production", sha, " (not on the Production domain until it passes the smoke)", record=False)
    else:
        mode = " with test mode (its own Gmail stand-in)" if test else ""
        _announce(url, "Preview", sha, f" on the branch's own database{mode}")
    return 0


def _branch_database(pulled: dict[str, str | None], branch: str) -> str:
    url = preview_db.url_for(migration_database("preview", pulled), branch)
    github.add_mask(url)
    return url


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
    """Migrations against that environment's database (a Preview's: its branch's own), applied by
    the pinned Supabase CLI."""
    reason = github.skip_reason()
    if reason:
        print(f"skipped: {reason}")
        return 0
    pulled: dict[str, str | None] = {}
    if not os.environ.get("DATABASE_URL", "").strip():
        pulled = vercel.pull_env(VercelProject.from_env(), environment)
    url = clean_url(migration_database(environment, pulled))
    if environment == "preview":
        server, branch = url, _commit()[1]
        url, created = preview_db.ensure(server, branch)
        github.add_mask(url)
        print(f"the branch's database: {preview_db.name_for(branch)}" + (" (created now)" if created else ""))
        try:
            applied = supabase.push(url)
        except MigrationError as error:  # a migration of the branch changed since: start again
            print(f"rebuilding the branch's database: {error}")
            preview_db.drop(server, branch)
            url, _ = preview_db.ensure(server, branch)
            applied = supabase.push(url)
    else:
        applied = supabase.push(url)
    print(f"applied {len(applied)} migration(s) with the Supabase CLI{': ' + ', '.join(applied) if applied else ''}")
    return 0


def alias(url: str) -> int:
    """The pull request's own address (JESSIE_PR_ALIAS, `{number}` in it) moved to this Preview."""
    reason = github.skip_reason()
    if reason or not url:
        print(f"skipped: {reason or 'no Preview to point at'}")
        github.write_output("url", "")
        return 0
    number = str((github.event().get("pull_request") or {}).get("number") or os.environ.get("PR_NUMBER") or "")
    if not number:
        raise MissingConfig("no pull request number: the alias names the pull request (run it from pr.yml)")
    host = vercel.pr_alias(number)
    vercel.assign_alias(VercelProject.from_env(), url, host)
    print(f"https://{host} now serves {url}")
    github.write_output("url", f"https://{host}")
    github.write_summary(f"### The pull request's address\n\nhttps://{host} → {url}\n")
    return 0


def close() -> int:
    """A pull request closed or merged: its branch's database dropped, its address removed."""
    reason = github.skip_reason()
    if reason:
        print(f"skipped: {reason}")
        return 0
    pull_request = github.event().get("pull_request") or {}
    branch, number = (pull_request.get("head") or {}).get("ref", ""), str(pull_request.get("number") or "")
    if not branch or not number:
        raise MissingConfig("no pull request in the event: `close` runs from pr-closed.yml")
    dropped = preview_db.drop(clean_url(migration_database("preview", {})), branch)
    removed = vercel.remove_alias(VercelProject.from_env(), vercel.pr_alias(number))
    lines = [
        f"database {preview_db.name_for(branch)}: {'dropped' if dropped else 'there was none'}",
        f"address https://{vercel.pr_alias(number)}: {'removed' if removed else 'there was none'}",
    ]
    print("\n".join(lines))
    github.write_summary("### Pull request closed\n\n" + "\n".join(f"- {line}" for line in lines) + "\n")
    return 0


def _build_and_check(project: VercelProject | None, production: bool, test: bool = False) -> None:
    """`vercel build` (a test-mode Preview's function given its Gmail stand-in), then the Build
    Output check: nothing incomplete is ever uploaded, no Production build carries the stand-in."""
    plan = plans.plan_from_env()
    vercel.build(project, production, plan)
    if test:
        test_mode.add_stand_in(Path.cwd())
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
    commands.add_parser("alias").add_argument("url", help="the pull request's Preview")
    commands.add_parser("close", help="a pull request closed: its database and address go")
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
        if args.command == "alias":
            return alias(args.url)
        if args.command == "close":
            return close()
        return migrate(args.environment)
    except (MissingConfig, DeploymentFailed, ApiError, plans.UnknownPlan, MigrationError, preview_db.NotAUrl) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
