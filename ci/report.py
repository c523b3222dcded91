"""JUnit XML → a Markdown report: totals, duration, each failure's name and first line.

`python -m ci.report JUNIT [--title T] [--tested URL] [--commit SHA] [--run-url U] [--comment]`
writes the report to the job summary and, with --comment, into the pull request's one sticky
comment: what was tested (URL and commit), the totals, and a link to the run, whose artifact
holds the HTML report and a screenshot and trace of each failure.
"""

from __future__ import annotations

import argparse
import os
import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

from ci import github


@dataclass
class Results:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0


def read_junit(path: Path) -> Results:
    root = ElementTree.parse(path).getroot()  # noqa: S314
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    results = Results()
    for suite in suites:
        results.seconds += float(suite.get("time") or 0)
        for case in suite.iter("testcase"):
            name = f"{case.get('classname', '')}::{case.get('name', '')}".strip(":")
            problem = case.find("failure") if case.find("failure") is not None else case.find("error")
            if problem is not None:
                results.failed += 1
                first = (problem.get("message") or problem.text or "").strip().splitlines()
                results.failures.append((name, first[0][:200] if first else ""))
            elif case.find("skipped") is not None:
                results.skipped += 1
            else:
                results.passed += 1
    return results


def markdown(
    results: Results, title: str, tested: str | None = None, commit: str | None = None, run_url: str | None = None
) -> str:
    icon = "✅" if results.ok else "❌"
    lines = [f"### {icon} {title}", ""]
    if tested:
        lines += [f"Tested {tested}" + (f" at commit `{commit}`" if commit else ""), ""]
    lines += [
        "| passed | failed | skipped | duration |",
        "| ---: | ---: | ---: | ---: |",
        f"| {results.passed} | {results.failed} | {results.skipped} | {results.seconds:.1f} s |",
    ]
    if results.failures:
        lines += ["", "| failed test | first line |", "| --- | --- |"]
        lines += [f"| `{name}` | {_cell(message)} |" for name, message in results.failures]
    if run_url:
        lines += [
            "",
            f"[The run]({run_url}): its artifact holds the HTML report, JUnit XML, "
            "and each failure's screenshot and trace.",
        ]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ci.report")
    parser.add_argument("junit", type=Path)
    parser.add_argument("--title", default="Playwright suite")
    parser.add_argument("--tested", help="the URL the suite ran against")
    parser.add_argument("--commit", help="the commit deployed there")
    parser.add_argument("--run-url", help="the workflow run, whose artifact keeps the full report")
    parser.add_argument("--comment", action="store_true", help="update the pull request's sticky comment")
    args = parser.parse_args(argv)
    if not args.junit.exists():
        text = f"### ⚠️ {args.title}\n\nNo test results: the suite did not run ({args.junit} is missing).\n"
        ok = False
    else:
        results = read_junit(args.junit)
        text, ok = markdown(results, args.title, args.tested, args.commit, args.run_url), results.ok
    github.write_summary(text)
    if args.comment:
        number = (github.event().get("pull_request") or {}).get("number") or os.environ.get("PR_NUMBER")
        if number:
            action, comment_id = github.upsert_sticky_comment(github.Repository.from_env(), int(number), text)
            print(f"report comment {action} ({comment_id})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
