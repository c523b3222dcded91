"""The local Vercel as one object: REST API, runtime, Production domain, aliases by name, cron clock."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from sandbox.serving import ServerThread

from .alias import AliasForwarder, NameProxy
from .api import create_app
from .cron import CronRunner
from .drains import RETRY_DELAYS_S, Drains
from .functions import DEFAULT_CONCURRENCY
from .runtime import Runtime
from .state import VercelState
from .tls import write_certificates


class LocalVercel:
    def __init__(
        self,
        root: Path | None = None,
        drain_retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S,
        function_concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        """`function_concurrency`: invocations one instance serves at once (Fluid compute; 1: the
        classic model of one request per instance)."""
        self.root = root or Path(tempfile.mkdtemp(prefix="jessie-vercel-"))
        self.ca, cert, key = write_certificates(self.root / "tls")
        self.state = VercelState(self.root, function_concurrency=function_concurrency)
        self.alias = AliasForwarder(self.state)
        self.names = NameProxy(self.state)
        self.runtime = Runtime(self.state, cert, key, self.ca)
        self.cron = CronRunner(self.state, str(self.ca))
        self.drains = Drains(self.state, str(self.ca), drain_retry_delays_s)
        self._server = ServerThread(create_app(self.state, self.runtime, self.cron, self.drains, lambda: self.url))
        self.url = self._server.url

    @property
    def production_url(self) -> str:
        return f"https://{self.state.alias_host}"

    @property
    def proxy_url(self) -> str:
        """Where clients reach aliases by their names (an HTTP proxy; see alias.py)."""
        return f"http://{self.names.address}"

    def start(self) -> LocalVercel:
        self.runtime.start()
        self.alias.start()
        self.names.start()
        self._server.start()
        self.drains.start()
        return self

    def stop(self) -> None:
        self.drains.stop()
        self._server.stop()
        self.runtime.stop()
        self.alias.stop()
        self.names.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalVercel:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
