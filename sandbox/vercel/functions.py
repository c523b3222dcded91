"""Vercel Functions, locally: instances of a deployed function, started on demand, each
serving several invocations at once as Fluid compute does.

An instance is the function's own files (assembled from the upload, nothing installed)
run on a bare Python by `lambda_bootstrap.py`. Vercel's runtime inside it announces its
HTTP port over a Unix socket (VERCEL_IPC_PATH; NUL-delimited JSON messages
`server-started`, `handler-started`, `log`, `end`, `unrecoverable-error`) and reports
its log lines there, each tagged with the invocation it belongs to. With Fluid compute (the
default for new projects) one instance serves concurrent invocations, sharing its process,
CPU, file descriptors and memory: a request goes to a live instance with a free slot (up to
`concurrency` invocations at once; the busiest such instance first, as Fluid fills instances
before it scales), and a new instance (a cold start) starts only when every one is full.
`concurrency=1` is the classic one-request-per-instance model.

What Vercel enforces is enforced here:
- maxDuration, per invocation: one that outlives it is killed with its instance; the caller
  gets 504 FUNCTION_INVOCATION_TIMEOUT and the log says "Vercel Runtime Timeout Error: Task
  timed out after N seconds" (the instance's other invocations die with it: 500);
- a function that does not import, or an instance that dies mid-request: 500
  FUNCTION_INVOCATION_FAILED (the deployment itself stays READY: nothing checks imports);
- every invocation carries the deployment's OIDC token (`oidc.py`), as Vercel sends it;
- an invocation lasts until the runtime reports its `end` (after the answer, once background
  tasks and `wait_until` work are done), within maxDuration, and only then is its slot free;
- every line the instance writes (stdout, stderr, the runtime's log messages) is a log
  line of the request it belongs to, handed to the deployment's log sink with the
  request's final status (-1 when the runtime died).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BOOTSTRAP = (Path(__file__).parent / "lambda_bootstrap.py").read_text()
INIT_TIMEOUT_S = 60.0  # Lambda's init phase has a limit of its own
DEFAULT_MAX_INSTANCES = 16
# Vercel publishes no per-instance figure for Python; the local Vercel's default, settable.
DEFAULT_CONCURRENCY = 8


@dataclass
class Request:
    """One request as the edge hands it to a function."""

    id: str  # the x-vercel-id the caller sees
    method: str
    target: str  # path and query, as the client sent them
    host: str
    headers: list[tuple[str, str]]
    body: bytes
    function: str = ""  # the function path the routes reached (/api/index behind the rewrite)
    client_ip: str = ""


@dataclass
class Outcome:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    error: str | None = None  # Vercel's error code when the platform answered, not the function


@dataclass
class LogLine:
    message: str
    level: str  # info | warning | error | fatal
    stream: str  # stdout | stderr
    timestamp_ms: int = field(default_factory=lambda: int(time.time() * 1000))


LogSink = Callable[[Request, int, list[LogLine]], None]  # a request's lines, with its final status


class StartFailed(Exception):
    """The instance exited (or reported an unrecoverable error) before serving."""

    def __init__(self, reason: str, lines: list[LogLine]) -> None:
        super().__init__(reason)
        self.lines = lines


class Instance:
    """One process of the function, serving its invocations concurrently."""

    def __init__(self, python: Path, task: Path, env: dict[str, str], ipc_dir: Path, number: int) -> None:
        self.python, self.task, self.env = python, task, env
        self.ipc_path = ipc_dir / f"i{number}.sock"
        self.tmp = ipc_dir / f"tmp{number}"
        self.port: int | None = None
        self.active = 0  # invocations it serves now (or is starting for)
        self.loose: list[LogLine] = []  # lines of no invocation (init, raw pipes): the next to end takes them
        self.lines_of: dict[str, list[LogLine]] = {}  # invocation id → its lines
        self.fatal: str | None = None
        self.started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.process: asyncio.subprocess.Process | None = None
        self._server: asyncio.AbstractServer | None = None
        self._ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._readers: list[asyncio.Task[None]] = []
        self._ends: dict[str, asyncio.Event] = {}  # invocation id → the runtime said "end"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    @property
    def usable(self) -> bool:
        """Starting, or started and not dead (a killed instance takes no more invocations)."""
        return not self.started.done() or self.alive

    async def start(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._server = await asyncio.start_unix_server(self._ipc, path=str(self.ipc_path))
        env = {**self.env, "VERCEL_IPC_PATH": str(self.ipc_path), "TMPDIR": str(self.tmp)}
        self.process = await asyncio.create_subprocess_exec(
            str(self.python),
            "-c",
            BOOTSTRAP,
            cwd=self.task,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self._readers = [
            asyncio.create_task(self._read(self.process.stdout, "stdout", "info")),
            asyncio.create_task(self._read(self.process.stderr, "stderr", "error")),
        ]
        exited = asyncio.create_task(self.process.wait())
        try:
            done, _ = await asyncio.wait({self._ready, exited}, timeout=INIT_TIMEOUT_S, return_when="FIRST_COMPLETED")
        finally:
            exited.cancel()
        if self._ready in done and not self._ready.exception():
            self.port = self._ready.result()
            self.started.set_result(None)
            return
        await self.stop()
        reason = self.fatal or f"the runtime exited during initialization (status {self.process.returncode})"
        failure = StartFailed(reason, self.take_lines(""))
        self.started.set_exception(failure)
        self.started.exception()  # retrieved: every invocation that waited on it is told below
        raise failure

    async def _read(self, stream: asyncio.StreamReader, name: str, level: str) -> None:
        while line := await stream.readline():
            self.loose.append(LogLine(line.decode(errors="replace").rstrip("\n"), level, name))

    async def _ipc(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                raw = await reader.readuntil(b"\0")
                self._message(json.loads(raw[:-1]))
        writer.close()

    def _message(self, message: dict[str, Any]) -> None:
        kind, payload = message.get("type"), message.get("payload") or {}
        if kind == "server-started" and not self._ready.done():
            self._ready.set_result(int(payload["httpPort"]))
        elif kind == "end":
            invocation = str((payload.get("context") or {}).get("invocationId", ""))
            if invocation in self._ends:
                self._ends[invocation].set()
        elif kind == "unrecoverable-error":
            self.fatal = str(payload.get("message", "unrecoverable error"))
        elif kind == "log":  # print() and sys.std* carry a stream, the logging module a level
            text = base64.b64decode(payload.get("message", "")).decode(errors="replace").rstrip("\n")
            if "stream" in payload:
                stream = str(payload["stream"])
                level = "error" if stream == "stderr" else "info"
            else:
                level = {"warn": "warning"}.get(payload.get("level", "info"), payload.get("level", "info"))
                stream = "stderr" if level in ("error", "fatal", "warning") else "stdout"
            invocation = str((payload.get("context") or {}).get("invocationId", ""))
            lines = self.lines_of.get(invocation, self.loose)
            lines += [LogLine(part, level, stream) for part in text.splitlines() or [""]]

    def expect_end(self, invocation_id: str) -> None:
        self._ends[invocation_id] = asyncio.Event()
        self.lines_of[invocation_id] = []

    def note(self, invocation_id: str, line: LogLine) -> None:
        self.lines_of.get(invocation_id, self.loose).append(line)

    async def ended(self, invocation_id: str, within_s: float) -> bool:
        """Whether the runtime ended the invocation (its post-response work done) in time;
        False when the time ran out first (a process that died has ended)."""
        end = asyncio.create_task(self._ends[invocation_id].wait())
        exited = asyncio.create_task(self.process.wait())  # type: ignore[union-attr]
        try:
            await asyncio.wait({end, exited}, timeout=max(0.0, within_s), return_when="FIRST_COMPLETED")
            return end.done() or exited.done()
        finally:
            end.cancel()
            exited.cancel()
            self._ends.pop(invocation_id, None)

    def take_lines(self, invocation_id: str) -> list[LogLine]:
        """The invocation's lines, and the instance's own lines not yet handed to one."""
        lines = [*self.loose, *self.lines_of.pop(invocation_id, [])]
        self.loose = []
        return lines

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        for reader in self._readers:  # let the pipes drain what the process wrote last
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reader, 5)
        if self._server is not None:
            self._server.close()
        self.ipc_path.unlink(missing_ok=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


class FunctionPool:
    """The instances of one deployed function."""

    def __init__(
        self,
        python: Path,
        task: Path,
        env: dict[str, str],
        max_duration_s: float,
        sink: LogSink,
        max_instances: int = DEFAULT_MAX_INSTANCES,
        concurrency: int = DEFAULT_CONCURRENCY,
        oidc_token: Callable[[], str] | None = None,
    ) -> None:
        self.python, self.task, self.env = python, task, env
        self.oidc_token = oidc_token
        self.max_duration_s = max_duration_s
        self.sink = sink
        self.max_instances = max_instances
        self.concurrency = concurrency
        self.invocations = 0
        self.cold_starts = 0
        self.most_concurrent = 0  # the most invocations one instance served at once
        self._ipc_dir = Path(tempfile.mkdtemp(prefix="vc-"))  # short: Unix socket paths are limited
        self._all: list[Instance] = []
        self._freed = asyncio.Condition()
        self._numbers = 0
        self._completing: set[asyncio.Task[None]] = set()  # invocations answered, not yet ended
        # No client timeout: maxDuration (asyncio.timeout in _run) bounds every invocation.
        self._client = httpx.AsyncClient(timeout=None, follow_redirects=False)  # noqa: S113

    async def invoke(self, request: Request) -> Outcome:
        self.invocations += 1
        try:
            instance = await self._acquire(request.id)
        except StartFailed as failure:
            self.sink(request, -1, [*failure.lines, LogLine(f"Error: {failure}", "error", "stderr")])
            return failed("FUNCTION_INVOCATION_FAILED", 500, request.id)
        started = time.monotonic()
        outcome = await self._run(instance, request)
        if outcome.error is None:  # answered: the invocation goes on until the runtime says "end"
            completing = asyncio.create_task(self._complete(instance, request, outcome.status, started))
            self._completing.add(completing)
            completing.add_done_callback(self._completing.discard)
            return outcome
        crashed = outcome.error == "FUNCTION_INVOCATION_FAILED"
        self.sink(request, -1 if crashed else outcome.status, instance.take_lines(request.id))
        await self._release(instance)
        return outcome

    async def _complete(self, instance: Instance, request: Request, status: int, started: float) -> None:
        """After the answer: the runtime's post-response work (background tasks, `wait_until`)
        still belongs to the invocation, within maxDuration, and so do its log lines. Vercel's
        runtime reports the end (`end`, vercel_runtime.vc_init) once the app has returned."""
        left = self.max_duration_s - (time.monotonic() - started)
        if not await instance.ended(request.id, left):
            await instance.stop()
            duration = f"{self.max_duration_s:g}"
            message = f"Vercel Runtime Timeout Error: Task timed out after {duration} seconds"
            instance.note(request.id, LogLine(message, "error", "stderr"))
        self.sink(request, status, instance.take_lines(request.id))
        await self._release(instance)

    async def _run(self, instance: Instance, request: Request) -> Outcome:
        assert instance.port is not None
        headers = [
            *request.headers,
            ("x-vercel-internal-invocation-id", request.id),
            ("x-vercel-internal-request-id", str(self.invocations)),
            *([("x-vercel-internal-oidc-token", self.oidc_token())] if self.oidc_token else []),
        ]
        url = f"http://127.0.0.1:{instance.port}{request.target}"
        try:
            async with asyncio.timeout(self.max_duration_s):
                response = await self._client.request(request.method, url, headers=headers, content=request.body)
        except TimeoutError:
            await instance.stop()
            duration = f"{self.max_duration_s:g}"
            message = f"Vercel Runtime Timeout Error: Task timed out after {duration} seconds"
            instance.note(request.id, LogLine(message, "error", "stderr"))
            return failed("FUNCTION_INVOCATION_TIMEOUT", 504, request.id)
        except httpx.TransportError:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await instance.process.wait()  # type: ignore[union-attr]
            code = instance.process.returncode if instance.process else None
            await instance.stop()
            line = LogLine(f"Error: Runtime exited with error: exit status {code}", "error", "stderr")
            instance.note(request.id, line)
            return failed("FUNCTION_INVOCATION_FAILED", 500, request.id)
        return Outcome(response.status_code, list(response.headers.multi_items()), response.content)

    async def _acquire(self, invocation_id: str) -> Instance:
        """A slot on a live instance, the busiest with one free first; a new instance only
        when every one is full (and the most instances allow)."""
        async with self._freed:
            while True:
                self._all = [i for i in self._all if i.usable or i.active]  # the dead, once idle, go
                open_slots = [i for i in self._all if i.active < self.concurrency and i.usable]
                if open_slots:
                    instance = max(open_slots, key=lambda i: i.active)
                    starting = False
                    break
                if len(self._all) < self.max_instances:
                    self._numbers += 1
                    instance = Instance(self.python, self.task, self.env, self._ipc_dir, self._numbers)
                    self._all.append(instance)
                    starting = True
                    break
                await self._freed.wait()
            instance.active += 1
            self.most_concurrent = max(self.most_concurrent, instance.active)
            instance.expect_end(invocation_id)
        try:
            if starting:
                self.cold_starts += 1
                await instance.start()
            else:
                await asyncio.shield(instance.started)
        except StartFailed:
            instance.take_lines(invocation_id)
            await self._release(instance)
            raise
        return instance

    async def _release(self, instance: Instance) -> None:
        async with self._freed:
            instance.active -= 1
            if not instance.usable and instance.active == 0 and instance in self._all:
                self._all.remove(instance)
            self._freed.notify_all()

    async def settled(self) -> None:
        """Every invocation that has answered has also ended (and handed over its log lines)."""
        await asyncio.gather(*self._completing, return_exceptions=True)

    async def close(self) -> None:
        await self._client.aclose()
        for completing in list(self._completing):
            completing.cancel()
        for instance in list(self._all):
            await instance.stop()
        self._all.clear()
        shutil.rmtree(self._ipc_dir, ignore_errors=True)

    @property
    def instances(self) -> int:
        return len(self._all)


STATUS_NAMES = {404: "NOT_FOUND", 413: "PAYLOAD_TOO_LARGE", 500: "INTERNAL_SERVER_ERROR", 504: "GATEWAY_TIMEOUT"}


def failed(code: str, status: int, request_id: str) -> Outcome:
    """Vercel's own error response: `x-vercel-error` names the code, the body says it plainly."""
    body = f"{status}: {STATUS_NAMES.get(status, 'ERROR')}\nCode: {code}\nID: {request_id}\n".encode()
    headers = [("content-type", "text/plain; charset=utf-8"), ("x-vercel-error", code)]
    return Outcome(status, headers, body, code)
