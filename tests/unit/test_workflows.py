"""The workflows, read as data: each trigger calls the right nox session with the right permissions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
PINNED = re.compile(r"^\s*(?:-\s+)?uses:\s+[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*\s*$")


def load(name: str) -> dict[str, Any]:
    workflow: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # type: ignore[call-overload]  # YAML 1.1's key is a bool  # YAML 1.1 reads `on` as true
    return workflow


def runs(workflow: dict[str, Any], job: str) -> list[str]:
    return [step["run"] for step in workflow["jobs"][job]["steps"] if "run" in step]


def step(workflow: dict[str, Any], job: str, run_prefix: str) -> dict[str, Any]:
    return next(s for s in workflow["jobs"][job]["steps"] if s.get("run", "").startswith(run_prefix))


ALL = sorted(path.name for path in WORKFLOWS.glob("*.yml"))


def test_the_six_workflows_exist() -> None:
    assert ALL == ["ci.yml", "cron.yml", "pr-closed.yml", "pr.yml", "preview.yml", "production.yml"]


def test_ci_runs_the_checks_on_every_push_and_pull_request() -> None:
    ci = load("ci.yml")
    assert set(ci["on"]) == {"push", "pull_request"}
    assert ci["jobs"]["check"]["strategy"]["matrix"]["session"] == ["lint", "tests", "build", "workflows"]
    assert runs(ci, "check")[-1] == 'nox -s "${SESSION}"'
    assert ci["jobs"]["check"]["permissions"] == {"contents": "read"}
    assert ci["jobs"]["all-green"]["needs"] == ["check"]


def test_a_push_to_a_branch_deploys_a_preview_on_the_branchs_own_database() -> None:
    preview = load("preview.yml")
    assert preview["on"] == {"push": {"branches-ignore": ["main"]}}
    assert runs(preview, "deploy")[1:] == ["nox -s migrate -- preview", "nox -s deploy -- preview"]
    for command in ("nox -s migrate", "nox -s deploy"):  # the preview server, where each branch has a database
        assert step(preview, "deploy", command)["env"]["DATABASE_URL"] == "${{ secrets.PREVIEW_DATABASE_URL }}"
    assert step(preview, "deploy", "nox -s deploy")["env"]["JESSIE_PREVIEW_TEST_MODE"] == (
        "${{ vars.JESSIE_PREVIEW_TEST_MODE }}"
    )
    assert preview["jobs"]["deploy"]["permissions"] == {"contents": "read", "deployments": "write"}
    assert preview["concurrency"]["cancel-in-progress"] is True


def test_a_pull_request_walks_the_preview_of_its_head_commit_and_its_own_address() -> None:
    pr = load("pr.yml")
    assert pr["on"] == {"pull_request": {"branches": ["main"]}}
    commands = runs(pr, "e2e")
    assert commands[1:] == [
        "nox -s migrate -- preview",
        "nox -s deploy -- preview --reuse",
        'nox -s alias -- "${PREVIEW_URL}"',
        'nox -s e2e -- --base-url "${PREVIEW_URL}"',
        'nox -s report -- --comment --tested "${PREVIEW_URL}" --address "${ALIAS_URL}" --commit "${HEAD_SHA}" '
        '--run-url "${RUN_URL}" --artifact-url "${ARTIFACT_URL}" --failures test-results/e2e/failures',
    ]
    e2e = step(pr, "e2e", "nox -s e2e")
    assert e2e["env"]["EXPECTED_COMMIT"] == "${{ github.event.pull_request.head.sha }}"
    assert e2e["env"]["PREVIEW_URL"] == "${{ steps.preview.outputs.url }}"
    assert e2e["env"]["E2E_ALIAS_URL"] == "${{ steps.alias.outputs.url }}"
    assert e2e["env"]["CRON_SECRET"] == "${{ secrets.PREVIEW_CRON_SECRET }}"  # never Production's
    names = [item.get("id") for item in pr["jobs"]["e2e"]["steps"]]
    assert names.index("artifact") < names.index("report")  # the comment links the artifact it names
    assert step(pr, "e2e", "nox -s report")["env"]["ARTIFACT_URL"] == "${{ steps.artifact.outputs.artifact-url }}"
    assert pr["jobs"]["e2e"]["permissions"] == {"contents": "read", "deployments": "write", "pull-requests": "write"}
    assert pr["jobs"]["pr-check"]["needs"] == ["e2e"]
    assert pr["jobs"]["pr-check"]["permissions"] == {}


def test_a_closed_pull_request_drops_its_database_and_address_and_never_touches_production() -> None:
    closed = load("pr-closed.yml")
    assert closed["on"] == {"pull_request": {"branches": ["main"], "types": ["closed"]}}
    assert runs(closed, "close")[1:] == ["nox -s close"]
    env = step(closed, "close", "nox -s close")["env"]
    assert env["DATABASE_URL"] == "${{ secrets.PREVIEW_DATABASE_URL }}"
    assert "PRODUCTION_DATABASE_URL" not in (WORKFLOWS / "pr-closed.yml").read_text()
    assert closed["jobs"]["close"]["permissions"] == {"contents": "read"}


def test_a_merge_smokes_the_deployment_before_promoting_it_and_rolls_back_after() -> None:
    production = load("production.yml")
    assert production["on"] == {"push": {"branches": ["main"]}}
    assert runs(production, "deploy")[1:] == [
        "nox -s migrate -- production",
        "nox -s deploy -- production",
        'nox -s e2e -- --base-url "${DEPLOYMENT_URL}" -m smoke',
        'nox -s promote -- "${DEPLOYMENT_URL}"',
        'nox -s e2e -- --base-url "${PRODUCTION_URL}" -m smoke',
        'nox -s rollback -- --to "${PREVIOUS_URL}"',
    ]
    assert step(production, "deploy", "nox -s migrate")["env"]["DATABASE_URL"] == (
        "${{ secrets.PRODUCTION_DATABASE_URL }}"
    )
    assert step(production, "deploy", "nox -s promote")["env"]["DEPLOYMENT_URL"] == "${{ steps.deploy.outputs.url }}"
    # Rollback only after a promote happened, to what served before it.
    rollback = step(production, "deploy", "nox -s rollback")
    assert rollback["if"] == "${{ failure() && steps.promote.outputs.previous != '' }}"
    assert rollback["env"]["PREVIOUS_URL"] == "${{ steps.promote.outputs.previous }}"
    assert production["concurrency"] == {"group": "production", "cancel-in-progress": False}
    assert production["jobs"]["deploy"]["permissions"] == {"contents": "read", "deployments": "write"}


def test_the_github_cron_is_hourly_and_opt_in() -> None:
    cron = load("cron.yml")
    assert cron["on"]["schedule"] == [{"cron": "0 * * * *"}]
    assert cron["jobs"]["call"]["if"] == "${{ vars.JESSIE_GITHUB_CRON == 'true' }}"
    assert runs(cron, "call")[-1] == 'nox -s cron -- "${PRODUCTION_URL}"'


@pytest.mark.parametrize("name", ALL)
def test_hardening(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    workflow = load(name)
    assert "pull_request_target" not in text
    assert workflow["permissions"] == {}
    for line in text.splitlines():
        if "uses:" in line:
            assert PINNED.match(line), f"not pinned by SHA with a version comment: {line.strip()}"
    for job_name, job in workflow["jobs"].items():
        assert "timeout-minutes" in job, job_name
        assert "permissions" in job, job_name
        for item in job.get("steps", []):
            if "actions/checkout" in item.get("uses", ""):
                assert item["with"]["persist-credentials"] is False
            assert "${{" not in item.get("run", ""), f"expressions belong in env, not in run: {item['run']}"
    assert "concurrency" in workflow
