"""JUnit XML → a Markdown report: what was tested, each test (each step of the walk) with its
outcome and duration, and for each failure its first line and where its screenshot and trace are.

`python -m ci.report JUNIT [--title T] [--tested URL] [--address URL] [--commit SHA] [--run-url U]
[--artifact-url U] [--failures DIR] [--comment]` writes the report to the job summary and, with
--comment, into the pull request's one sticky comment (updated on each run).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

from ci import github

EVIDENCE = ("test-failed-1.png", "trace.zip")  # what pytest-playwright (and the walk) keep of a failed test


@dataclass
class Case:
    module: str
    name: str
    outcome: str  # passed | failed | skipped
    seconds: float
    detail: str = ""  # a failure's first line, a skip's reason

    @property
    def title(self) -> str:
        """`test_a_message_opens[chromium]` → `a message opens`, as a reader says it."""
        base, _, parameters = self.name.partition("[")
        parameters = parameters.removesuffix("]").removeprefix("chromium").lstrip("-")
        return base.removeprefix("test_").replace("_", " ") + (f" ({parameters})" if parameters else "")


@dataclass
class Results:
    cases: list[Case] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, outcome: str) -> int:
        return sum(case.outcome == outcome for case in self.cases)

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0


def _first_line(element: ElementTree.Element) -> str:
    lines = (element.get("message") or element.text or "").strip().splitlines()
    return lines[0][:200] if lines else ""


def read_junit(path: Path) -> Results:
    root = ElementTree.parse(path).getroot()  # noqa: S314
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    results = Results()
    for suite in suites:
        results.seconds += float(suite.get("time") or 0)
        for case in suite.iter("testcase"):
            module, name, seconds = case.get("classname", ""), case.get("name", ""), float(case.get("time") or 0)
            problem = case.find("failure") if case.find("failure") is not None else case.find("error")
            skipped = case.find("skipped")
            if problem is not None:
                results.cases.append(Case(module, name, "failed", seconds, _first_line(problem)))
            elif skipped is not None:
                results.cases.append(Case(module, name, "skipped", seconds, _first_line(skipped)))
            else:
                results.cases.append(Case(module, name, "passed", seconds))
    return results


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def evidence(failures: Path | None, case: Case) -> list[str]:
    """The screenshot and trace a failed test left, as paths inside the report's artifact."""
    if failures is None or not failures.is_dir():
        return []
    wanted = _slug(f"{case.module.replace('.', '/')}.py::{case.name}")
    found = []
    for folder in sorted(p for p in failures.iterdir() if p.is_dir() and _slug(p.name) == wanted):
        found += [f"{failures.name}/{folder.name}/{name}" for name in EVIDENCE if (folder / name).exists()]
    return found


ICONS = {"passed": "✅ passed", "failed": "❌ failed", "skipped": "⏭️ skipped"}


def markdown(
    results: Results,
    title: str,
    tested: str | None = None,
    commit: str | None = None,
    run_url: str | None = None,
    address: str | None = None,
    artifact_url: str | None = None,
    failures: Path | None = None,
) -> str:
    icon = "✅" if results.ok else "❌"
    lines = [f"### {icon} {title}", ""]
    facts = [("The pull request's address", address), ("The deployment", tested), ("Commit", commit and f"`{commit}`")]
    facts.append(("Duration", f"{results.seconds:.1f} s"))
    lines += ["| | |", "| --- | --- |", *(f"| {name} | {value} |" for name, value in facts if value), ""]
    if tested:
        lines += [f"Tested {tested}" + (f" at commit `{commit}`" if commit else ""), ""]
    passed, failed, skipped = (results.count(outcome) for outcome in ("passed", "failed", "skipped"))
    lines += ["| passed | failed | skipped |", "| ---: | ---: | ---: |", f"| {passed} | {failed} | {skipped} |", ""]
    lines += ["| step | result | duration |", "| --- | --- | ---: |"]
    for case in results.cases:
        result = ICONS[case.outcome] + (f": {_cell(case.detail)}" if case.detail else "")
        kept = evidence(failures, case) if case.outcome == "failed" else []
        if kept:
            where = f"[the run's artifact]({artifact_url})" if artifact_url else "the run's artifact"
            result += f" (screenshot and trace in {where}: " + ", ".join(f"`{path}`" for path in kept) + ")"
        lines.append(f"| {_cell(case.title)} | {result} | {case.seconds:.1f} s |")
    if run_url:
        artifact = f" and [its artifact]({artifact_url})" if artifact_url else ": its artifact"
        held = "holds the HTML report, JUnit XML, and each failure's screenshot and trace"
        lines += ["", f"[The run]({run_url}){artifact} {held}."]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ci.report")
    parser.add_argument("junit", type=Path)
    parser.add_argument("--title", default="Playwright suite")
    parser.add_argument("--tested", help="the URL the suite ran against")
    parser.add_argument("--address", help="the pull request's own address (its per-PR alias)")
    parser.add_argument("--commit", help="the commit deployed there")
    parser.add_argument("--run-url", help="the workflow run, whose artifact keeps the full report")
    parser.add_argument("--artifact-url", help="the artifact that holds the report, screenshots and traces")
    parser.add_argument("--failures", type=Path, help="where the failures' screenshots and traces are")
    parser.add_argument("--comment", action="store_true", help="update the pull request's sticky comment")
    args = parser.parse_args(argv)
    if not args.junit.exists():
        text = f"### ⚠️ {args.title}\n\nNo test results: the suite did not run ({args.junit} is missing).\n"
        ok = False
    else:
        results = read_junit(args.junit)
        options = (args.run_url, args.address or None, args.artifact_url or None, args.failures)
        text, ok = markdown(results, args.title, args.tested, args.commit, *options), results.ok
    github.write_summary(text)
    if args.comment:
        number = (github.event().get("pull_request") or {}).get("number") or os.environ.get("PR_NUMBER")
        if number:
            action, comment_id = github.upsert_sticky_comment(github.Repository.from_env(), int(number), text)
            print(f"report comment {action} ({comment_id})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
