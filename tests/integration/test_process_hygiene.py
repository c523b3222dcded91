"""Nothing is left running: `nox -s dev` stopped with Ctrl-C (or a `kill`) stops the app, the
Gmail sandbox and the embedded Postgres it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.serving import listening_socket
from tests.processes import leftovers

pytestmark = pytest.mark.timeout(180)
READY = "Ctrl-C stops everything"
QUIET_AND_ANYWHERE = ["--port", "0", "--sandbox-port", "0", "--demo-messages", "3", "--cron-interval", "3600"]


def start_dev_stack(data_dir: Path, *extra: str) -> subprocess.Popen[str]:
    stack = subprocess.Popen(
        [sys.executable, "-m", "sandbox.local", "--data-dir", str(data_dir), *QUIET_AND_ANYWHERE, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own session, like a terminal's: every child is in it
        # and Ctrl-C's default action, as a terminal's foreground job has it (a test run started in
        # the background inherits SIGINT ignored, and Python then never raises KeyboardInterrupt)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert stack.stdout is not None
    seen = []
    for line in stack.stdout:
        seen.append(line)
        if READY in line:
            return stack
    raise AssertionError("the dev stack did not start:\n" + "".join(seen[-30:]))


def close_output(stack: subprocess.Popen[str]) -> None:
    if stack.stdout is not None:
        stack.stdout.close()


@pytest.mark.parametrize("stop", ["ctrl-c", "kill"])
def test_stopping_the_dev_stack_stops_everything_it_started(tmp_path: Path, stop: str) -> None:
    data_dir = tmp_path / "dev"
    stack = start_dev_stack(data_dir)
    try:
        assert leftovers(str(data_dir), session=stack.pid)  # it runs: the check sees its processes
        if stop == "ctrl-c":
            os.killpg(stack.pid, signal.SIGINT)  # what the terminal does: the whole foreground group
        else:
            stack.terminate()  # SIGTERM to the stack alone
        assert stack.wait(timeout=90) == 0
        assert leftovers(str(data_dir), session=stack.pid) == []
    finally:
        for process in leftovers(str(data_dir), session=stack.pid):
            os.kill(process.pid, signal.SIGKILL)
        close_output(stack)


def test_keep_database_leaves_only_postgres_running(tmp_path: Path) -> None:
    from app.db.embedded import stop_embedded

    data_dir = tmp_path / "dev"
    stack = start_dev_stack(data_dir, "--keep-database")
    try:
        stack.terminate()
        assert stack.wait(timeout=90) == 0
        left = leftovers(str(data_dir), session=stack.pid)
        assert left and all("postgres" in p.command for p in left), left
    finally:
        stop_embedded(data_dir)
        close_output(stack)
    assert leftovers(str(data_dir), session=stack.pid) == []


@pytest.mark.parametrize("flag", ["--port", "--sandbox-port"])
def test_a_busy_port_is_one_line_naming_its_flag_and_starts_nothing(tmp_path: Path, flag: str) -> None:
    data_dir = tmp_path / "dev"
    with listening_socket("127.0.0.1", 0) as busy:
        ports = {"--port": "0", "--sandbox-port": "0", flag: str(busy.getsockname()[1])}
        stack = subprocess.run(
            [sys.executable, "-m", "sandbox.local", "--data-dir", str(data_dir), "--demo-messages", "3"]
            + [part for pair in ports.items() for part in pair],
            capture_output=True,
            text=True,
            timeout=90,
            start_new_session=True,
        )
    assert stack.returncode == 2
    said = f"jessie dev: port {ports[flag]} is in use: pick another with {flag} PORT (0 picks a free one)"
    assert stack.stderr.splitlines() == [said]
    assert leftovers(str(data_dir)) == []
