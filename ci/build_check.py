"""Check a Vercel Build Output (`.vercel/output`) before anything is deployed from it.

- vercel.json is valid JSON and carries the hourly cron exactly as designed;
- the Build Output's config.json lists that cron;
- following config.json's routes, /api/cron/email-sync reaches a function that exists;
- that function's bundle (files listed in its .vc-config.json plus what sits in its
  folder) is under Vercel's 250 MB limit; its size is reported.

Every failure is one line that says what to fix.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CRON_PATH = "/api/cron/email-sync"
CRON = {"path": CRON_PATH, "schedule": "0 * * * *"}
BUNDLE_LIMIT_BYTES = 250 * 1024 * 1024


class BuildCheckError(Exception):
    pass


@dataclass
class BuildReport:
    function: str
    crons: list[dict[str, str]]
    bundle_bytes: int
    runtime: str
    max_duration: int | None

    def lines(self) -> list[str]:
        return [
            f"function serving {CRON_PATH}: {self.function} ({self.runtime}, maxDuration {self.max_duration}s)",
            "crons: " + ", ".join(f"{c['path']} @ '{c['schedule']}'" for c in self.crons),
            f"bundle: {self.bundle_bytes / 1024 / 1024:.1f} MB of {BUNDLE_LIMIT_BYTES // 1024 // 1024} MB",
        ]


def _load_json(path: Path, what: str) -> Any:
    if not path.exists():
        raise BuildCheckError(f"{path} is missing: {what}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise BuildCheckError(f"{path} is not valid JSON ({where}): {error.msg}") from None


def check_vercel_json(path: Path) -> None:
    config = _load_json(path, "the project's Vercel configuration")
    if not isinstance(config, dict):
        raise BuildCheckError(f"{path} must hold a JSON object")
    crons = config.get("crons")
    if not isinstance(crons, list) or CRON not in crons:
        raise BuildCheckError(f'{path} must declare the hourly cron {json.dumps(CRON)} under "crons"')


def _substitute(destination: str, match: re.Match[str]) -> str:
    """`$1`-style references in a route's dest, filled from its src match."""
    return re.sub(r"\$(\d+)", lambda ref: match.group(int(ref.group(1))) or "", destination)


def resolve_function(output: Path, routes: list[dict[str, Any]], path: str) -> Path:
    """Follow the Build Output's routes (before the filesystem miss phase) to a function folder."""
    functions = output / "functions"
    current = path
    for route in routes:
        if "handle" in route:
            if route["handle"] in ("error", "miss"):
                break
            continue
        match = re.match(route.get("src", "^$"), current)
        if not match:
            continue
        if "status" in route and "dest" not in route:
            raise BuildCheckError(f"{path} is answered with status {route['status']} by a route, not a function")
        if "dest" in route:
            current = _substitute(route["dest"], match).split("?")[0]
        if not route.get("continue"):
            break
    candidate = functions / (current.strip("/") + ".func")
    if not candidate.is_dir():
        raise BuildCheckError(f"{path} routes to {current}, but {candidate} does not exist")
    return candidate


def bundle_bytes(function: Path, project: Path) -> int:
    config = _load_json(function / ".vc-config.json", "the function's configuration")
    total = sum(f.stat().st_size for f in function.rglob("*") if f.is_file())
    for source in (config.get("filePathMap") or {}).values():
        file = project / source
        if file.is_file():
            total += file.stat().st_size
    return total


def check_output(project: Path) -> BuildReport:
    check_vercel_json(project / "vercel.json")
    output = project / ".vercel" / "output"
    config = _load_json(output / "config.json", "run `vercel build` first")
    crons = config.get("crons") or []
    if CRON not in crons:
        raise BuildCheckError(f"the build output lists no hourly cron {json.dumps(CRON)} (crons: {crons})")
    function = resolve_function(output, config.get("routes") or [], CRON_PATH)
    size = bundle_bytes(function, project)
    if size >= BUNDLE_LIMIT_BYTES:
        raise BuildCheckError(f"{function.name} is {size / 1024 / 1024:.1f} MB, over Vercel's 250 MB limit")
    vc_config = _load_json(function / ".vc-config.json", "the function's configuration")
    return BuildReport(
        function=str(function.relative_to(output)),
        crons=crons,
        bundle_bytes=size,
        runtime=str(vc_config.get("runtime")),
        max_duration=vc_config.get("maxDuration"),
    )


def main(argv: list[str]) -> int:
    """`python -m ci.build_check [--config-only] [PROJECT]`: 0 when good, 1 with the reason."""
    config_only = "--config-only" in argv
    paths = [arg for arg in argv if not arg.startswith("--")]
    project = Path(paths[0]) if paths else Path.cwd()
    try:
        if config_only:
            check_vercel_json(project / "vercel.json")
            return 0
        report = check_output(project)
    except BuildCheckError as error:
        print(f"build check failed: {error}", file=sys.stderr)
        return 1
    for line in report.lines():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
