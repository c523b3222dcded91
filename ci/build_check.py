"""Check a Vercel Build Output (`.vercel/output`) before anything is deployed from it.

- vercel.json is valid JSON and carries the hourly cron exactly as designed;
- the Build Output's config.json lists the cron this Vercel plan accepts (`ci/plans.py`);
- following config.json's routes, /api/cron/email-sync reaches a function that exists;
- the function is complete as Vercel will see it: every `filePathMap` source exists, none
  is dropped by a `.vercelignore` rule (the CLI applies it to those sources when it uploads
  a prebuilt output), and, assembled from those files alone and run on a bare Python of
  its runtime, the generated handler and every module of `app` import;
- that bundle is under Vercel's 250 MB limit; its size is reported;
- the sweep's queue consumer (`api/queue/sweep.py`) carries the push trigger as the app
  subscribes to it (topic, consumer group, deliveries, retry delay) with a max concurrency of
  the connection budget's live runs less the cron's own, and imports from its own files too.

Every failure is one line that says what to fix.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pathspec
from vercel.queue._internal.names import sanitize_name  # the SDK's own name for a consumer group

from app.config import CRON_PATH, Settings
from app.sync import fanout
from ci import test_mode
from ci.build_output import (
    BuildOutputError,
    assemble,
    bare_python,
    function_config,
    function_environment,
    function_files,
    load_json,
    resolve_function,
)
from ci.plans import FUNCTION, HOURLY, UnknownPlan, cron_for, plan_from_env

BUNDLE_LIMIT_BYTES = 250 * 1024 * 1024
# What Vercel's runtime does with the function (import the generated handler, with the task
# root, here the working directory, first on sys.path: the handler puts `_vendor` after it),
# then every module of the app, so a dependency used only inside a function counts too.
IMPORT_PROBE = """
import importlib, pkgutil
import vc__handler__python
import app
for module in pkgutil.walk_packages(app.__path__, "app."):
    importlib.import_module(module.name)
"""


class BuildCheckError(Exception):
    pass


@dataclass
class BuildReport:
    function: str
    crons: list[dict[str, str]]
    bundle_bytes: int
    files: int
    runtime: str
    max_duration: int | None
    consumer: str = ""
    stand_in: bool = False

    def lines(self) -> list[str]:
        return [
            f"function serving {CRON_PATH}: {self.function} ({self.runtime}, maxDuration {self.max_duration}s)",
            "crons: " + ", ".join(f"{c['path']} @ '{c['schedule']}'" for c in self.crons),
            f"bundle: {self.files} files, {self.bundle_bytes / 1024 / 1024:.1f} MB of "
            f"{BUNDLE_LIMIT_BYTES // 1024 // 1024} MB; imports from the function alone",
            f"queue consumer: {self.consumer}",
            *(["test mode: the Gmail stand-in is in the function, and imports from it"] if self.stand_in else []),
        ]


def check_vercel_json(path: Path) -> None:
    try:
        config = load_json(path, "the project's Vercel configuration")
    except BuildOutputError as error:
        raise BuildCheckError(str(error)) from None
    if not isinstance(config, dict):
        raise BuildCheckError(f"{path} must hold a JSON object")
    crons = config.get("crons")
    hourly = {"path": CRON_PATH, "schedule": HOURLY}
    if not isinstance(crons, list) or hourly not in crons:
        raise BuildCheckError(f'{path} must declare the hourly cron {hourly} under "crons"')
    declared = ((config.get("functions") or {}).get(FUNCTION) or {}).get("maxDuration")
    assumed = Settings.model_fields["function_max_duration_s"].default
    if declared != assumed:
        raise BuildCheckError(
            f"{path} gives {FUNCTION} maxDuration {declared}, but JESSIE_FUNCTION_MAX_DURATION defaults to "
            f"{assumed:g}: the sync's budget derives from it, so make them agree"
        )


def ignored_sources(project: Path, sources: list[str]) -> list[str]:
    """The sources a `.vercelignore` rule matches (gitignore semantics, as the CLI's)."""
    ignore_file = project / ".vercelignore"
    if not ignore_file.exists():
        return []
    spec = pathspec.GitIgnoreSpec.from_lines(ignore_file.read_text().splitlines())
    return [source for source in sources if spec.match_file(source)]


def check_stand_in(output: Path, files: dict[str, str]) -> bool:
    """Whether the function carries test mode's Gmail stand-in; never in a Production build."""
    carries = test_mode.carries_stand_in(files)
    if carries and load_json(output / "builds.json", "run `vercel build` first").get("target") == "production":
        raise BuildCheckError(
            "this Production build carries the Gmail stand-in of test mode (sandbox/): it never ships to Production"
        )
    return carries


def check_imports(config: dict[str, Any], project: Path, files: dict[str, str], name: str, stand_in: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="jessie-function-") as scratch:
        root = Path(scratch) / "task"
        assemble({inside: project / source for inside, source in files.items()}, root, how="symlink")
        python = bare_python(str(config.get("runtime", "python3.12")), Path(scratch) / "python")
        probe = IMPORT_PROBE + (f"importlib.import_module({test_mode.MODULE!r})\n" if stand_in else "")
        done = subprocess.run(
            [str(python), "-c", probe],
            cwd=root,
            env=function_environment(config),
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise BuildCheckError(f"{name} does not import from its own files: {last}")


def expected_trigger() -> dict[str, Any]:
    """The push trigger of the sweep's consumer, as `@vercel/build-utils` writes it into the
    function's .vc-config.json (the consumer named after vercel.json's functions key)."""
    defaults = Settings.model_construct()  # what a deployment runs with unless told otherwise
    return {
        "type": "queue/v2beta",
        "topic": fanout.TOPIC,
        "maxDeliveries": fanout.MAX_DELIVERIES,
        "retryAfterSeconds": fanout.RETRY_AFTER_S,
        "maxConcurrency": defaults.max_live_runs - 1,
        "consumer": str(sanitize_name(fanout.CONSUMER_FUNCTION)),
    }


def check_consumer(project: Path, output: Path) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The consumer function's name, config and files, once its trigger is as the app expects."""
    function = output / "functions" / (fanout.CONSUMER_FUNCTION.removesuffix(".py") + ".func")
    vc_config = function_config(function)
    triggers = vc_config.get("experimentalTriggers")
    if triggers != [expected_trigger()]:
        raise BuildCheckError(
            f"{function.name} must carry the queue trigger {expected_trigger()} (vercel.json's "
            f'functions["{fanout.CONSUMER_FUNCTION}"].experimentalTriggers), not {triggers}'
        )
    if vc_config.get("maxDuration") != Settings.model_fields["function_max_duration_s"].default:
        raise BuildCheckError(f"{function.name} must have the cron function's maxDuration")
    listing = [str(path.relative_to(project)) for path in function.rglob("*") if path.is_file()]
    return function.name, vc_config, function_files(str(function.relative_to(project)), listing, vc_config)


def check_output(project: Path, plan: str = "pro") -> BuildReport:
    check_vercel_json(project / "vercel.json")
    output = project / ".vercel" / "output"
    try:
        config = load_json(output / "config.json", "run `vercel build` first")
        crons = config.get("crons") or []
        wanted = cron_for(plan)
        if crons != [wanted]:
            raise BuildCheckError(f"on the {plan} plan the build output must list the cron {wanted} (crons: {crons})")
        function = resolve_function(output, config.get("routes") or [], CRON_PATH)
        vc_config = function_config(function)
        listing = [str(path.relative_to(project)) for path in function.rglob("*") if path.is_file()]
        files = function_files(str(function.relative_to(project)), listing, vc_config)
        missing = sorted(source for source in files.values() if not (project / source).is_file())
        if missing:
            raise BuildCheckError(f"{len(missing)} filePathMap source(s) do not exist, e.g. {missing[0]}")
        dropped = ignored_sources(project, sorted(set(files.values())))
        if dropped:
            raise BuildCheckError(
                f".vercelignore drops {len(dropped)} file(s) the function needs from the upload, e.g. "
                f"{dropped[0]}: anchor the rule that matches it (a leading /)"
            )
        size = sum((project / source).stat().st_size for source in files.values())
        if size >= BUNDLE_LIMIT_BYTES:
            raise BuildCheckError(f"{function.name} is {size / 1024 / 1024:.1f} MB, over Vercel's 250 MB limit")
        stand_in = check_stand_in(output, files)
        check_imports(vc_config, project, files, function.name, stand_in)
        consumer, consumer_config, consumer_files = check_consumer(project, output)
        check_imports(consumer_config, project, consumer_files, consumer, stand_in=False)
    except BuildOutputError as error:
        raise BuildCheckError(str(error)) from None
    return BuildReport(
        function=str(function.relative_to(output)),
        crons=crons,
        bundle_bytes=size,
        files=len(files),
        runtime=str(vc_config.get("runtime")),
        max_duration=vc_config.get("maxDuration"),
        consumer=f"{consumer} takes {fanout.TOPIC} as {expected_trigger()['consumer']}, "
        f"{expected_trigger()['maxConcurrency']} at once",
        stand_in=stand_in,
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
        report = check_output(project, plan_from_env())
    except (BuildCheckError, UnknownPlan) as error:
        print(f"build check failed: {error}", file=sys.stderr)
        return 1
    for line in report.lines():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
