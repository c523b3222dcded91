"""Test mode: a Preview that carries its own Gmail + Google OAuth stand-in (sandbox/gmail/deployed.py),
so the pull request's Playwright walk can connect Gmail on it, sync, and see the mail.

No build carries the stand-in by accident: vercel.json's excludeFiles keeps sandbox/ out of every
function and .vercelignore out of every upload. A test-mode Preview gets it added to its built
function (files inside the `.func` folder ship with the Build Output); the build check then
imports it from the function's files alone, as it imports the app, and refuses a Production build
that carries it. The deployment is told with JESSIE_TEST_MODE=1 (api/index.py mounts the stand-in).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from app.config import CRON_PATH
from ci.build_output import load_json, resolve_function

PACKAGE = "sandbox"
SOURCES = ("sandbox/__init__.py", "sandbox/gmail")  # all that sandbox/gmail/deployed.py imports of sandbox/
MODULE = "sandbox.gmail.deployed"
VARIABLE = "JESSIE_PREVIEW_TEST_MODE"  # the repository variable: "false" deploys Previews without it


def wanted() -> bool:
    """Previews have test mode unless the repository turns it off (to try real Google through the relay)."""
    return os.environ.get(VARIABLE, "").strip().lower() not in ("false", "0", "no", "off")


def carries_stand_in(inside_paths: Iterable[str]) -> bool:
    return any(path.split("/", 1)[0] == PACKAGE for path in inside_paths)


def add_stand_in(project: Path) -> int:
    """Copy the stand-in into the built function that serves the app; returns the files added."""
    output = project / ".vercel" / "output"
    function = resolve_function(
        output, load_json(output / "config.json", "run `vercel build` first")["routes"], CRON_PATH
    )
    added = 0
    for source in SOURCES:
        origin = project / source
        for path in [origin] if origin.is_file() else sorted(origin.rglob("*.py")):
            target = function / path.relative_to(project)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            added += 1
    return added
