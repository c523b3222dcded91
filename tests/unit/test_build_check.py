"""The Build Output check, on small hand-made outputs shaped like `vercel build` writes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ci import build_check
from ci.build_check import BuildCheckError, check_output, main

GOOD_VERCEL_JSON = {"crons": [{"path": "/api/cron/email-sync", "schedule": "0 * * * *"}]}
ROUTES = [
    {"handle": "filesystem"},
    {"src": "^(?:/(.*))$", "dest": "/api/index", "check": True},
    {"handle": "error"},
]


def _project(
    tmp_path: Path,
    vercel_json: object = GOOD_VERCEL_JSON,
    crons: object = None,
    routes: object = None,
    function: str = "api/index",
) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "vercel.json").write_text(vercel_json if isinstance(vercel_json, str) else json.dumps(vercel_json))
    output = tmp_path / ".vercel" / "output"
    func = output / "functions" / f"{function}.func"
    func.mkdir(parents=True)
    (tmp_path / "app.py").write_bytes(b"x" * 1000)
    config = {"runtime": "python3.12", "maxDuration": 300, "filePathMap": {"app.py": "app.py"}}
    (func / ".vc-config.json").write_text(json.dumps(config))
    crons = GOOD_VERCEL_JSON["crons"] if crons is None else crons
    (output / "config.json").write_text(json.dumps({"version": 3, "routes": routes or ROUTES, "crons": crons}))
    return tmp_path


def test_a_good_output_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = check_output(_project(tmp_path))
    assert report.function == "functions/api/index.func"
    assert report.bundle_bytes > 1000
    assert main([str(tmp_path)]) == 0
    assert "bundle: 0.0 MB of 250 MB" in capsys.readouterr().out


def test_malformed_vercel_json_is_named_with_its_position(tmp_path: Path) -> None:
    with pytest.raises(BuildCheckError, match=r"vercel.json is not valid JSON \(line 1, column 12\)"):
        check_output(_project(tmp_path, vercel_json='{"crons": [}'))


DAILY = {"crons": [{"path": "/api/cron/email-sync", "schedule": "0 0 * * *"}]}


@pytest.mark.parametrize("vercel_json", [{}, {"crons": []}, DAILY])
def test_a_missing_or_changed_cron_fails(tmp_path: Path, vercel_json: dict) -> None:
    with pytest.raises(BuildCheckError, match="must declare the hourly cron"):
        check_output(_project(tmp_path, vercel_json=vercel_json))


def test_the_output_must_list_the_cron_too(tmp_path: Path) -> None:
    with pytest.raises(BuildCheckError, match="lists no hourly cron"):
        check_output(_project(tmp_path, crons=[]))


def test_the_cron_path_must_reach_an_existing_function(tmp_path: Path) -> None:
    with pytest.raises(BuildCheckError, match=r"routes to /api/index, but .* does not exist"):
        check_output(_project(tmp_path, function="api/other"))
    forbidding = [{"src": "^/api(/.*)?$", "status": 404}]
    with pytest.raises(BuildCheckError, match="answered with status 404"):
        check_output(_project(tmp_path / "b", routes=forbidding))


def test_an_oversized_bundle_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_check, "BUNDLE_LIMIT_BYTES", 500)
    with pytest.raises(BuildCheckError, match="over Vercel's 250 MB limit"):
        check_output(_project(tmp_path))
