"""The actions our workflows use, at the commits they pin, and where act gets their code.

GitHub cannot be reached here, so act runs each action from a local directory
(`--local-repository owner/name@sha=DIR`, with `--action-offline-mode`): the real code of
checkout, setup-python and setup-node, unpacked from archives of exactly those commits
(test data in the directory JESSIE_ACTIONS_DIR names, by default ../shared/actions; nothing
of them is copied into this repository), and for upload-artifact, whose built code cannot be
had offline, the stand-in under tests/pipeline/upload_artifact. Without the archives act
fetches the real actions from GitHub, as on any connected machine.

PINS is the one place that names the commits: the workflows must pin exactly these, and
the archives must hold exactly these.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path
from typing import Any

import yaml

from tests.checkout import REPOSITORY

PINS: dict[str, str] = {
    "actions/checkout": "11bd71901bbe5b1630ceea73d27597364c9af683",  # v4.2.2
    "actions/setup-python": "a26af69be951a213d495a4c3e4e4022e16d87065",  # v5.6.0
    "actions/setup-node": "49933ea5288caeca8642d1e84afbd3f7d6820020",  # v4.4.0
    "actions/upload-artifact": "ea165f8d65b6e75b540449e92b4886f43607fa02",  # v4.6.2
}
STAND_INS = {"actions/upload-artifact": Path(__file__).resolve().parent / "upload_artifact"}
DEFAULT_ARCHIVES = REPOSITORY.parent / "shared" / "actions"


class PinDrift(AssertionError):
    """The workflows, PINS and the archives disagree about which commit an action is at."""


def workflow_pins(workflows: Path) -> dict[str, set[str]]:
    """Every `uses:` of every workflow, as action → the refs it is used at."""
    used: dict[str, set[str]] = {}
    for path in sorted(workflows.glob("*.yml")):
        document: dict[str, Any] = yaml.safe_load(path.read_text())
        for job in document.get("jobs", {}).values():
            for step in job.get("steps", []):
                if "uses" in step:
                    action, _, ref = step["uses"].partition("@")
                    used.setdefault(action, set()).add(ref)
    return used


def check_workflow_pins(workflows: Path) -> None:
    problems = []
    for action, refs in sorted(workflow_pins(workflows).items()):
        if action not in PINS:
            problems.append(f"the workflows use {action}, which tests/pipeline/actions.py does not pin")
        elif refs != {PINS[action]}:
            problems.append(
                f"the workflows use {action} at {', '.join(sorted(refs))}, "
                f"tests/pipeline/actions.py pins {PINS[action]}"
            )
    if problems:
        raise PinDrift("; ".join(problems) + ": change the workflows and PINS together (and the archives)")


def archives() -> Path | None:
    """The directory of action archives, when this machine has one."""
    given = Path(os.environ.get("JESSIE_ACTIONS_DIR") or DEFAULT_ARCHIVES)
    return given if given.is_dir() else None


def archive_for(action: str, directory: Path) -> Path:
    """`<name>@<sha>.tar.gz` for the pinned commit, or a PinDrift naming what is there."""
    name = action.split("/", 1)[1]
    wanted = directory / f"{name}@{PINS[action]}.tar.gz"
    if not wanted.exists():
        held = sorted(p.name for p in directory.glob(f"{name}@*.tar.gz")) or ["nothing"]
        raise PinDrift(
            f"{action} is pinned at {PINS[action]}, but {directory} holds {', '.join(held)} for it: "
            "provide the archive of the pinned commit, or pin the commit the archive holds"
        )
    return wanted


def local_repositories(unpack_into: Path) -> list[str]:
    """act's `--local-repository` arguments: stand-ins always, archives when there are some."""
    directory = archives()
    mapped = []
    for action, sha in PINS.items():
        if action in STAND_INS:
            source = STAND_INS[action]
        elif directory is None:
            continue  # act fetches it from GitHub
        else:
            source = unpack_into / f"{action.split('/', 1)[1]}@{sha}"
            if not source.exists():
                with tarfile.open(archive_for(action, directory)) as archive:
                    archive.extractall(source, filter="data")
        mapped += ["--local-repository", f"{action}@{sha}={source}"]
    return mapped
