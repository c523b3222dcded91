"""`nox -s rehearse -- pr | merge | ci`: this checkout's workflows, run in act against the local
Vercel, GitHub and Gmail stand-ins, before anything is pushed (the pipeline test's world, by hand).

- `ci`: ci.yml for a push (its whole matrix: lint, tests, build, workflows);
- `pr`: preview.yml for a push of a branch, then pr.yml for its pull request into main;
- `merge`: production.yml for a push to main.

The working tree as it is, committed or not, is what runs. Each job's result, its steps and
its summary are printed; act's logs and the artifacts stay in test-results/rehearsal. Everything
started (act, the stand-ins, an embedded Postgres) is stopped at the end, on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from sandbox.serving import interrupt_on_sigterm
from tests.pipeline import github_events
from tests.pipeline.act import WorkflowRun
from tests.pipeline.world import World, stage
from tests.postgres import Postgres

OUTPUT = Path("test-results/rehearsal")
BRANCH = "rehearsal"


def _ci(world: World) -> list[WorkflowRun]:
    event = github_events.push(BRANCH, world.git("rev-parse", "HEAD"))
    return [world.act("push", event, "ci.yml")]


def _pr(world: World) -> list[WorkflowRun]:
    sha = world.git("rev-parse", "HEAD")
    world.git("checkout", "-q", "-b", BRANCH)
    preview = world.act("push", github_events.push(BRANCH, sha), "preview.yml")
    if preview.result("deploy") != "success":
        return [preview]
    return [preview, world.act("pull_request", github_events.pull_request(1, BRANCH, sha, sha), "pr.yml")]


def _merge(world: World) -> list[WorkflowRun]:
    return [world.act("push", github_events.push("main", world.git("rev-parse", "HEAD")), "production.yml")]


SCENARIOS: dict[str, Callable[[World], list[WorkflowRun]]] = {"ci": _ci, "pr": _pr, "merge": _merge}


def describe(run: WorkflowRun) -> str:
    lines = [f"== {run.workflow} (run {run.run_id})"]
    for job, matrix in run.jobs():
        label = job + "".join(f" [{k}={v}]" for k, v in matrix.items())
        lines.append(f"job {label}: {run.result(job, matrix)}")
        names = run.step_names(job)
        lines += [f"  {result:8} {names.get(step, step)}" for step, result in run.steps(job, matrix).items()]
        summary = run.summary(job).strip()
        if summary:
            lines += ["  summary:", *(f"    {line}" for line in summary.splitlines())]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nox -s rehearse --", description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    args = parser.parse_args(argv)
    interrupt_on_sigterm()
    shutil.rmtree(OUTPUT, ignore_errors=True)
    OUTPUT.mkdir(parents=True)
    scratch = Path(tempfile.mkdtemp(prefix="jessie-rehearsal-"))
    postgres = Postgres.initialized(scratch / "db")
    try:
        postgres.start()
        with stage(scratch / "world", postgres) as world:
            runs = SCENARIOS[args.scenario](world)
            for run in runs:
                print(describe(run))
            shutil.copytree(world.root / "runs", OUTPUT / "runs")
            if world.runner.artifacts.exists():
                shutil.copytree(world.runner.artifacts, OUTPUT / "artifacts")
    except KeyboardInterrupt:
        print("interrupted: everything it started is stopped", file=sys.stderr)
        return 130
    finally:
        postgres.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"act's logs and the artifacts: {OUTPUT}/")
    return 0 if all(run.returncode == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
