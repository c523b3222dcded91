"""The Git flow, run by the workflow files themselves in act: push → CI and a Preview; pull
request → Playwright on that Preview, one sticky comment, the PR check; a fork's pull request
skipped; merge → Production (smoked on its own URL, promoted, smoked on the domain, rolled back
when that fails); GitHub's hourly cron. Each scenario is a fixture that builds on the last;
the tests read what GitHub would show: job and step results, outputs, summaries, artifacts,
and the comments and deployments on the local GitHub.
"""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from app.config import TEST_MODE_PATH
from app.db.migrate import load_migrations
from ci import preview_db
from tests.checkout import REPOSITORY
from tests.pipeline import github_events
from tests.pipeline.act import WorkflowRun
from tests.pipeline.world import ADMIN, PR_ALIAS, World, migrated

pytestmark = pytest.mark.timeout(3600)
VERSIONS = [m.version for m in load_migrations()]
BRANCH = "feature/greeting"
WORKFLOWS = Path(".github/workflows")


def _junit(report: Path) -> dict[str, int]:
    cases = list(ElementTree.parse(report / "junit.xml").getroot().iter("testcase"))  # noqa: S314
    return {
        "passed": sum(1 for c in cases if not list(c)),
        "failed": sum(1 for c in cases if c.find("failure") is not None or c.find("error") is not None),
        "skipped": sum(1 for c in cases if c.find("skipped") is not None),
    }


def _run_link(run: WorkflowRun) -> str:
    return f"https://github.com/{github_events.REPOSITORY}/actions/runs/{run.run_id}"


def _commit_of(world: World, url: str, bypass: bool = True) -> str:
    commit: str = world.get(url + "/api/health", bypass=bypass).json()["commit"]
    return commit


# ---- push of a feature branch -------------------------------------------------------------


@dataclass
class Pushed:
    base: str
    sha: str
    ci: WorkflowRun
    preview: WorkflowRun

    @property
    def url(self) -> str:
        return self.preview.outputs("deploy", "deploy")["url"]


@pytest.fixture(scope="module")
def pushed(world: World) -> Pushed:
    base = world.git("rev-parse", "HEAD")
    world.git("checkout", "-q", "-b", BRANCH)
    sha = world.commit("Say hello", edits={"README.md": ("# Jessie\n", "# Jessie\n\nHello from a feature branch.\n")})
    event = github_events.push(BRANCH, sha, before=base)
    assert github_events.triggered(world.workspace / WORKFLOWS, "push", event) == ["ci.yml", "preview.yml"]
    # lint, tests and build are this suite's own sessions (and the Preview's deploy builds):
    # one session is enough to show the file runs, through the All green job.
    ci = world.act("push", event, "ci.yml", matrix={"session": ["workflows"]})
    preview = world.act("push", event, "preview.yml")
    return Pushed(base, sha, ci, preview)


def test_a_push_runs_ci_through_the_all_green_job(pushed: Pushed) -> None:
    ci = pushed.ci
    assert ci.result("check", {"session": "workflows"}) == "success", ci.explain()
    assert ci.result("check", {"session": "lint"}) == "skipped"  # filtered out with --matrix
    assert ci.result("all-green") == "success", ci.explain()
    assert "check-jsonschema" in ci.log("check") and "zizmor" in ci.log("check")


def test_a_push_deploys_a_served_preview_recorded_on_github(world: World, pushed: Pushed) -> None:
    run = pushed.preview
    assert run.result("deploy") == "success", run.explain()
    assert run.steps("deploy") | {"migrate": "success", "deploy": "success"} == run.steps("deploy")
    assert "imports from the function alone" in run.log("deploy")  # the build check ran before the upload
    assert "test mode: the Gmail stand-in is in the function, and imports from it" in run.log("deploy")
    assert migrated(world.branch_database(BRANCH)) == VERSIONS  # the branch's own database
    assert migrated(world.databases["preview"]) == migrated(world.databases["production"]) == []
    log = run.log("deploy")
    assert f"applied {len(VERSIONS)} migration(s) with the Supabase CLI" in log  # its own ledger, its own push
    assert world.databases["preview"] not in log  # the URL (a secret) never in the log
    url = pushed.url
    assert re.fullmatch(r"https://127\.0\.0\.1:\d+", url)
    assert url in run.summary("deploy")
    deployments = world.vercel_state()["deployments"]
    assert [(d["target"], d["readyState"], d["meta"]["githubCommitSha"]) for d in deployments] == [
        (None, "READY", pushed.sha)
    ]
    assert world.get(url + "/api/health").json() == {
        "status": "ok",
        "environment": "preview",
        "commit": pushed.sha,
        "database": "reachable",
        "migrations": "current",
    }
    assert world.get(url + "/api/health", bypass=False).status_code == 401  # Deployment Protection
    recorded = world.github_state()["deployments"]
    assert [(d["ref"], d["environment"]) for d in recorded] == [(pushed.sha, "Preview")]
    status = recorded[0]["statuses"][0]
    assert (status["state"], status["environment_url"], status["log_url"]) == ("success", url, _run_link(run))


# ---- the pull request -------------------------------------------------------------------


@dataclass
class Reviewed:
    runs: list[WorkflowRun]
    comments: list[list[dict[str, Any]]]  # PR #1's comments after each run


PREVIEW_WALK = 35  # every test but those that need a local stack (each says why in its skip)
LOCAL_ONLY = 2


def _skips(report: Path) -> list[str]:
    cases = ElementTree.parse(report / "junit.xml").getroot().iter("testcase")  # noqa: S314
    return [skipped.get("message", "") for case in cases if (skipped := case.find("skipped")) is not None]


def check_pull_request_run(world: World, run: WorkflowRun, url: str, sha: str, number: int) -> None:
    """What a reviewer relies on: the product walked on the pull request's Preview (at the head
    commit) and on its own address, green, reported on the pull request, the PR check says so."""
    assert run.result("e2e") == "success", run.explain()
    assert run.outputs("e2e", "preview")["url"] == url
    address = "https://" + PR_ALIAS.replace("{number}", str(number))
    assert run.outputs("e2e", "alias")["url"] == address
    steps = run.steps("e2e")
    assert (steps.get("playwright"), steps.get("report"), steps.get("artifact")) == ("success",) * 3, steps
    report = run.artifact("e2e-report")
    assert _junit(report) == {"passed": PREVIEW_WALK, "failed": 0, "skipped": LOCAL_ONLY}
    assert all(reason.startswith("local stack only: ") for reason in _skips(report))
    screens = {path.name for path in (report / "screens").glob("*.png")}  # each mail step at both widths
    assert {f"{step}-{width}px.png" for step in ("conversation", "html-mail") for width in (390, 1280)} <= screens
    assert f"Tested {url} at commit `{sha}`" in run.summary("e2e")
    assert run.result("pr-check") == "success", run.explain()


@pytest.fixture(scope="module")
def reviewed(world: World, pushed: Pushed) -> Reviewed:
    event = github_events.pull_request(1, BRANCH, pushed.sha, base_sha=pushed.base)
    assert github_events.triggered(world.workspace / WORKFLOWS, "pull_request", event) == ["ci.yml", "pr.yml"]
    runs, comments = [], []
    for attempt in range(2):  # the second run (a re-run, or a push to the branch) updates the comment
        if attempt:
            world.an_hour_passes_on(world.branch_database(BRANCH))
        runs.append(world.act("pull_request", event, "pr.yml"))
        comments.append(world.github_state()["comments"].get("1", []))
    kept = REPOSITORY / "test-results" / "pipeline" / "e2e-report"  # what ran on the Preview, for anyone to read
    shutil.rmtree(kept, ignore_errors=True)
    if runs[0].artifacts.joinpath("e2e-report").is_dir():
        shutil.copytree(runs[0].artifact("e2e-report"), kept)
    return Reviewed(runs, comments)


def test_a_pull_request_tests_the_push_s_preview_and_keeps_one_comment(
    world: World, pushed: Pushed, reviewed: Reviewed
) -> None:
    for run in reviewed.runs:
        check_pull_request_run(world, run, pushed.url, pushed.sha, 1)
        assert "reused" in run.summary("e2e")
    state = world.vercel_state()
    assert len(state["deployments"]) == 1  # the Preview was reused, not rebuilt
    assert state["aliases"] == {PR_ALIAS.replace("{number}", "1"): state["deployments"][0]["id"]}
    assert (REPOSITORY / "test-results" / "pipeline" / "e2e-report" / "junit.xml").is_file()
    (first,), (second,) = reviewed.comments
    assert first["id"] == second["id"]
    assert (first.get("edits", 0), second["edits"]) == (0, 1)
    for comment, run in zip((first, second), reviewed.runs, strict=True):
        body = comment["body"]
        assert body.startswith("<!-- jessie:e2e-report -->")
        assert f"Tested {pushed.url} at commit `{pushed.sha}`" in body
        assert f"| The pull request's address | https://{PR_ALIAS.replace('{number}', '1')} |" in body
        assert f"| The deployment | {pushed.url} |" in body and f"| Commit | `{pushed.sha}` |" in body
        assert f"[The run]({_run_link(run)})" in body
        assert f"| {PREVIEW_WALK} | 0 | {LOCAL_ONLY} |" in body
        for step in ("connect gmail on its consent page", "a cron run syncs new mail and its sweep is on runs"):
            assert re.search(rf"\| {step} \| ✅ passed \| [\d.]+ s \|", body), step


def test_a_pull_request_from_a_fork_skips_with_a_reason_and_passes(world: World, pushed: Pushed) -> None:
    before = (len(world.vercel_state()["deployments"]), len(world.github_state()["deployments"]))
    event = github_events.pull_request(7, "patch-1", "f" * 40, base_sha=pushed.base, fork_of="eve/jessie")
    run = world.act("pull_request", event, "pr.yml", fork=True)
    assert run.result("e2e") == "success", run.explain()
    assert run.result("pr-check") == "success", run.explain()
    assert "skipped: pull request from the fork eve/jessie" in run.log("e2e")
    assert "forks get no secrets, so no Preview is deployed" in run.summary("e2e")
    steps = run.steps("e2e")
    assert "playwright" not in steps and "report" not in steps  # their `if:` saw no Preview URL
    assert (len(world.vercel_state()["deployments"]), len(world.github_state()["deployments"])) == before
    assert "7" not in world.github_state()["comments"]


# ---- merge into main --------------------------------------------------------------------


@dataclass
class Released:
    sha: str
    run: WorkflowRun
    deployment_id: str
    deployment_url: str


def _merge_push(world: World, sha: str, before: str) -> dict[str, object]:
    event = github_events.push("main", sha, before=before)
    assert github_events.triggered(world.workspace / WORKFLOWS, "push", event) == ["ci.yml", "production.yml"]
    return event


@pytest.fixture(scope="module")
def released(world: World, pushed: Pushed, reviewed: Reviewed) -> Released:
    world.git("checkout", "-q", "main")
    world.git("merge", "-q", "--ff-only", BRANCH)
    run = world.act("push", _merge_push(world, pushed.sha, pushed.base), "production.yml")
    url = run.outputs("deploy", "deploy").get("url", "")
    deployment: dict[str, Any] = next(
        (d for d in world.vercel_state()["deployments"] if "https://" + d["url"] == url), {}
    )
    return Released(pushed.sha, run, deployment.get("id", ""), url)


def test_a_merge_migrates_smokes_promotes_and_serves_production(world: World, released: Released) -> None:
    run = released.run
    assert run.result("deploy") == "success", run.explain()
    steps = run.steps("deploy")
    for step in ("migrate", "deploy", "smoke-deployment", "promote", "smoke-domain", "artifact"):
        assert steps.get(step) == "success", (step, steps)
    assert "rollback" not in steps
    assert migrated(world.databases["production"]) == VERSIONS
    assert run.outputs("deploy", "promote") == {"previous": "", "url": world.vercel.production_url}
    assert world.production_id() == released.deployment_id
    assert _junit(run.artifact("smoke-report")) == {"passed": 4, "failed": 0, "skipped": 0}
    recorded = world.github_state()["deployments"][-1]
    assert (recorded["ref"], recorded["environment"]) == (released.sha, "Production")
    assert _commit_of(world, world.vercel.production_url, bypass=False) == released.sha  # the domain is public


def _cron_runs(world: World) -> list[tuple[str, str, int]]:
    with psycopg.connect(world.databases["production"]) as conn:
        rows = conn.execute("select trigger, status, messages_added from jessie.sync_runs order by id").fetchall()
    return [(trigger, status, added) for trigger, status, added in rows]


def check_github_cron_synced(world: World, run: WorkflowRun, added: int) -> None:
    """One authenticated call that synced the new mail, from the job and in the app's record."""
    assert run.result("call") == "success", run.explain()
    assert run.steps("call").get("call") == "success"
    synced = rf"HTTP 200: Email sync completed · .* run \d+ ok: .* \+{added} ~\d+ -\d+ messages"  # ci.cron's summary
    assert re.search(synced, run.log("call")), run.log("call")[-2000:]
    assert _cron_runs(world)[-1] == ("cron", "ok", added)


def _new_mail(world: World, count: int) -> None:
    url = f"{world.gmail.url}/_sandbox/accounts/{ADMIN}/messages"
    requests.post(url, json={"count": count}, timeout=30).raise_for_status()


def _an_hour_passes(world: World) -> None:
    """For the app's schedule: the sweeps so far belong to earlier slots, so the next cron
    delivery begins a new one (the local Vercel's clock moves, the app's is the machine's)."""
    with psycopg.connect(world.databases["production"]) as conn:
        conn.execute(
            "update jessie.sweeps set slot = slot - interval '1 hour', started_at = started_at - interval '1 hour'"
        )


@pytest.fixture(scope="module")
def connected(world: World, released: Released) -> requests.Session:
    """The owner connects Gmail on Production (which syncs it), new mail arrives, and Vercel
    Cron runs on schedule."""
    browser = world.connect_gmail(world.vercel.production_url)
    _new_mail(world, 3)
    scheduled = requests.post(f"{world.vercel.url}/_sandbox/clock", json={"advance_seconds": 3600}, timeout=300)
    assert [(c["reason"], c["status"]) for c in scheduled.json()["calls"]] == [("schedule", 200)]
    return browser


def test_vercel_cron_syncs_the_connected_mailbox_on_production(world: World, connected: requests.Session) -> None:
    assert _cron_runs(world) == [("connect", "ok", 40), ("cron", "ok", 3)]
    runs = connected.get(world.vercel.production_url + "/runs", timeout=30)
    assert re.search(r"<td>sweep</td>\s*<td class=\"status-ok\">ok</td>", runs.text)


def test_a_preview_without_test_mode_connects_google_through_production_s_callback(
    world: World, released: Released
) -> None:
    """JESSIE_PREVIEW_TEST_MODE=false: a Preview on the real Google (here the world's Gmail), whose
    one registered callback is Production's, which hands the Preview its code."""
    world.git("checkout", "-q", "-b", "try/real-google", "main")
    sha = world.commit("Try real Google", edits={"README.md": ("# Jessie\n", "# Jessie\n\nReal Google.\n")})
    world.git("checkout", "-q", "main")
    plain = world.variables(JESSIE_PREVIEW_TEST_MODE="false")
    run = world.act(
        "push", github_events.push("try/real-google", sha, before=released.sha), "preview.yml", variables=plain
    )
    assert run.result("deploy") == "success", run.explain()
    url = run.outputs("deploy", "deploy")["url"]
    assert "test mode" not in run.log("deploy")
    assert world.get(url + f"{TEST_MODE_PATH}/_sandbox/accounts").status_code == 404  # no stand-in in it
    preview = world.connect_gmail(url)
    assert preview.get(url + "/inbox", timeout=30).status_code == 200


def test_the_github_cron_is_skipped_unless_the_variable_turns_it_on(world: World, connected: requests.Session) -> None:
    event = github_events.schedule("0 * * * *")
    before = _cron_runs(world)
    off = world.act("schedule", event, "cron.yml")
    assert (off.returncode, off.result("call")) == (0, "skipped"), off.explain()
    assert _cron_runs(world) == before
    _new_mail(world, 5)
    _an_hour_passes(world)
    on = world.act("schedule", event, "cron.yml", variables=world.variables(JESSIE_GITHUB_CRON="true"))
    check_github_cron_synced(world, on, added=5)


# ---- two pull requests at once, then one closed ------------------------------------------

# Each pull request adds a migration of the same version that the other contradicts.
CONFLICTING = {
    "a": (11, "create table public.pr_notes (id integer primary key, note text not null);\n"),
    "b": (12, "create table public.pr_notes (id text primary key, stars integer not null);\n"),
}
CONFLICT_VERSION = "20270101000000"


@dataclass
class Opened:
    branch: str
    number: int
    sha: str
    run: WorkflowRun


@pytest.fixture(scope="module")
def two_pull_requests(world: World, released: Released) -> dict[str, Opened]:
    opened = {}
    for key, (number, sql) in CONFLICTING.items():
        branch = f"feature/notes-{key}"
        world.git("checkout", "-q", "-b", branch, "main")
        (world.workspace / f"supabase/migrations/{CONFLICT_VERSION}_pr_notes_{key}.sql").write_text(sql)
        sha = world.commit(f"Notes, way {key}")
        try:
            event = github_events.pull_request(number, branch, sha, base_sha=released.sha)
            opened[key] = Opened(branch, number, sha, world.act("pull_request", event, "pr.yml"))
        finally:
            world.git("checkout", "-q", "main")
    return opened


def _columns(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """select column_name, data_type from information_schema.columns
               where table_schema = 'public' and table_name = 'pr_notes' order by ordinal_position"""
        ).fetchall()
    return [(name, kind) for name, kind in rows]


def test_two_pull_requests_with_conflicting_migrations_each_go_green_on_a_database_of_its_own(
    world: World, two_pull_requests: dict[str, Opened]
) -> None:
    for opened in two_pull_requests.values():
        run = opened.run
        check_pull_request_run(world, run, run.outputs("e2e", "preview")["url"], opened.sha, opened.number)
        assert migrated(world.branch_database(opened.branch)) == [*VERSIONS, CONFLICT_VERSION]
    a, b = (world.branch_database(two_pull_requests[key].branch) for key in ("a", "b"))
    assert _columns(a) == [("id", "integer"), ("note", "text")]
    assert _columns(b) == [("id", "text"), ("stars", "integer")]
    assert migrated(world.databases["production"]) == VERSIONS  # main's migrations only
    assert _columns(world.databases["production"]) == []


def _databases(world: World) -> set[str]:
    with psycopg.connect(world.databases["production"]) as conn:
        return {row[0] for row in conn.execute("select datname from pg_database")}


def test_closing_a_pull_request_drops_its_database_and_its_address(
    world: World, released: Released, two_pull_requests: dict[str, Opened]
) -> None:
    closing, staying = two_pull_requests["a"], two_pull_requests["b"]
    event = github_events.pull_request(
        closing.number, closing.branch, closing.sha, base_sha=released.sha, action="closed"
    )
    assert github_events.triggered(world.workspace / WORKFLOWS, "pull_request", event) == ["pr-closed.yml"]
    run = world.act("pull_request", event, "pr-closed.yml")
    assert run.result("close") == "success", run.explain()
    names = _databases(world)
    assert preview_db.name_for(closing.branch) not in names
    assert preview_db.name_for(staying.branch) in names  # the other pull request's is untouched
    aliases = world.vercel_state()["aliases"]
    assert PR_ALIAS.replace("{number}", str(closing.number)) not in aliases
    assert PR_ALIAS.replace("{number}", str(staying.number)) in aliases
    assert f"database {preview_db.name_for(closing.branch)}: dropped" in run.summary("close")
    assert migrated(world.databases["production"]) == VERSIONS
    again = world.act("pull_request", event, "pr-closed.yml")  # GitHub may deliver it twice: nothing to do
    assert again.result("close") == "success" and "there was none" in again.summary("close")


# ---- Production runs that must fail safely -----------------------------------------------


def test_a_production_deployment_that_fails_its_smoke_is_never_promoted(world: World, released: Released) -> None:
    sha = world.commit(
        "Show the short commit in health",
        edits={"app/web/api.py": ("commit=settings.commit_sha)", "commit=settings.commit_sha[:7])")},
    )
    run = world.act("push", _merge_push(world, sha, released.sha), "production.yml")
    assert run.result("deploy") == "failure"
    steps = run.steps("deploy")
    assert (steps["deploy"], steps["smoke-deployment"], steps["artifact"]) == ("success", "failure", "success")
    assert "promote" not in steps and "rollback" not in steps
    assert world.production_id() == released.deployment_id
    assert _commit_of(world, world.vercel.production_url, bypass=False) == released.sha
    report = run.artifact("smoke-report")
    assert _junit(report)["failed"] == 1
    failed = [p.relative_to(report).as_posix() for p in (report / "failures").rglob("*") if p.is_file()]
    assert any("test-health" in p and p.endswith("trace.zip") for p in failed), failed
    assert any("test-health" in p and p.endswith(".png") for p in failed), failed


def test_a_smoke_failing_on_the_domain_after_the_promote_rolls_production_back(
    world: World, released: Released
) -> None:
    sha = world.commit(
        "Show the whole commit in health again",
        edits={"app/web/api.py": ("commit=settings.commit_sha[:7])", "commit=settings.commit_sha)")},
    )
    # The repository's PRODUCTION_URL names a domain that does not serve the app: the promote
    # succeeds, the smoke against the domain fails, and the job rolls Production back.
    misconfigured = world.variables(PRODUCTION_URL="https://127.0.0.1:9")
    run = world.act("push", _merge_push(world, sha, released.sha), "production.yml", variables=misconfigured)
    assert run.result("deploy") == "failure"
    steps = run.steps("deploy")
    assert (steps["smoke-deployment"], steps["promote"], steps["smoke-domain"]) == ("success", "success", "failure")
    assert steps["rollback"] == "success", run.explain()
    assert run.outputs("deploy", "promote")["previous"] == released.deployment_url
    assert f"rolled Production back to {released.deployment_url}" in run.summary("deploy")
    state = world.vercel_state()
    assert (state["production"], state["auto_assign"]) == (released.deployment_id, False)
    assert _commit_of(world, world.vercel.production_url, bypass=False) == released.sha


# ---- the workflows are what is tested: break one, a check above fails ---------------------


@contextmanager
def mutated(world: World, workflow: str, old: str, new: str) -> Iterator[None]:
    """The scratch repository's copy of a workflow, edited for one run (never committed)."""
    path = world.workspace / WORKFLOWS / workflow
    text = path.read_text()
    assert old in text, f"{old!r} not in {workflow}"
    path.write_text(text.replace(old, new))
    try:
        yield
    finally:
        path.write_text(text)


@pytest.mark.parametrize(
    ("old", "new", "result", "said"),
    [
        # a secret mapped under another name: the call goes out without it
        ("${{ secrets.CRON_SECRET }}", "${{ secrets.CRON_TOKEN }}", "failure", "missing CRON_SECRET"),
        # an `if:` that can never be true (a string compared with a boolean)
        ("vars.JESSIE_GITHUB_CRON == 'true'", "vars.JESSIE_GITHUB_CRON == true", "skipped", ""),
    ],
    ids=["secret-mapping", "if"],
)
def test_a_broken_cron_workflow_is_caught(
    world: World, connected: requests.Session, old: str, new: str, result: str, said: str
) -> None:
    _new_mail(world, 2)
    _an_hour_passes(world)
    with mutated(world, "cron.yml", old, new):
        run = world.act(
            "schedule",
            github_events.schedule("0 * * * *"),
            "cron.yml",
            variables=world.variables(JESSIE_GITHUB_CRON="true"),
        )
    assert run.result("call") == result and said in run.log("call"), run.explain()  # the mutation took effect
    with pytest.raises(AssertionError):
        check_github_cron_synced(world, run, added=2)


def test_a_pull_request_workflow_reading_a_wrong_output_name_is_caught(world: World, pushed: Pushed) -> None:
    """Playwright's `if:` reads an output the step never writes, so the suite never runs: the
    check above refuses that run (and the report step, finding no results, turns it red)."""
    event = github_events.pull_request(3, BRANCH, pushed.sha, base_sha=pushed.base)
    with mutated(world, "pr.yml", "if: steps.preview.outputs.url != ''", "if: steps.preview.outputs.preview_url != ''"):
        world.git("checkout", "-q", BRANCH)
        try:
            run = world.act("pull_request", event, "pr.yml")
        finally:
            world.git("checkout", "-q", "main")
    assert "playwright" not in run.steps("e2e")
    assert "No test results: the suite did not run" in run.summary("e2e")
    with pytest.raises(AssertionError):
        check_pull_request_run(world, run, pushed.url, pushed.sha, 3)
