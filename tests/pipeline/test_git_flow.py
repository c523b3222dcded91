"""push → Preview; PR → Playwright on that Preview; merge → Production (smoked on its own
URL, then promoted) → hourly cron → synced mail; and the ways it must fail safely. In
order: each step builds on the last."""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ElementTree
from typing import Any

import pytest
import requests

from app.db.migrate import load_migrations
from ci import vercel as ci_vercel
from tests.integration.web_helpers import consent
from tests.pipeline.conftest import ADMIN, GITHUB_REPOSITORY, World, migrated

pytestmark = pytest.mark.timeout(1800)
VERSIONS = [m.version for m in load_migrations()]
flow: dict[str, Any] = {}


def _push(ref: str, sha: str) -> dict[str, Any]:
    return {"ref": f"refs/heads/{ref}", "after": sha, "repository": {"full_name": GITHUB_REPOSITORY}}


def _pull_request(number: int, ref: str, sha: str, head_repo: str = GITHUB_REPOSITORY) -> dict[str, Any]:
    head = {"sha": sha, "ref": ref, "repo": {"full_name": head_repo, "fork": head_repo != GITHUB_REPOSITORY}}
    return {
        "action": "opened",
        "number": number,
        "pull_request": {
            "number": number,
            "head": head,
            "base": {"ref": "main", "repo": {"full_name": GITHUB_REPOSITORY}},
        },
    }


def _ok(step: Any) -> None:
    assert step.returncode == 0, f"nox -s {step.session} failed:\n{step.output[-3000:]}"


def _junit(world: World) -> dict[str, int]:
    root = ElementTree.parse(world.workspace / "test-results" / "e2e" / "junit.xml").getroot()  # noqa: S314
    cases = list(root.iter("testcase"))
    return {
        "passed": sum(1 for c in cases if not list(c)),
        "failed": sum(1 for c in cases if c.find("failure") is not None or c.find("error") is not None),
        "skipped": sum(1 for c in cases if c.find("skipped") is not None),
    }


def _connect_gmail(base_url: str, world: World) -> requests.Session:
    """Press Connect Gmail on a deployment and allow access on the sandbox's consent page."""
    browser = requests.Session()
    browser.trust_env = False  # a REQUESTS_CA_BUNDLE in the environment would override `verify`
    browser.verify = str(world.vercel.ca)
    browser.headers["x-vercel-protection-bypass"] = world.vercel.state.protection_bypass
    started = browser.get(f"{base_url}/auth/google", allow_redirects=False, timeout=30)
    assert started.status_code == 303, started.text
    callback = consent(browser, started.headers["Location"], ADMIN)
    assert callback.startswith(f"{world.vercel.production_url}/auth/callback?")  # the one registered callback
    done = browser.get(callback, allow_redirects=False, timeout=60)
    if not base_url.startswith(world.vercel.production_url):  # Production hands the code back
        assert done.status_code == 303, done.text
        assert done.headers["Location"].startswith(f"{base_url}/auth/callback?")
        done = browser.get(done.headers["Location"], allow_redirects=False, timeout=60)
    assert (done.status_code, done.headers.get("Location")) == (303, "/inbox"), done.text
    return browser


def _secrets(world: World, target: str) -> dict[str, str]:
    """What the workflows pass from GitHub secrets besides Vercel's: the database URL that
    Vercel keeps Sensitive (the migration steps)."""
    return {"DATABASE_URL": world.databases[target]}


def test_a_pushed_branch_gets_a_served_preview(world: World) -> None:
    world.git("checkout", "-q", "-b", "feature/greeting")
    sha = world.commit("Say hello", append={"README.md": "\nHello from a feature branch.\n"})
    push = _push("feature/greeting", sha)
    common = {"event": push, "sha": sha, "ref": "feature/greeting", "token": "workflow-token"}
    unreadable = world.run("migrate", "preview", **common)  # the secret missing: Vercel's copy is Sensitive
    assert unreadable.returncode != 0
    assert "Sensitive variable, which `vercel pull` cannot read back" in unreadable.output
    _ok(world.run("migrate", "preview", **common, extra=_secrets(world, "preview")))
    assert migrated(world.databases["preview"]) == VERSIONS
    deploy = world.run("deploy", "preview", **common)
    _ok(deploy)
    assert "imports from the function alone" in deploy.output  # the build check ran before the upload
    url = deploy.outputs["url"]
    assert re.fullmatch(r"https://127\.0\.0\.1:\d+", url)
    assert url in deploy.summary
    deployments = world.vercel_state()["deployments"]
    assert [(d["target"], d["readyState"], d["meta"]["githubCommitSha"]) for d in deployments] == [(None, "READY", sha)]
    health = world.get(url + "/api/health")
    assert health.json() == {
        "status": "ok",
        "environment": "preview",
        "commit": sha,
        "database": "reachable",
        "migrations": "current",
    }
    assert world.get(url + "/api/health", bypass=False).status_code == 401  # Deployment Protection
    recorded = world.github_state()["deployments"]
    assert [(d["ref"], d["environment"], d["statuses"][0]["environment_url"]) for d in recorded] == [
        (sha, "Preview", url)
    ]
    flow.update(preview_url=url, feature_sha=sha)


def test_a_pull_request_tests_that_same_preview_and_keeps_one_comment(world: World) -> None:
    sha, url = flow["feature_sha"], flow["preview_url"]
    event = _pull_request(1, "feature/greeting", sha)
    common = {"event": event, "sha": "merge-" + sha[:8], "ref": "1/merge", "token": "workflow-token"}
    _ok(world.run("migrate", "preview", **common, extra=_secrets(world, "preview")))
    reuse = world.run("deploy", "preview", "--reuse", **common)
    _ok(reuse)
    assert reuse.outputs["url"] == url
    assert "reused" in reuse.summary
    assert len(world.vercel_state()["deployments"]) == 1  # not rebuilt
    e2e = world.run("e2e", "--base-url", url, **common, extra={"EXPECTED_COMMIT": sha})
    _ok(e2e)
    assert _junit(world) == {"passed": 4, "failed": 0, "skipped": 1}  # the local-only walk is skipped
    for attempt in (1, 2):
        _ok(world.run("report", "--comment", "--artifact-url", f"https://github.example/runs/{attempt}", **common))
        comments = world.github_state()["comments"]["1"]
        assert len(comments) == 1
        assert "<!-- jessie:e2e-report -->" in comments[0]["body"]
        assert f"https://github.example/runs/{attempt}" in comments[0]["body"]
    assert comments[0]["edits"] == 1  # the second run updated the first comment


def test_a_pull_request_from_a_fork_is_skipped_with_a_reason(world: World) -> None:
    event = _pull_request(7, "patch-1", "f" * 40, head_repo="eve/jessie")
    common = {"event": event, "sha": "f" * 40, "ref": "7/merge", "token": "fork-token", "secrets": False}
    before = (len(world.vercel_state()["deployments"]), len(world.github_state()["deployments"]))
    migrate = world.run("migrate", "preview", **common)
    _ok(migrate)
    assert "skipped: pull request from the fork eve/jessie" in migrate.output
    deploy = world.run("deploy", "preview", "--reuse", **common)
    _ok(deploy)
    assert deploy.outputs["url"] == ""
    assert "forks get no secrets" in deploy.summary
    assert (len(world.vercel_state()["deployments"]), len(world.github_state()["deployments"])) == before


def _deploy_production(world: World, sha: str) -> str:
    """The Production job up to the promote: migrations, the deployment (not on the domain)."""
    common = {"event": _push("main", sha), "sha": sha, "ref": "main", "token": "workflow-token"}
    _ok(world.run("migrate", "production", **common, extra=_secrets(world, "production")))
    deploy = world.run("deploy", "production", **common)
    _ok(deploy)
    url = deploy.outputs["url"]
    deployment = next(d for d in world.vercel_state()["deployments"] if d["url"] == url.removeprefix("https://"))
    assert (deployment["target"], deployment["readyState"], deployment["alias"]) == ("production", "READY", [])
    return url


def _smoke(world: World, url: str, sha: str, expected: str | None = None) -> Any:
    common = {"event": _push("main", sha), "sha": sha, "ref": "main", "token": "workflow-token"}
    return world.run("e2e", "--base-url", url, "-m", "smoke", **common, extra={"EXPECTED_COMMIT": expected or sha})


def _promote(world: World, url: str, sha: str) -> Any:
    common = {"event": _push("main", sha), "sha": sha, "ref": "main", "token": "workflow-token"}
    promote = world.run("promote", url, **common)
    _ok(promote)
    assert promote.outputs["url"] == world.vercel.production_url
    return promote


def test_a_merge_deploys_production_and_the_hourly_cron_syncs_mail(world: World) -> None:
    world.git("checkout", "-q", "main")
    world.git("merge", "-q", "--ff-only", "feature/greeting")
    sha = world.git("rev-parse", "HEAD")
    url = _deploy_production(world, sha)
    assert world.vercel_state()["production"] is None  # not on the domain before its smoke passed
    _ok(_smoke(world, url, sha))
    assert _junit(world) == {"passed": 4, "failed": 0, "skipped": 0}
    promote = _promote(world, url, sha)
    assert promote.outputs["previous"] == ""  # the first Production
    state = world.vercel_state()
    production = next(d for d in state["deployments"] if d["id"] == state["production"])
    assert production["url"] == url.removeprefix("https://")
    recorded = world.github_state()["deployments"][-1]
    assert (recorded["ref"], recorded["environment"]) == (sha, "Production")
    domain = world.vercel.production_url
    _ok(_smoke(world, domain, sha))
    assert world.get(domain + "/api/health", bypass=False).json()["commit"] == sha  # the domain is public
    browser = _connect_gmail(domain, world)

    cron = _vercel_cli(world, "crons", "run", "/api/cron/email-sync")
    assert cron.returncode == 0, cron.stderr
    calls = world.vercel_state()["cron_calls"]
    assert [(c["method"], c["path"], c["status"], c["deployment"]) for c in calls] == [
        ("GET", "/api/cron/email-sync", 200, production["id"])
    ]
    assert '"messages_added":40' in calls[0]["body"].replace(" ", "")
    runs = browser.get(domain + "/runs", timeout=30)
    assert runs.status_code == 200
    assert re.search(r"<td>cron</td>\s*<td class=\"status-ok\">ok</td>", runs.text)
    # A Preview's host is not registered with Google: Connect Gmail there goes through Production.
    preview = _connect_gmail(flow["preview_url"], world)
    assert preview.get(flow["preview_url"] + "/inbox", timeout=30).status_code == 200
    # An hour later Vercel calls again on schedule: an idle incremental run.
    scheduled = requests.post(f"{world.vercel.url}/_sandbox/clock", json={"advance_seconds": 3600}, timeout=300).json()
    assert [(c["reason"], c["status"]) for c in scheduled["calls"]] == [("schedule", 200)]
    assert '"messages_added":0' in scheduled["calls"][0]["body"].replace(" ", "")
    flow.update(production_id=production["id"], production_sha=sha, production_url=url)


def _project(world: World) -> ci_vercel.VercelProject:
    state = world.vercel.state
    return ci_vercel.VercelProject(state.token, state.team["id"], state.project_id, world.vercel.url)


def _vercel_cli(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    project = _project(world)
    env = ci_vercel.cli_environment(project)
    return subprocess.run(
        [ci_vercel.CLI, *args, *project.cli_flags()],
        cwd=world.workspace,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_pull_request_whose_function_cannot_import_never_uploads(world: World) -> None:
    world.git("checkout", "-q", "-b", "feature/broken")
    sha = world.commit("Break the app on purpose", append={"app/web/main.py": "\nraise RuntimeError('broken')\n"})
    common = {
        "event": _pull_request(2, "feature/broken", sha),
        "sha": "merge-2",
        "ref": "2/merge",
        "token": "workflow-token",
    }
    before = len(world.vercel_state()["deployments"])
    deploy = world.run("deploy", "preview", "--reuse", **common)
    assert deploy.returncode != 0  # the PR check is red
    assert "the build output is not deployable: index.func does not import from its own files" in deploy.output
    assert "RuntimeError: broken" in deploy.output
    assert len(world.vercel_state()["deployments"]) == before  # refused before the upload
    assert world.vercel_state()["production"] == flow["production_id"]
    assert all(d["ref"] != sha for d in world.github_state()["deployments"])
    world.git("checkout", "-q", "main")


def test_a_deployment_missing_a_dependency_is_ready_answers_500_and_is_never_promoted(world: World) -> None:
    """What Vercel does with the function `nox -s build` used to ship: it stays READY and
    fails at the first request, so only the smoke against the deployment URL can stop it."""
    sha = flow["production_sha"]
    with ci_vercel.python_version_file(world.workspace):
        built = _vercel_cli(world, "build", "--prod", "--yes")
        assert built.returncode == 0, built.stderr
        config_path = world.workspace / ".vercel/output/functions/api/index.func/.vc-config.json"
        config = json.loads(config_path.read_text())
        mapping = config["filePathMap"]
        config["filePathMap"] = {k: v for k, v in mapping.items() if not k.startswith("_vendor/fastapi/")}
        config_path.write_text(json.dumps(config))
        done = _vercel_cli(world, "deploy", "--prebuilt", "--prod", "--skip-domain", "--yes", "--no-wait")
    assert done.returncode == 0, done.stderr
    url = ci_vercel.parse_deployment_url(done.stdout)
    assert ci_vercel.wait_until_ready(_project(world), url, poll_s=0.2)["readyState"] == "READY"
    health = world.get(url + "/api/health")
    assert (health.status_code, health.headers["x-vercel-error"]) == (500, "FUNCTION_INVOCATION_FAILED")
    assert _smoke(world, url, sha).returncode != 0  # so the workflow never reaches its promote step
    assert world.vercel_state()["production"] == flow["production_id"]


def test_a_production_whose_smoke_fails_is_never_promoted(world: World) -> None:
    sha = world.commit(
        "Report health wrongly",
        edits={"app/web/api.py": ('{"status": "ok", "environment"', '{"status": "fine", "environment"')},
    )
    url = _deploy_production(world, sha)
    smoke = _smoke(world, url, sha)
    assert smoke.returncode != 0  # the run goes red before the promote
    assert _junit(world)["failed"] >= 1
    assert world.vercel_state()["production"] == flow["production_id"]
    health = world.get(world.vercel.production_url + "/api/health", bypass=False).json()
    assert (health["status"], health["commit"]) == ("ok", flow["production_sha"])


def test_a_smoke_failing_after_the_promote_rolls_back_and_the_next_deploy_still_reaches_the_domain(
    world: World,
) -> None:
    sha = world.commit(
        "Report health rightly again",
        edits={"app/web/api.py": ('{"status": "fine", "environment"', '{"status": "ok", "environment"')},
    )
    url = _deploy_production(world, sha)
    _ok(_smoke(world, url, sha))
    promote = _promote(world, url, sha)
    assert promote.outputs["previous"] == flow["production_url"]
    domain = world.vercel.production_url
    # The domain's smoke fails (here: it expects another commit); the workflow rolls back.
    assert _smoke(world, domain, sha, expected="0" * 40).returncode != 0
    common = {"event": _push("main", sha), "sha": sha, "ref": "main", "token": "workflow-token"}
    rollback = world.run("rollback", "--to", promote.outputs["previous"], **common)
    _ok(rollback)
    assert "rolled Production back" in rollback.output
    state = world.vercel_state()
    assert (state["production"], state["auto_assign"]) == (flow["production_id"], False)
    assert world.get(domain + "/api/health", bypass=False).json()["commit"] == flow["production_sha"]
    # After a rollback Vercel assigns nothing by itself: the explicit promote still gets there.
    fixed = world.commit("A fix", append={"README.md": "\nFixed.\n"})
    fixed_url = _deploy_production(world, fixed)
    _ok(_smoke(world, fixed_url, fixed))
    _promote(world, fixed_url, fixed)
    assert world.get(domain + "/api/health", bypass=False).json()["commit"] == fixed
    assert world.vercel_state()["auto_assign"] is True
