"""Vercel's Build Output API (v3) as the platform reads it: which function a path reaches,
what a function's directory holds once Vercel assembles it, and the bare Python it runs on.

A function is its `.func` folder plus every `.vc-config.json` `filePathMap` entry (the key
is the path inside the function, the value the uploaded file it comes from). Nothing else
is installed: what the map does not name does not exist at run time. The build check
(`ci/build_check.py`) owns this knowledge, and the local Vercel (`sandbox/vercel/`) assembles its
functions with it too, so "it imports here" and "it imports there" mean the same thing; it is
stdlib only.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal


class BuildOutputError(Exception):
    """The output is unreadable or incomplete; the message says what to fix."""


def load_json(path: Path, what: str) -> Any:
    if not path.exists():
        raise BuildOutputError(f"{path} is missing: {what}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise BuildOutputError(f"{path} is not valid JSON ({where}): {error.msg}") from None


def _substitute(destination: str, match: re.Match[str]) -> str:
    """`$1`-style references in a route's dest, filled from its src match."""
    return re.sub(r"\$(\d+)", lambda ref: match.group(int(ref.group(1))) or "", destination)


def route(routes: list[dict[str, Any]], path: str) -> str | int:
    """Follow config.json's routes (up to the filesystem miss phase): the function path a
    request reaches, or the status a route answers with instead."""
    current = path
    for rule in routes:
        if "handle" in rule:
            if rule["handle"] in ("error", "miss"):
                break
            continue
        match = re.match(rule.get("src", "^$"), current)
        if not match:
            continue
        if "status" in rule and "dest" not in rule:
            return int(rule["status"])
        if "dest" in rule:
            current = _substitute(rule["dest"], match).split("?")[0]
        if not rule.get("continue"):
            break
    return current


def resolve_function(output: Path, routes: list[dict[str, Any]], path: str) -> Path:
    """The `.func` folder that serves `path`, or an error saying why none does."""
    reached = route(routes, path)
    if isinstance(reached, int):
        raise BuildOutputError(f"{path} is answered with status {reached} by a route, not a function")
    candidate = output / "functions" / (reached.strip("/") + ".func")
    if not candidate.is_dir():
        raise BuildOutputError(f"{path} routes to {reached}, but {candidate} does not exist")
    return candidate


def function_config(function: Path) -> dict[str, Any]:
    config: dict[str, Any] = load_json(function / ".vc-config.json", "the function's configuration")
    return config


def function_files(function: str, uploaded: Iterable[str], config: dict[str, Any]) -> dict[str, str]:
    """Path inside the function → path of its source in the upload.

    `function` is the `.func` folder relative to the upload root (the folder holding
    `.vercel/output`); `uploaded` lists the upload's files, relative to that root.
    """
    prefix = function.rstrip("/") + "/"
    files = {
        path.removeprefix(prefix): path
        for path in uploaded
        if path.startswith(prefix) and path != prefix + ".vc-config.json"
    }
    files.update(config.get("filePathMap") or {})
    return files


def assemble(files: dict[str, Path | None], target: Path, *, how: Literal["symlink", "hardlink"]) -> None:
    """Lay the function out under `target`; every source must exist (a missing one, or one
    given as None, is an error naming it, never a silently smaller function)."""
    missing = sorted(inside for inside, source in files.items() if source is None or not source.is_file())
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise BuildOutputError(f"{len(missing)} file(s) of the function are missing from the upload: {shown}")
    for inside, source in files.items():
        assert source is not None
        destination = target / inside
        destination.parent.mkdir(parents=True, exist_ok=True)
        if how == "symlink":
            destination.symlink_to(source.resolve())
        else:
            try:
                destination.hardlink_to(source)
            except OSError:  # another filesystem
                shutil.copyfile(source, destination)


def bare_python(runtime: str, directory: Path) -> Path:
    """A `pythonX.Y` with nothing installed (a virtualenv of the base interpreter without
    pip or system site-packages): the image a Vercel function runs on, before `_vendor`."""
    match = re.fullmatch(r"python(\d+)\.(\d+)", runtime)
    if match is None:
        raise BuildOutputError(f"unsupported function runtime {runtime!r}")
    python = directory / "bin" / "python"
    if python.exists():
        return python
    wanted = f"{match.group(1)}.{match.group(2)}"
    base = getattr(sys, "_base_executable", sys.executable)
    if f"{sys.version_info.major}.{sys.version_info.minor}" != wanted:
        base = shutil.which(f"python{wanted}") or ""
        if not base:
            raise BuildOutputError(f"the function runs on Python {wanted}, which is not on PATH")
    done = subprocess.run(
        [base, "-m", "venv", "--without-pip", str(directory)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BuildOutputError(f"could not create a bare Python {wanted}: {done.stderr.strip()[-300:]}")
    return python


def function_environment(config: dict[str, Any]) -> dict[str, str]:
    """The variables every invocation of this function starts with (no host leftovers)."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        **{key: str(value) for key, value in (config.get("environment") or {}).items()},
    }
