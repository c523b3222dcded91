"""The Build Output check, on small hand-made outputs shaped like `vercel build` writes them:
a handler in the `.func` folder, the app and its vendored dependency in `filePathMap`; the
sweep's queue consumer beside the cron's function, with its trigger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ci import build_check
from ci.build_check import BuildCheckError, check_output, main

GOOD_VERCEL_JSON = {
    "crons": [{"path": "/api/cron/email-sync", "schedule": "0 * * * *"}],
    "functions": {"api/index.py": {"maxDuration": 300}},
}
ROUTES = [
    {"handle": "filesystem"},
    {"src": "^(?:/(.*))$", "dest": "/api/index", "check": True},
    {"handle": "error"},
]
VENDORED = ".vercel/python/.venv/lib/python3.12/site-packages"


def _project(
    tmp_path: Path,
    vercel_json: object = GOOD_VERCEL_JSON,
    crons: object = None,
    routes: object = None,
    function: str = "api/index",
    handler: str = "import dependency\nimport app\n",
    file_path_map: dict[str, str] | None = None,
    trigger: dict[str, Any] | None = None,
) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "vercel.json").write_text(vercel_json if isinstance(vercel_json, str) else json.dumps(vercel_json))
    output = tmp_path / ".vercel" / "output"
    func = output / "functions" / f"{function}.func"
    func.mkdir(parents=True)
    (func / "vc__handler__python.py").write_text(handler)
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "web.py").write_text("import dependency\n" + "# padding\n" * 100)
    (tmp_path / VENDORED).mkdir(parents=True)
    (tmp_path / VENDORED / "dependency.py").write_text("VALUE = 1\n")
    mapping = file_path_map or {
        "app/__init__.py": "app/__init__.py",
        "app/web.py": "app/web.py",
        "_vendor/dependency.py": f"{VENDORED}/dependency.py",
    }
    config: dict[str, Any] = {
        "runtime": "python3.12",
        "handler": "vc__handler__python.vc_handler",
        "maxDuration": 300,
        "environment": {"PYTHONPATH": "_vendor"},
        "filePathMap": mapping,
    }
    (func / ".vc-config.json").write_text(json.dumps(config))
    consumer = output / "functions" / "api/queue/sweep.func"
    consumer.mkdir(parents=True)
    (consumer / "vc__handler__python.py").write_text(handler)
    triggers = [build_check.expected_trigger() if trigger is None else trigger]
    (consumer / ".vc-config.json").write_text(json.dumps({**config, "experimentalTriggers": triggers}))
    crons = GOOD_VERCEL_JSON["crons"] if crons is None else crons
    (output / "config.json").write_text(json.dumps({"version": 3, "routes": routes or ROUTES, "crons": crons}))
    return tmp_path


def test_a_good_output_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = check_output(_project(tmp_path))
    assert report.function == "functions/api/index.func"
    assert (report.files, report.bundle_bytes > 1000) == (4, True)
    assert main([str(tmp_path)]) == 0
    shown = capsys.readouterr().out
    assert "bundle: 4 files, 0.0 MB of 250 MB; imports from the function alone" in shown
    assert "queue consumer: sweep.func takes jessie-sweep as api_Squeue_Ssweep_Dpy, 4 at once" in shown


@pytest.mark.parametrize(
    "change",
    [
        {"maxConcurrency": 8},  # more than the connection budget's live runs allow
        {"consumer": "api_Sindex_Dpy"},  # not the group the app subscribes as
        {"topic": "jessie"},
        {"maxDeliveries": None},
    ],
)
def test_the_queue_trigger_must_be_the_one_the_app_subscribes_to(tmp_path: Path, change: dict[str, Any]) -> None:
    trigger = {key: value for key, value in {**build_check.expected_trigger(), **change}.items() if value is not None}
    with pytest.raises(BuildCheckError, match=r"sweep.func must carry the queue trigger"):
        check_output(_project(tmp_path, trigger=trigger))


def test_the_queue_trigger_follows_the_connection_budget() -> None:
    """60 connections, 11 an invocation: five live runs, the cron's own and four from the queue."""
    assert build_check.expected_trigger()["maxConcurrency"] == 4


def test_malformed_vercel_json_is_named_with_its_position(tmp_path: Path) -> None:
    with pytest.raises(BuildCheckError, match=r"vercel.json is not valid JSON \(line 1, column 12\)"):
        check_output(_project(tmp_path, vercel_json='{"crons": [}'))


DAILY = {"crons": [{"path": "/api/cron/email-sync", "schedule": "0 0 * * *"}]}


@pytest.mark.parametrize("vercel_json", [{}, {"crons": []}, DAILY])
def test_a_missing_or_changed_cron_fails(tmp_path: Path, vercel_json: dict[str, Any]) -> None:
    with pytest.raises(BuildCheckError, match="must declare the hourly cron"):
        check_output(_project(tmp_path, vercel_json=vercel_json))


def test_vercel_json_and_the_sync_budget_agree_on_the_max_duration(tmp_path: Path) -> None:
    shorter = {**GOOD_VERCEL_JSON, "functions": {"api/index.py": {"maxDuration": 60}}}
    with pytest.raises(BuildCheckError, match="maxDuration 60, but JESSIE_FUNCTION_MAX_DURATION defaults to 300"):
        check_output(_project(tmp_path, vercel_json=shorter))


def test_the_output_must_list_the_cron_of_the_plan(tmp_path: Path) -> None:
    with pytest.raises(BuildCheckError, match="on the pro plan the build output must list the cron"):
        check_output(_project(tmp_path, crons=[]))
    hourly = _project(tmp_path / "hourly")
    with pytest.raises(BuildCheckError, match=r"on the hobby plan .* '0 5 \* \* \*'"):
        check_output(hourly, "hobby")
    daily = [{"path": "/api/cron/email-sync", "schedule": "0 5 * * *"}]
    assert check_output(_project(tmp_path / "daily", crons=daily), "hobby").crons == daily


def test_the_cron_path_must_reach_an_existing_function(tmp_path: Path) -> None:
    with pytest.raises(BuildCheckError, match=r"routes to /api/index, but .* does not exist"):
        check_output(_project(tmp_path, function="api/other"))
    forbidding = [{"src": "^/api(/.*)?$", "status": 404}]
    with pytest.raises(BuildCheckError, match="answered with status 404"):
        check_output(_project(tmp_path / "b", routes=forbidding))


def test_an_unanchored_vercelignore_rule_that_drops_the_dependencies_fails(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / ".vercelignore").write_text("/tests\n.venv\n")
    with pytest.raises(BuildCheckError, match=r"\.vercelignore drops 1 file\(s\) .*dependency\.py: anchor the rule"):
        check_output(project)
    (project / ".vercelignore").write_text("/tests\n/.venv\n")
    check_output(project)


def test_a_dependency_missing_from_the_function_fails_even_if_this_machine_has_it(tmp_path: Path) -> None:
    # pytest is installed where this test runs, but a function only has its own files.
    with pytest.raises(BuildCheckError, match=r"does not import from its own files: .*No module named 'pytest'"):
        check_output(_project(tmp_path, handler="import pytest\n"))
    # A module of the app imports something the map left out: caught although the handler never imports it.
    partial = {"app/__init__.py": "app/__init__.py", "app/web.py": "app/web.py"}
    with pytest.raises(BuildCheckError, match="No module named 'dependency'"):
        check_output(_project(tmp_path / "b", handler="import app\n", file_path_map=partial))


def test_a_missing_source_is_named(tmp_path: Path) -> None:
    mapping = {"app/__init__.py": "app/__init__.py", "_vendor/gone.py": f"{VENDORED}/gone.py"}
    with pytest.raises(BuildCheckError, match=r"1 filePathMap source\(s\) do not exist, e.g. .*gone\.py"):
        check_output(_project(tmp_path, file_path_map=mapping))


def test_an_oversized_bundle_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_check, "BUNDLE_LIMIT_BYTES", 500)
    with pytest.raises(BuildCheckError, match="over Vercel's 250 MB limit"):
        check_output(_project(tmp_path))


def _with_stand_in(project: Path, target: str) -> Path:
    """The output as `vercel build` (for `target`) and then ci/test_mode.py leave it: the Gmail
    stand-in's files copied into the function."""
    (project / ".vercel" / "output" / "builds.json").write_text(json.dumps({"target": target, "builds": []}))
    stand_in = project / ".vercel" / "output" / "functions" / "api" / "index.func" / "sandbox" / "gmail"
    stand_in.mkdir(parents=True)
    (stand_in.parent / "__init__.py").write_text("")
    (stand_in / "__init__.py").write_text("")
    (stand_in / "deployed.py").write_text("import app\n")
    return project


def test_a_production_build_that_carries_the_gmail_stand_in_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BuildCheckError, match="Production build carries the Gmail stand-in"):
        check_output(_with_stand_in(_project(tmp_path), "production"))


def test_a_test_mode_preview_build_carries_it_and_it_must_import(tmp_path: Path) -> None:
    report = check_output(_with_stand_in(_project(tmp_path / "good"), "preview"))
    assert report.stand_in and "test mode: the Gmail stand-in is in the function" in "\n".join(report.lines())
    broken = _with_stand_in(_project(tmp_path / "broken"), "preview")
    (broken / ".vercel/output/functions/api/index.func/sandbox/gmail/deployed.py").write_text("import not_shipped\n")
    with pytest.raises(BuildCheckError, match="No module named 'not_shipped'"):
        check_output(broken)
    assert not check_output(_project(tmp_path / "plain")).stand_in
