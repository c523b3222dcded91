"""The commits the workflows pin, the one table that names them, and the archives act runs
offline: any two that disagree stop the pipeline test with a message naming both."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest

from tests.pipeline import actions

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"


def test_the_workflows_pin_exactly_the_commits_of_the_table() -> None:
    actions.check_workflow_pins(WORKFLOWS)
    assert set(actions.workflow_pins(WORKFLOWS)) == set(actions.PINS)


def test_a_workflow_pinning_another_commit_is_named(tmp_path: Path) -> None:
    shutil.copytree(WORKFLOWS, tmp_path, dirs_exist_ok=True)
    ci = tmp_path / "ci.yml"
    ci.write_text(ci.read_text().replace(actions.PINS["actions/setup-python"], "0" * 40, 1))
    with pytest.raises(
        actions.PinDrift, match=f"actions/setup-python at {'0' * 40}, .* pins {actions.PINS['actions/setup-python']}"
    ):
        actions.check_workflow_pins(tmp_path)


def test_archives_of_another_commit_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archives = tmp_path / "archives"
    archives.mkdir()
    names = [f"checkout@{actions.PINS['actions/checkout']}", f"setup-python@{actions.PINS['actions/setup-python']}"]
    for name in [*names, f"setup-node@{'1' * 40}"]:
        with tarfile.open(archives / f"{name}.tar.gz", "w:gz"):
            pass
    monkeypatch.setenv("JESSIE_ACTIONS_DIR", str(archives))
    with pytest.raises(
        actions.PinDrift,
        match=f"setup-node is pinned at {actions.PINS['actions/setup-node']}, but .* holds setup-node@{'1' * 40}",
    ):
        actions.local_repositories(tmp_path / "unpacked")


def test_without_archives_only_the_stand_in_is_mapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JESSIE_ACTIONS_DIR", str(tmp_path / "absent"))
    mapped = actions.local_repositories(tmp_path / "unpacked")
    assert mapped == [
        "--local-repository",
        f"actions/upload-artifact@{actions.PINS['actions/upload-artifact']}={actions.STAND_INS['actions/upload-artifact']}",
    ]
