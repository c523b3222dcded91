"""The layout block in docs/ARCHITECTURE.md names every module the code has, and only those.

The block is two columns: a path (top-level, or indented two spaces below the last top-level
folder) and what it holds, continued on lines whose path column is blank. A folder's modules
are named in its description (`engine.py (one account)`, `*_helpers.py`); a module may also
have a line of its own (`config.py`, `api/index.py`, `github/server.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
HEADING = "## Layout"
MODULE = re.compile(r"[\w*]+\.py\b")
# Every module of these trees must be named; elsewhere, the folders whose description names
# modules must name all of theirs (tests only as far as the block lists them).
CODE = ("api", "app", "ci", "sandbox")
NOT_NAMED = ("__init__.py", "conftest.py", "test_*.py")


@dataclass
class Entry:
    path: str  # relative to the repository; a folder ends with "/"
    text: list[str] = field(default_factory=list)

    def modules(self) -> list[str]:
        return MODULE.findall(" ".join(self.text))


def _block() -> list[str]:
    section = ARCHITECTURE.read_text().split(HEADING, 1)[1]
    return section.split("```", 2)[1].strip("\n").splitlines()


def _entries() -> list[Entry]:
    lines = _block()
    width = min(len(line) - len(line.lstrip(" ")) for line in lines if line.startswith("    "))
    entries: list[Entry] = []
    parent = ""
    for line in lines:
        paths, text = line[:width].split(), line[width:].strip()
        assert line[:width].endswith(" ") or not paths, f"the path column is {width} wide: {line!r}"
        if not paths:
            assert entries, f"a continuation before any entry: {line!r}"
            entries[-1].text.append(text)
            continue
        indented = line.startswith("  ")
        if not indented and paths[0].endswith("/"):
            parent = paths[0]
        for path in paths:
            entries.append(Entry((parent if indented else "") + path, [text]))
        for entry in entries[len(entries) - len(paths) : -1]:  # `alerts.py  logs.py`: one text, several paths
            entry.text = []
    return entries


def _named(entries: list[Entry]) -> dict[str, list[str]]:
    """Folder → the module names (or patterns) the block gives it."""
    named: dict[str, list[str]] = {}
    for entry in entries:
        if entry.path.endswith("/"):
            named.setdefault(entry.path.rstrip("/"), []).extend(entry.modules())
        elif entry.path.endswith(".py"):
            folder, _, name = entry.path.rpartition("/")
            named.setdefault(folder or ".", []).append(name)
    return named


def _modules(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.glob("*.py"))


def test_every_path_the_block_names_exists() -> None:
    missing = [entry.path for entry in _entries() if not (ROOT / entry.path).exists()]
    assert not missing, f"docs/ARCHITECTURE.md's layout names paths that do not exist: {missing}"


def test_every_module_a_folder_names_exists() -> None:
    missing = [
        f"{folder}/{pattern}"
        for folder, patterns in _named(_entries()).items()
        for pattern in patterns
        if not any(fnmatch(name, pattern) for name in _modules(ROOT / folder))
    ]
    assert not missing, f"docs/ARCHITECTURE.md's layout names modules that do not exist: {missing}"


def _folders_to_check() -> list[str]:
    code = {str(path.parent.relative_to(ROOT)) for tree in CODE for path in (ROOT / tree).rglob("*.py")}
    return sorted(code | {folder for folder, names in _named(_entries()).items() if names})


@pytest.mark.parametrize("folder", _folders_to_check())
def test_every_module_is_in_the_layout(folder: str) -> None:
    patterns = _named(_entries()).get(folder, [])
    wanted = [name for name in _modules(ROOT / folder) if not any(fnmatch(name, pattern) for pattern in NOT_NAMED)]
    unnamed = [name for name in wanted if not any(fnmatch(name, pattern) for pattern in patterns)]
    assert not unnamed, (
        f"{folder}/ has modules docs/ARCHITECTURE.md's layout does not name: {unnamed}; "
        f"say what each holds in the {folder}/ entry (or give it a line of its own)"
    )
