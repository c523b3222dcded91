"""A prebuilt deployment, from upload to served, as Vercel handles it.

QUEUED → BUILDING: each function is assembled from the uploaded files only, as its
`.vc-config.json` says (its `.func` folder plus `filePathMap`); nothing is installed and
nothing is imported, so a function that cannot import still makes a READY deployment,
which answers 500 FUNCTION_INVOCATION_FAILED (as on Vercel). A `filePathMap` source that
was not uploaded fails the deployment (ERROR) with the files it lacks. READY: the edge
(`edge.py`) serves HTTPS on the port the deployment's URL names and invokes the functions
(`functions.py`) in their own processes, on a bare Python.

A Production deployment takes the Production domain when READY unless it was created with
`--skip-domain` (`autoAssignCustomDomains: false`) or a rollback has turned automatic
assignment off, until the next promote.

A function whose `.vc-config.json` carries a queue trigger is a consumer of Vercel Queues
(`queues.py`, the queue SDK's embedded server): its deployment's messages are pushed to it.

Everything asynchronous (the edges, the instances, the queue) runs on one event loop thread.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import uvicorn

from ci.build_output import BuildOutputError, assemble, bare_python, function_environment, function_files
from sandbox.serving import listening_socket

from . import oidc
from .edge import REGION, Edge, new_request_id
from .functions import FunctionPool, LogLine, Request
from .queues import LocalQueues, Subscription, queue_triggers
from .state import Deployment, VercelState

OUTPUT = ".vercel/output/"
_FUNCTION_CONFIG = re.compile(r"^\.vercel/output/functions/(.+)\.func/\.vc-config\.json$")
DEFAULT_MAX_DURATION_S = 300
T = TypeVar("T")
SYSTEM_TRUST = "/etc/ssl/certs/ca-certificates.crt"  # Debian's bundle, what a function's OpenSSL reads


@dataclass
class Runtime:
    state: VercelState
    cert: Path
    key: Path
    ca: Path
    sockets: dict[str, socket.socket] = field(default_factory=dict)
    servers: dict[str, tuple[uvicorn.Server, asyncio.Task[None]]] = field(default_factory=dict)
    pools: dict[str, dict[str, FunctionPool]] = field(default_factory=dict)
    queues: LocalQueues = field(default_factory=LocalQueues)
    _consumers: dict[str, list[Subscription]] = field(default_factory=dict)  # a building deployment's
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _thread: threading.Thread | None = None
    _python: Path | None = None
    _python_lock: threading.Lock = field(default_factory=threading.Lock)
    _log_ids: itertools.count[int] = field(default_factory=itertools.count)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="vercel-edge")
        self._thread.start()
        self._run(self.queues.start())

    def _run(self, coroutine: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result()

    def settle(self) -> None:
        """Wait until every invocation that answered has ended, its post-response work included."""

        async def every_pool() -> None:
            for functions in list(self.pools.values()):
                for pool in list(functions.values()):
                    await pool.settled()

        self._run(every_pool())

    def on_loop(self, read: Callable[[], T]) -> T:
        """`read()` run on the loop the queue and the instances live on (their state is its)."""

        async def call() -> T:
            return read()

        result: T = self._run(call())
        return result

    def reserve_port(self, deployment_id: str) -> int:
        """The deployment's URL is known at creation, so its socket is bound then."""
        sock = listening_socket("127.0.0.1", 0)
        self.sockets[deployment_id] = sock
        return int(sock.getsockname()[1])

    def build_in_background(self, deployment: Deployment) -> None:
        threading.Thread(target=self._build, args=(deployment,), daemon=True, name=f"build-{deployment.id}").start()

    def _log(self, deployment: Deployment, line: str) -> None:
        with self.state.lock:
            deployment.log.append(line.rstrip())

    def _build(self, deployment: Deployment) -> None:
        with self.state.lock:
            deployment.ready_state, deployment.building_at = "BUILDING", self.state.now_ms()
        try:
            edge = self._prepare(deployment)
        except (BuildOutputError, OSError, ValueError, KeyError) as error:
            self._consumers.pop(deployment.id, None)
            with self.state.lock:
                deployment.ready_state, deployment.error_message = "ERROR", str(error).splitlines()[0][:300]
            self._log(deployment, f"Error: {error}")
            sock = self.sockets.pop(deployment.id, None)
            if sock is not None:
                sock.close()
            return
        self._run(self._serve(deployment, edge))
        for consumer in self._consumers.pop(deployment.id, []):
            self._run(self._subscribe(consumer))
        with self.state.lock:
            deployment.ready_state, deployment.ready_at = "READY", self.state.now_ms()
            if deployment.target == "production" and deployment.auto_assign_domains and self.state.auto_assign:
                self.state.assign_production(deployment)
        self._log(deployment, "Deployment completed")

    def _prepare(self, deployment: Deployment) -> Edge:
        uploaded = {entry["file"]: self.state.files[entry["sha"]] for entry in deployment.files}
        config = json.loads(uploaded[OUTPUT + "config.json"].read_bytes())
        deployment.crons = list(config.get("crons") or [])
        static = {
            "/" + path.removeprefix(OUTPUT + "static/"): blob
            for path, blob in uploaded.items()
            if path.startswith(OUTPUT + "static/")
        }
        functions = {}
        for path in sorted(uploaded):
            match = _FUNCTION_CONFIG.match(path)
            if match:
                functions["/" + match.group(1)] = self._function(deployment, match.group(1), uploaded)
        self._log(deployment, f"Retrieved {len(uploaded)} files; {len(functions)} function(s) assembled")
        self.pools[deployment.id] = functions
        return Edge(
            deployment.url,
            lambda host: self._serves(deployment, host),
            lambda host: host == self.state.alias_host and self.state.production_id == deployment.id,
            self.state.protection_bypass,
            list(config.get("routes") or []),
            static,
            functions,
        )

    def _serves(self, deployment: Deployment, host: str) -> bool:
        with self.state.lock:
            return self.state.serves(deployment, host)

    def _function(self, deployment: Deployment, name: str, uploaded: dict[str, Path]) -> FunctionPool:
        folder = f"{OUTPUT}functions/{name}.func"
        config: dict[str, Any] = json.loads(uploaded[f"{folder}/.vc-config.json"].read_bytes())
        files = function_files(folder, uploaded, config)
        task = self.state.root / "deployments" / deployment.id / "functions" / name
        assemble({inside: uploaded.get(source) for inside, source in files.items()}, task, how="hardlink")
        python = self._bare_python(str(config.get("runtime", "python3.12")))
        target = deployment.target or "preview"
        with self.state.lock:
            project_env = self.state.env_values(target)
        env = {
            **function_environment(config),
            **project_env,
            **deployment.env,
            "VERCEL": "1",
            "VERCEL_ENV": target,
            "VERCEL_URL": deployment.url,
            "VERCEL_REGION": REGION,
            "VERCEL_DEPLOYMENT_ID": deployment.id,
            "VERCEL_PROJECT_PRODUCTION_URL": self.state.alias_host,
            "VERCEL_QUEUE_BASE_URL": self.queues.base_url,  # where the queue SDK finds Vercel Queues
            # Set on deployments of a project with a Protection Bypass for Automation secret.
            "VERCEL_AUTOMATION_BYPASS_SECRET": self.state.protection_bypass,
            # Vercel's certificates are public-CA signed, so every trust store a function's code
            # may read trusts them; here the platform's CA is added to each: OpenSSL's default,
            # and the bundles httplib2 (Google's clients) and requests read instead of it.
            **dict.fromkeys(("SSL_CERT_FILE", "HTTPLIB2_CA_CERTS", "REQUESTS_CA_BUNDLE"), str(self._trust_store())),
        }
        max_duration = float(config.get("maxDuration") or DEFAULT_MAX_DURATION_S)
        sink = self._sink(deployment, target)
        concurrency = self.state.function_concurrency
        team, project, project_id = self.state.team["slug"], self.state.project_name, self.state.project_id

        def token() -> str:
            return oidc.token(team, project, project_id, target, deployment.id)

        pool: FunctionPool = self._run(self._pool(python, task, env, max_duration, sink, concurrency, token))
        for trigger in queue_triggers(config):  # subscribed once the deployment is READY
            consumer = Subscription.from_trigger(deployment.id, trigger, self._push(deployment, name, pool))
            self._consumers.setdefault(deployment.id, []).append(consumer)
        return pool

    @staticmethod
    async def _pool(
        python: Path,
        task: Path,
        env: dict[str, str],
        max_duration: float,
        sink: Any,
        concurrency: int,
        token: Any,
    ) -> FunctionPool:
        # its asyncio parts belong to the edge loop
        return FunctionPool(python, task, env, max_duration, sink, concurrency=concurrency, oidc_token=token)

    async def _subscribe(self, subscription: Subscription) -> None:
        self.queues.subscribe(subscription)

    @staticmethod
    def _push(deployment: Deployment, name: str, pool: FunctionPool) -> Any:
        """A push delivery: Vercel Queues POSTs the message to the function's own path."""

        async def deliver(body: bytes, headers: dict[str, str]) -> int:
            request_id = new_request_id()
            sent = [*headers.items(), ("user-agent", "Vercel Queues"), ("x-vercel-id", request_id)]
            request = Request(request_id, "POST", f"/{name}", deployment.url, sent, body, function=f"/{name}")
            return (await pool.invoke(request)).status

        return deliver

    def _trust_store(self) -> Path:
        bundle = self.state.root / "tls" / "functions-trust.pem"
        if not bundle.exists():
            system = Path(SYSTEM_TRUST)
            trusted = system.read_text() if system.exists() else ""
            bundle.write_text(trusted + "\n" + self.ca.read_text())
        return bundle

    def _bare_python(self, runtime: str) -> Path:
        with self._python_lock:
            if self._python is None:
                self._python = bare_python(runtime, self.state.root / "runtime" / runtime)
            return self._python

    def _sink(self, deployment: Deployment, environment: str) -> Any:
        """Log entries in the shape of Vercel's log drains, one per line a request produced: `path`
        is the function or dynamic path (behind a rewrite, the function), `proxy` the request as
        the edge saw it (its `path` what the client asked for)."""

        def record(request: Request, status: int, lines: list[LogLine]) -> None:
            headers = dict(request.headers)
            proxy = {
                "timestamp": lines[0].timestamp_ms if lines else 0,
                "method": request.method,
                "scheme": "https",
                "host": request.host,
                "path": request.target,
                "userAgent": [headers.get("user-agent", "")],
                "referer": headers.get("referer", ""),
                "statusCode": status,
                "clientIp": request.client_ip,
                "region": REGION,
                "vercelId": request.id,
            }
            entries = [
                {
                    "id": f"{deployment.id}-{next(self._log_ids)}",
                    "message": line.message,
                    "timestamp": line.timestamp_ms,
                    "type": line.stream,
                    "source": "lambda",
                    "projectId": self.state.project_id,
                    "deploymentId": deployment.id,
                    "host": request.host,
                    "path": request.function or request.target.split("?", 1)[0],
                    "proxy": proxy,
                    "requestId": request.id,
                    "statusCode": status,
                    "level": line.level,
                    "environment": environment,
                }
                for line in lines
            ]
            with self.state.lock:
                self.state.logs.extend(entries)

        return record

    async def _serve(self, deployment: Deployment, edge: Edge) -> None:
        sock = self.sockets.pop(deployment.id)
        config = uvicorn.Config(
            edge,
            ssl_keyfile=str(self.key),
            ssl_certfile=str(self.cert),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=30,
            proxy_headers=False,  # the edge is the proxy: it sets x-forwarded-*, never trusts them
        )
        server = uvicorn.Server(config)
        self.servers[deployment.id] = (server, asyncio.create_task(server.serve(sockets=[sock])))

    async def _shutdown(self) -> None:
        for server, task in self.servers.values():
            server.should_exit = True
            await task
        await self.queues.stop()
        for functions in self.pools.values():
            for pool in functions.values():
                await pool.close()

    def stop(self) -> None:
        if self._thread is not None:
            self._run(self._shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        for sock in self.sockets.values():
            sock.close()
