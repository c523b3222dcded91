"""The local Vercel and GitHub keep the rules ci/ depends on (the pipeline test drives the rest)."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterator

import pytest
import requests

from ci import github
from ci.http import Api, ApiError
from sandbox.github.server import READ_ONLY, WORKFLOW, LocalGitHub
from sandbox.vercel.cron import due
from sandbox.vercel.server import LocalVercel


@pytest.fixture
def local_github() -> Iterator[LocalGitHub]:
    with LocalGitHub() as server:
        server.token("workflow", WORKFLOW)
        server.token("fork", READ_ONLY)
        yield server


def test_a_read_only_fork_token_cannot_comment(local_github: LocalGitHub) -> None:
    fork = github.Repository("fork", "jessie/jessie", local_github.url)
    with pytest.raises(ApiError, match=r"HTTP 403: .*Resource not accessible by integration"):
        github.upsert_sticky_comment(fork, 3, "report")
    with pytest.raises(ApiError, match="HTTP 403"):
        github.record_deployment(fork, "abc", "Preview", "https://x")
    unknown = github.Repository("nobody", "jessie/jessie", local_github.url)
    with pytest.raises(ApiError, match="HTTP 401"):
        github.upsert_sticky_comment(unknown, 3, "report")


def test_the_workflow_token_comments_once_and_records_deployments(local_github: LocalGitHub) -> None:
    repo = github.Repository("workflow", "jessie/jessie", local_github.url)
    assert github.upsert_sticky_comment(repo, 3, "one")[0] == "created"
    assert github.upsert_sticky_comment(repo, 3, "two")[0] == "updated"
    github.record_deployment(repo, "abc", "Preview", "https://127.0.0.1:1")
    state = requests.get(f"{local_github.url}/_sandbox/state", timeout=10).json()
    assert [c["body"].splitlines()[-1] for c in state["comments"]["3"]] == ["two"]
    assert state["deployments"][0]["statuses"][0]["environment_url"] == "https://127.0.0.1:1"


def test_the_local_github_sends_rate_limit_headers_and_secondary_limits(local_github: LocalGitHub) -> None:
    sleeps: list[float] = []
    api = Api(local_github.url, {"Authorization": "Bearer workflow"}, sleep=sleeps.append)
    listed = api.request("GET", "/repos/jessie/jessie/issues/3/comments")
    assert int(listed.headers["x-ratelimit-remaining"]) == 1000 - int(listed.headers["x-ratelimit-used"])
    requests.post(f"{local_github.url}/_sandbox/secondary-limit", json={"requests": 1, "status": 403}, timeout=10)
    requests.post(
        f"{local_github.url}/_sandbox/secondary-limit",
        json={"requests": 1, "status": 429, "retry_after": 7},
        timeout=10,
    )
    assert api.json("GET", "/repos/jessie/jessie/issues/3/comments") == []
    assert sleeps == [60.0, 7.0]  # a minute without retry-after (GitHub's advice), else what it says
    # The sticky comment survives a secondary limit (here with a one-second retry-after).
    requests.post(
        f"{local_github.url}/_sandbox/secondary-limit",
        json={"requests": 1, "status": 403, "retry_after": 1},
        timeout=10,
    )
    repo = github.Repository("workflow", "jessie/jessie", local_github.url)
    assert github.upsert_sticky_comment(repo, 4, "report")[0] == "created"


@pytest.fixture(scope="module")
def local_vercel() -> Iterator[LocalVercel]:
    with LocalVercel() as server:
        yield server


def test_uploads_are_checked_against_their_sha1(local_vercel: LocalVercel) -> None:
    headers = {"Authorization": f"Bearer {local_vercel.state.token}"}
    body = b"hello"
    good = hashlib.sha1(body, usedforsecurity=False).hexdigest()
    sent = requests.post(
        f"{local_vercel.url}/v2/files",
        data=body,
        timeout=10,
        headers={**headers, "x-now-digest": good, "x-now-size": "5"},
    )
    assert sent.status_code == 200
    wrong = requests.post(
        f"{local_vercel.url}/v2/files",
        data=body,
        timeout=10,
        headers={**headers, "x-now-digest": "0" * 40, "x-now-size": "5"},
    )
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (400, "invalid_digest")


def test_a_deployment_waits_for_its_missing_files(local_vercel: LocalVercel) -> None:
    headers = {"Authorization": f"Bearer {local_vercel.state.token}"}
    files = [{"file": "api/index.py", "sha": "1" * 40, "size": 3, "mode": 33188}]
    answer = requests.post(
        f"{local_vercel.url}/v13/deployments?prebuilt=1",
        json={"name": "jessie", "files": files},
        headers=headers,
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == {"code": "missing_files", "message": "Missing files", "missing": ["1" * 40]}
    refused = requests.get(f"{local_vercel.url}/v2/user", headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("schedule", "moment", "expected"),
    [
        ("0 * * * *", (2026, 11, 26, 7, 0), True),
        ("0 * * * *", (2026, 11, 26, 7, 1), False),
        ("*/15 9-17 * * 1-5", (2026, 11, 26, 9, 45), True),  # a Thursday
        ("*/15 9-17 * * 1-5", (2026, 11, 29, 9, 45), False),  # a Sunday
        ("0 0 1 1 *", (2027, 1, 1, 0, 0), True),
    ],
)
def test_cron_schedules(schedule: str, moment: tuple[int, int, int, int, int], expected: bool) -> None:
    assert due(schedule, datetime.datetime(*moment, tzinfo=datetime.UTC)) is expected
