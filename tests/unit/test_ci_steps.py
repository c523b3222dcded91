"""ci/: URL extraction, the deploy step's decisions, and the JUnit → Markdown report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ci import deploy, report, vercel
from ci.vercel import DeploymentFailed, MissingConfig

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(
    ("stdout", "url"),
    [
        ("https://jessie-git-feature-team.vercel.app\n", "https://jessie-git-feature-team.vercel.app"),
        ("\n  https://jessie-3k2j1.vercel.app  \n\n", "https://jessie-3k2j1.vercel.app"),
        ("Vercel CLI 58.10.0\nhttps://jessie-3k2j1.vercel.app\n", "https://jessie-3k2j1.vercel.app"),
    ],
)
def test_the_one_url_on_stdout_is_the_deployment(stdout: str, url: str) -> None:
    assert vercel.parse_deployment_url(stdout) == url


@pytest.mark.parametrize(
    "stdout",
    [
        "",
        "Deployment queued\n",
        "Inspect: https://vercel.com/team/jessie/abc\nhttps://jessie-3k2j1.vercel.app\n",
        "https://a.vercel.app\nhttps://b.vercel.app\n",
        "WARNING! see https://vercel.com/docs for details\n",
    ],
)
def test_anything_but_exactly_one_url_is_refused(stdout: str) -> None:
    with pytest.raises(DeploymentFailed, match="expected exactly one deployment URL"):
        vercel.parse_deployment_url(stdout)


def test_captured_cli_outputs() -> None:
    """Real `vercel deploy --prebuilt` output from the pinned CLI (see fixtures/capture_vercel_outputs.py)."""
    captured = json.loads((FIXTURES / "vercel_deploy_outputs.json").read_text())
    assert {case["name"] for case in captured} >= {"preview", "production", "bad token"}
    for case in captured:
        if case["exit"] == 0:
            assert vercel.parse_deployment_url(case["stdout"]) == case["url"], case["name"]
            # stderr carries the same URL beside an inspector link: taking it from there is refused
            with pytest.raises(DeploymentFailed):
                vercel.parse_deployment_url(case["stderr"])
        else:
            with pytest.raises(DeploymentFailed):
                vercel.parse_deployment_url(case["stdout"])


def test_a_fork_pull_request_is_skipped_not_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {
                "pull_request": {
                    "number": 5,
                    "head": {"sha": "abc", "repo": {"fork": True, "full_name": "eve/jessie"}},
                    "base": {"repo": {"full_name": "octo/jessie"}},
                }
            }
        )
    )
    output, summary = tmp_path / "output", tmp_path / "summary"
    for name in ("VERCEL_TOKEN", "VERCEL_ORG_ID", "VERCEL_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert deploy.main(["preview", "--reuse"]) == 0
    assert capsys.readouterr().out.startswith("skipped: pull request from the fork eve/jessie")
    assert output.read_text() == "url=\n"
    assert "skipped" in summary.read_text()


def test_missing_secrets_on_the_main_repository_are_an_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_EVENT_PATH", raising=False)
    for name in ("VERCEL_TOKEN", "VERCEL_ORG_ID", "VERCEL_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    assert deploy.main(["production"]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: missing VERCEL_TOKEN, VERCEL_ORG_ID, VERCEL_PROJECT_ID")
    assert "\n" not in error


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="0" failures="1" skipped="1" tests="4" time="12.5">
<testcase classname="tests.e2e.test_site" name="test_home" time="1.0"/>
<testcase classname="tests.e2e.test_site" name="test_health" time="0.5"/>
<testcase classname="tests.e2e.test_site" name="test_cron[None]" time="0.2">
  <failure message="AssertionError: assert 500 == 401 | pipe">trace line 1
trace line 2</failure></testcase>
<testcase classname="tests.e2e.test_site" name="test_walk" time="0"><skipped message="local only"/></testcase>
</testsuite></testsuites>"""


def test_junit_becomes_a_report_of_each_step_with_where_a_failure_left_its_evidence(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    kept = tmp_path / "failures" / "tests-e2e-test-site-py-test-cron-none"  # pytest-playwright's folder name
    kept.mkdir(parents=True)
    (kept / "test-failed-1.png").write_bytes(b"png")
    (kept / "trace.zip").write_bytes(b"zip")
    results = report.read_junit(path)
    counts = tuple(results.count(outcome) for outcome in ("passed", "failed", "skipped"))
    assert (counts, results.seconds) == ((2, 1, 1), 12.5)
    text = report.markdown(
        results,
        "Playwright on the Preview",
        "https://preview.example",
        "abc123",
        "https://github.com/o/r/actions/runs/1",
        address="https://jessie-pr-7.vercel.app",
        artifact_url="https://github.com/o/r/actions/runs/1/artifacts/9",
        failures=tmp_path / "failures",
    )
    assert text.startswith("### ❌ Playwright on the Preview\n")
    assert "| The pull request's address | https://jessie-pr-7.vercel.app |" in text
    assert "| The deployment | https://preview.example |" in text
    assert "| Commit | `abc123` |" in text and "| Duration | 12.5 s |" in text
    assert "| 2 | 1 | 1 |" in text
    assert "| home | ✅ passed | 1.0 s |" in text
    assert "| walk | ⏭️ skipped: local only | 0.0 s |" in text
    failed = next(line for line in text.splitlines() if line.startswith("| cron (None) |"))
    assert "❌ failed: AssertionError: assert 500 == 401 \\| pipe" in failed
    assert "[the run's artifact](https://github.com/o/r/actions/runs/1/artifacts/9)" in failed
    assert "`failures/tests-e2e-test-site-py-test-cron-none/test-failed-1.png`" in failed
    assert "`failures/tests-e2e-test-site-py-test-cron-none/trace.zip`" in failed
    assert "[The run](https://github.com/o/r/actions/runs/1) and [its artifact](" in text


def test_a_missing_junit_file_is_a_failed_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert report.main([str(tmp_path / "absent.xml")]) == 1
    assert "the suite did not run" in summary.read_text()


def test_the_vercel_cli_never_inherits_an_active_python_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """nox exports VIRTUAL_ENV and UV_PYTHON; the builder's `uv pip install vercel-runtime`
    would follow them into nox's environment and the function would ship without it."""
    for name, value in {
        "VIRTUAL_ENV": "/x/.nox/build",
        "UV_PYTHON": "/x/python",
        "UV_PROJECT_ENVIRONMENT": "/x",
    }.items():
        monkeypatch.setenv(name, value)
    project = vercel.VercelProject("token", "team_1", "prj_1")
    env = vercel.cli_environment(project)
    assert not {"VIRTUAL_ENV", "UV_PYTHON", "UV_PROJECT_ENVIRONMENT"} & set(env)
    assert (env["VERCEL_TOKEN"], env["VERCEL_PROJECT_ID"]) == ("token", "prj_1")


@pytest.mark.parametrize("unreadable", ["", "[SENSITIVE]"])
def test_a_sensitive_database_url_is_missing_with_what_to_do(monkeypatch: pytest.MonkeyPatch, unreadable: str) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(MissingConfig, match=r"Sensitive variable.*GitHub secret PRODUCTION_DATABASE_URL"):
        deploy.migration_database("production", {"DATABASE_URL": unreadable, "POSTGRES_URL": unreadable})
    with pytest.raises(MissingConfig, match="preview environment on Vercel has no DATABASE_URL"):
        deploy.migration_database("preview", {})
    readable: dict[str, str | None] = {"DATABASE_URL": unreadable, "POSTGRES_URL": "postgres://pooler:6543/db"}
    assert deploy.migration_database("preview", readable) == "postgres://pooler:6543/db"
    monkeypatch.setenv("DATABASE_URL", "postgres://from-the-secret/db")
    assert deploy.migration_database("production", {"DATABASE_URL": ""}) == "postgres://from-the-secret/db"
