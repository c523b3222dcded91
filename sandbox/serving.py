"""Serving an ASGI app on a loopback port from a background thread (tests, local stacks), and
stopping a local command cleanly however it is stopped."""

from __future__ import annotations

import errno
import signal
import socket
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, Self

import uvicorn


def interrupt_on_sigterm() -> None:
    """SIGTERM (a `kill`, a supervisor) interrupts like Ctrl-C, so the same cleanup runs."""

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


class PortBusy(OSError):
    """A port another process listens on: `flag` is the option that picks another."""

    def __init__(self, port: int, flag: str) -> None:
        super().__init__(f"port {port} is in use: pick another with {flag} PORT (0 picks a free one)")
        self.port, self.flag = port, flag


def listening_socket(host: str, port: int, flag: str = "--port") -> socket.socket:
    """A bound, listening TCP socket.

    Created with an explicit IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted
    connections whose protocol number says TCP, and without it every response written
    in two parts (headers, then body) waits ~40 ms for the client's delayed ACK.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise PortBusy(port, flag) from None
        raise
    sock.listen(1024)
    return sock


class ServerThread:
    """uvicorn on an already-listening socket: clients may connect as soon as this exists."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        keep_alive_s: int = 30,
        sock: socket.socket | None = None,
    ) -> None:
        """On `sock` when given (one a parent opened and handed over), else on a new one."""
        self.app = app
        self._socket = sock or listening_socket(host, port)
        self.host, self.port = self._socket.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=keep_alive_s
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self, on_ready: Callable[[str], None]) -> None:
        """In the calling thread, until interrupted."""
        on_ready(self.url)
        self._server.run(sockets=[self._socket])

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
