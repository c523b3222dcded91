"""The Gmail sandbox served locally: uvicorn on a loopback port (tests, benchmarks, `nox -s dev`)."""

from __future__ import annotations

import logging
import socket
import threading

from ..serving import ServerThread
from .app import SimulatedReset, create_app
from .state import SandboxState


class _HideSimulatedResets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], SimulatedReset))


# Google documents no idle timeout for googleapis.com itself; its front ends' one documented
# figure is the load balancers' client HTTP keepalive, 610 s. A client paced to Gmail's minute
# waits up to a minute between calls on one connection, so this matters.
GOOGLE_KEEP_ALIVE_S = 610


class SandboxServer(ServerThread):
    """The Gmail sandbox on a loopback port in a background thread (tests, benchmarks)."""

    def __init__(
        self,
        state: SandboxState | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        sock: socket.socket | None = None,
    ) -> None:
        self.state = state or SandboxState()
        super().__init__(create_app(self.state), host, port, keep_alive_s=GOOGLE_KEEP_ALIVE_S, sock=sock)

    @property
    def stalled(self) -> threading.Event:
        """Set while Gmail requests are held by `stall_after_requests`."""
        return self.app.state.gate.stalled  # type: ignore[no-any-return]


logging.getLogger("uvicorn.error").addFilter(_HideSimulatedResets())
