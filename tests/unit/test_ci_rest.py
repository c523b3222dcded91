"""ci/: every REST call and its failure modes, against HTTP fakes (`responses`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import responses
from responses import matchers

from ci import github, vercel
from ci.http import Api, ApiError
from ci.vercel import DeploymentFailed, MissingConfig, VercelProject
from tests.fakes import FakeClock

API = "https://api.vercel.test"
PROJECT = VercelProject("vercel-token-123", "team_abc", "prj_xyz", API)
NOW = 1_800_000_000.0


# ---- retries and rate limits ------------------------------------------------------------


@responses.activate
def test_429_waits_for_retry_after_then_succeeds() -> None:
    responses.get(f"{API}/x", status=429, headers={"Retry-After": "7"})
    responses.get(f"{API}/x", json={"ok": True})
    sleeps = FakeClock()
    assert Api(API, {}, sleep=sleeps.sleep).json("GET", "/x") == {"ok": True}
    assert sleeps.slept == [7]
    assert responses.calls[0].request.req_kwargs["timeout"] == 30.0  # type: ignore[attr-defined]  # responses adds it


@responses.activate
def test_a_rate_limit_reset_header_is_honoured() -> None:
    responses.get(
        f"{API}/y", status=403, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 42)}
    )
    responses.get(f"{API}/y", json={})
    sleeps = FakeClock()
    Api(API, {}, sleep=sleeps.sleep, clock=lambda: NOW).json("GET", "/y")
    assert sleeps.slept == [42]


SECONDARY = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}


@responses.activate
@pytest.mark.parametrize("status", [403, 429])
def test_a_secondary_rate_limit_without_headers_waits_a_minute_then_longer(status: int) -> None:
    responses.get(f"{API}/z", status=status, json=SECONDARY)
    responses.get(f"{API}/z", status=status, json=SECONDARY)
    responses.get(f"{API}/z", json={"ok": True})
    sleeps = FakeClock()
    assert Api(API, {}, sleep=sleeps.sleep, max_wait_s=300).json("GET", "/z") == {"ok": True}
    assert sleeps.slept == [60.0, 120.0]


@responses.activate
def test_a_403_that_is_a_refusal_is_not_retried() -> None:
    responses.get(f"{API}/no", status=403, json={"message": "Resource not accessible by integration"})
    sleeps = FakeClock()
    with pytest.raises(ApiError, match=r"HTTP 403: .*Resource not accessible by integration"):
        Api(API, {}, sleep=sleeps.sleep).json("GET", "/no")
    assert sleeps.slept == []


@responses.activate
def test_5xx_backs_off_and_gives_up_with_a_clear_error() -> None:
    for _ in range(3):
        responses.get(f"{API}/z", status=503)
    sleeps = FakeClock()
    with pytest.raises(ApiError, match=r"GET https://api.vercel.test/z: HTTP 503 after 3 attempts"):
        Api(API, {"Authorization": "Bearer secret-token"}, max_attempts=3, sleep=sleeps.sleep).json("GET", "/z")
    assert sleeps.slept == [2.0, 4.0]


@responses.activate
def test_a_reset_too_far_away_is_not_waited_for() -> None:
    responses.get(f"{API}/w", status=429, headers={"Retry-After": "3600"})
    with pytest.raises(ApiError, match="HTTP 429 after 1 attempts"):
        Api(API, {}, sleep=FakeClock().sleep).json("GET", "/w")


@responses.activate
def test_connection_errors_are_retried() -> None:
    import requests

    responses.get(f"{API}/c", body=requests.ConnectionError("reset"))
    responses.get(f"{API}/c", json={"fine": 1})
    assert Api(API, {}, sleep=FakeClock().sleep).json("GET", "/c") == {"fine": 1}


# ---- Vercel -------------------------------------------------------------------------------


def test_missing_vercel_settings_are_one_line_naming_them() -> None:
    with pytest.raises(MissingConfig) as missing:
        VercelProject.from_env({"VERCEL_TOKEN": "t"})
    message = str(missing.value)
    assert message.startswith("missing VERCEL_ORG_ID, VERCEL_PROJECT_ID:")
    assert "\n" not in message


def _deployment(state: str, **extra: object) -> dict[str, Any]:
    return {
        "id": "dpl_1",
        "url": "jessie-abc.vercel.app",
        "readyState": state,
        "inspectorUrl": "https://vercel.com/team/jessie/dpl_1",
        **extra,
    }


@responses.activate
def test_waiting_follows_queued_building_ready() -> None:
    url = f"{API}/v13/deployments/jessie-abc.vercel.app"
    for state in ("QUEUED", "BUILDING", "READY"):
        responses.get(url, json=_deployment(state), match=[matchers.query_param_matcher({"teamId": "team_abc"})])
    sleeps = FakeClock()
    ready = vercel.wait_until_ready(
        PROJECT, "https://jessie-abc.vercel.app", poll_s=5, sleep=sleeps.sleep, clock=sleeps
    )
    assert ready["readyState"] == "READY"
    assert sleeps.slept == [5, 5]
    assert responses.calls[0].request.headers["Authorization"] == "Bearer vercel-token-123"


@responses.activate
@pytest.mark.parametrize("state", ["ERROR", "CANCELED"])
def test_a_failed_deployment_names_its_inspector(state: str) -> None:
    responses.get(f"{API}/v13/deployments/jessie-abc.vercel.app", json=_deployment(state))
    with pytest.raises(DeploymentFailed, match=rf"is {state}: see https://vercel.com/team/jessie/dpl_1"):
        vercel.wait_until_ready(PROJECT, "jessie-abc.vercel.app", sleep=FakeClock().sleep)


@responses.activate
def test_waiting_times_out_with_the_inspector_url() -> None:
    responses.get(f"{API}/v13/deployments/jessie-abc.vercel.app", json=_deployment("BUILDING"))
    sleeps = FakeClock()
    with pytest.raises(DeploymentFailed, match=r"still BUILDING after 30s: see https://vercel.com"):
        vercel.wait_until_ready(
            PROJECT, "jessie-abc.vercel.app", timeout_s=30, poll_s=10, sleep=sleeps.sleep, clock=sleeps
        )
    assert sleeps.slept == [10, 10, 10]


@responses.activate
def test_an_unknown_deployment_is_a_clear_error() -> None:
    responses.get(f"{API}/v13/deployments/nope.vercel.app", status=404, json={"error": {"code": "not_found"}})
    with pytest.raises(ApiError, match="HTTP 404"):
        vercel.get_deployment(PROJECT, "nope.vercel.app")


@responses.activate
def test_the_preview_of_a_commit_is_found_for_reuse() -> None:
    responses.get(
        f"{API}/v6/deployments",
        json={
            "deployments": [
                {"uid": "dpl_old", "url": "old.vercel.app", "state": "READY", "target": None, "created": 1},
                {"uid": "dpl_bad", "url": "bad.vercel.app", "state": "ERROR", "target": None, "created": 3},
                {"uid": "dpl_new", "url": "new.vercel.app", "state": "READY", "target": None, "created": 2},
            ]
        },
        match=[
            matchers.query_param_matcher(
                {"projectId": "prj_xyz", "limit": "20", "meta-githubCommitSha": "abc123", "teamId": "team_abc"}
            )
        ],
    )
    found = vercel.find_preview_for_commit(PROJECT, "abc123")
    assert found is not None and found["uid"] == "dpl_new"


@responses.activate
def test_no_preview_for_a_commit_means_none() -> None:
    responses.get(f"{API}/v6/deployments", json={"deployments": []})
    assert vercel.find_preview_for_commit(PROJECT, "abc123") is None


@responses.activate
def test_the_current_production_is_read_from_the_project() -> None:
    project_url = f"{API}/v9/projects/prj_xyz"
    live = {"id": "dpl_live", "url": "jessie-abc.vercel.app"}
    responses.get(project_url, json={"id": "prj_xyz", "targets": {"production": live}})
    responses.get(project_url, json={"id": "prj_xyz", "targets": {}})
    assert vercel.current_production(PROJECT) == live
    assert vercel.current_production(PROJECT) is None  # before the first promote
    assert responses.calls[0].request.url == project_url + "?teamId=team_abc"


def test_the_production_domain_is_the_promoted_deployments_alias() -> None:
    assert vercel.production_domain({"url": "d.vercel.app", "alias": ["jessie.example.com"]}) == (
        "https://jessie.example.com"
    )
    with pytest.raises(DeploymentFailed, match="has no Production domain after the promote"):
        vercel.production_domain({"url": "d.vercel.app", "alias": []})


def test_personal_accounts_send_no_team_id() -> None:
    personal = VercelProject("t", "usr_123", "prj_1", API)
    assert personal.query(limit=1) == "?limit=1"
    assert PROJECT.query() == "?teamId=team_abc"


# ---- GitHub -------------------------------------------------------------------------------

GH = "https://api.github.test"
REPO = github.Repository("gh-token", "octo/jessie", GH)


@responses.activate
def test_the_sticky_comment_is_created_once_then_updated() -> None:
    comments: list[dict[str, Any]] = [{"id": 1, "body": "a human comment"}]

    def listing(_request: object) -> tuple[int, dict[str, str], str]:
        return 200, {}, json.dumps(comments)

    def create(request: object) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)["body"]  # type: ignore[attr-defined]
        comments.append({"id": 2, "body": body})
        return 201, {}, json.dumps({"id": 2})

    def update(request: object) -> tuple[int, dict[str, str], str]:
        comments[1]["body"] = json.loads(request.body)["body"]  # type: ignore[attr-defined]
        return 200, {}, json.dumps({"id": 2})

    responses.add_callback(responses.GET, f"{GH}/repos/octo/jessie/issues/7/comments", callback=listing)
    responses.add_callback(responses.POST, f"{GH}/repos/octo/jessie/issues/7/comments", callback=create)
    responses.add_callback(responses.PATCH, f"{GH}/repos/octo/jessie/issues/comments/2", callback=update)
    assert github.upsert_sticky_comment(REPO, 7, "first report") == ("created", 2)
    assert github.upsert_sticky_comment(REPO, 7, "second report") == ("updated", 2)
    assert len(comments) == 2
    assert comments[1]["body"] == f"{github.MARKER}\nsecond report"
    assert responses.calls[0].request.headers["Authorization"] == "Bearer gh-token"


@responses.activate
def test_the_sticky_comment_is_found_on_a_later_page() -> None:
    first = [{"id": n, "body": "noise"} for n in range(100)]
    responses.get(
        f"{GH}/repos/octo/jessie/issues/9/comments",
        json=first,
        match=[matchers.query_param_matcher({"per_page": "100", "page": "1"})],
    )
    responses.get(
        f"{GH}/repos/octo/jessie/issues/9/comments",
        json=[{"id": 555, "body": f"{github.MARKER}\nold"}],
        match=[matchers.query_param_matcher({"per_page": "100", "page": "2"})],
    )
    responses.patch(f"{GH}/repos/octo/jessie/issues/comments/555", json={"id": 555})
    assert github.upsert_sticky_comment(REPO, 9, "new") == ("updated", 555)


@responses.activate
def test_a_read_only_token_fails_clearly() -> None:
    responses.get(f"{GH}/repos/octo/jessie/issues/3/comments", json=[])
    responses.post(
        f"{GH}/repos/octo/jessie/issues/3/comments",
        status=403,
        json={"message": "Resource not accessible by integration"},
    )
    with pytest.raises(ApiError, match=r"HTTP 403: .*Resource not accessible by integration"):
        github.upsert_sticky_comment(REPO, 3, "x")


@responses.activate
def test_a_deployment_and_its_status_are_recorded() -> None:
    responses.post(f"{GH}/repos/octo/jessie/deployments", json={"id": 42}, status=201)
    responses.post(f"{GH}/repos/octo/jessie/deployments/42/statuses", json={"id": 1}, status=201)
    assert github.record_deployment(REPO, "abc123", "Preview", "https://x.vercel.app", "https://run") == 42
    deployment = json.loads(responses.calls[0].request.body or b"")
    status = json.loads(responses.calls[1].request.body or b"")
    assert (deployment["ref"], deployment["environment"], deployment["transient_environment"]) == (
        "abc123",
        "Preview",
        True,
    )
    assert status == {
        "state": "success",
        "environment_url": "https://x.vercel.app",
        "auto_inactive": True,
        "log_url": "https://run",
    }


def test_a_fork_is_a_skip_with_a_reason(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {
                "pull_request": {
                    "number": 4,
                    "head": {"repo": {"fork": True, "full_name": "eve/jessie"}},
                    "base": {"repo": {"full_name": "octo/jessie"}},
                }
            }
        )
    )
    reason = github.skip_reason({"GITHUB_EVENT_PATH": str(event)})
    assert reason is not None and "eve/jessie" in reason and "no secrets" in reason
    same = tmp_path / "same.json"
    same.write_text(
        json.dumps(
            {
                "pull_request": {
                    "number": 4,
                    "head": {"repo": {"fork": False, "full_name": "octo/jessie"}},
                    "base": {"repo": {"full_name": "octo/jessie"}},
                }
            }
        )
    )
    assert github.skip_reason({"GITHUB_EVENT_PATH": str(same)}) is None


def test_the_job_summary_stays_under_one_mebibyte(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    github.write_summary("x" * (3 * 1024 * 1024), {"GITHUB_STEP_SUMMARY": str(summary)})
    text = summary.read_text()
    assert len(text.encode()) < github.SUMMARY_LIMIT_BYTES
    assert "cut to fit GitHub's 1 MiB summary limit" in text
