"""push → Preview; PR → Playwright on that Preview; merge → Production → hourly cron → synced
mail; and the two ways it must fail safely. In order: each step builds on the last."""

from __future__ import annotations

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
    started = browser.get(f"{base_url}/auth/google", allow_redirects=False, timeout=30)
    assert started.status_code == 303, started.text
    callback = consent(browser, started.headers["Location"], ADMIN)
    done = browser.get(callback, allow_redirects=False, timeout=60)
    assert (done.status_code, done.headers.get("Location")) == (303, "/inbox"), done.text
    return browser


def test_a_pushed_branch_gets_a_served_preview(world: World) -> None:
    world.git("checkout", "-q", "-b", "feature/greeting")
    sha = world.commit("Say hello", append={"README.md": "\nHello from a feature branch.\n"})
    push = _push("feature/greeting", sha)
    _ok(world.run("migrate", "preview", event=push, sha=sha, ref="feature/greeting", token="workflow-token"))
    assert migrated(world.databases["preview"]) == VERSIONS
    deploy = world.run("deploy", "preview", event=push, sha=sha, ref="feature/greeting", token="workflow-token")
    _ok(deploy)
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
    _ok(world.run("migrate", "preview", **common))
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


def test_a_merge_deploys_production_and_the_hourly_cron_syncs_mail(world: World) -> None:
    world.git("checkout", "-q", "main")
    world.git("merge", "-q", "--ff-only", "feature/greeting")
    sha = world.git("rev-parse", "HEAD")
    common = {"event": _push("main", sha), "sha": sha, "ref": "main", "token": "workflow-token"}
    _ok(world.run("migrate", "production", **common))
    assert migrated(world.databases["production"]) == VERSIONS
    deploy = world.run("deploy", "production", **common)
    _ok(deploy)
    url = deploy.outputs["url"]
    state = world.vercel_state()
    production = next(d for d in state["deployments"] if d["id"] == state["production"])
    assert (production["url"], production["target"]) == (url.removeprefix("https://"), "production")
    _ok(world.run("e2e", "--base-url", url, "-m", "smoke", **common, extra={"EXPECTED_COMMIT": sha}))
    assert _junit(world) == {"passed": 4, "failed": 0, "skipped": 0}
    domain = world.vercel.production_url
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
    # An hour later Vercel calls again on schedule: an idle incremental run.
    scheduled = requests.post(f"{world.vercel.url}/_sandbox/clock", json={"advance_seconds": 3600}, timeout=300).json()
    assert [(c["reason"], c["status"]) for c in scheduled["calls"]] == [("schedule", 200)]
    assert '"messages_added":0' in scheduled["calls"][0]["body"].replace(" ", "")
    flow.update(production_id=production["id"], production_sha=sha)


def _vercel_cli(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    project = ci_vercel.VercelProject(
        world.vercel.state.token, world.vercel.state.team["id"], world.vercel.state.project_id, world.vercel.url
    )
    env = ci_vercel.cli_environment(project)
    return subprocess.run(
        [ci_vercel.CLI, *args, *project.cli_flags()],
        cwd=world.workspace,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_pull_request_whose_build_breaks_is_red_and_production_is_untouched(world: World) -> None:
    world.git("checkout", "-q", "-b", "feature/broken")
    sha = world.commit("Break the app on purpose", append={"app/web/main.py": "\nraise RuntimeError('broken')\n"})
    common = {
        "event": _pull_request(2, "feature/broken", sha),
        "sha": "merge-2",
        "ref": "2/merge",
        "token": "workflow-token",
    }
    _ok(world.run("migrate", "preview", **common))
    deploy = world.run("deploy", "preview", "--reuse", **common)
    assert deploy.returncode != 0  # the PR check is red
    assert "is ERROR" in deploy.output
    failed = next(d for d in world.vercel_state()["deployments"] if d["meta"].get("githubCommitSha") == sha)
    log = requests.get(f"{world.vercel.url}/_sandbox/deployments/{failed['id']}", timeout=10).json()["log"]
    assert any("RuntimeError: broken" in line for line in log)
    assert world.vercel_state()["production"] == flow["production_id"]
    assert all(d["ref"] != sha for d in world.github_state()["deployments"])
    world.git("checkout", "-q", "main")


def test_a_production_whose_smoke_fails_is_rolled_back_and_the_run_is_red(world: World) -> None:
    sha = world.commit(
        "Report health wrongly",
        edits={"app/web/api.py": ('{"status": "ok", "environment"', '{"status": "fine", "environment"')},
    )
    common = {"event": _push("main", sha), "sha": sha, "ref": "main", "token": "workflow-token"}
    _ok(world.run("migrate", "production", **common))
    deploy = world.run("deploy", "production", **common)
    _ok(deploy)
    assert world.vercel_state()["production"] != flow["production_id"]  # promoted before the smoke
    smoke = world.run(
        "e2e", "--base-url", deploy.outputs["url"], "-m", "smoke", **common, extra={"EXPECTED_COMMIT": sha}
    )
    assert smoke.returncode != 0  # the run goes red
    assert _junit(world)["failed"] >= 1
    rollback = world.run("rollback", "--from", deploy.outputs["url"], **common)
    _ok(rollback)
    assert "rolled Production back" in rollback.output
    assert world.vercel_state()["production"] == flow["production_id"]
    health = world.get(world.vercel.production_url + "/api/health", bypass=False).json()
    assert (health["status"], health["commit"]) == ("ok", flow["production_sha"])
