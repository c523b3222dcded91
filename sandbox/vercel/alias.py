"""How clients reach a deployment by a name other than its own URL, each a TCP service of its own:

- the Production domain: a port that forwards to whichever deployment is Production now;
- every other hostname Vercel serves (an alias such as `jessie-pr-7.vercel.app`): an HTTP proxy that
  answers CONNECT with a tunnel to the deployment the name serves now, since no name of this machine
  resolves but localhost's (Playwright's `proxy` launch option and requests' `proxies` use it).

Forwarding raw bytes keeps TLS end to end with the deployment (its certificate names 127.0.0.1 and,
as Vercel's does, *.vercel.app), and promote, rollback or a moved alias only change where new
connections go; the edge refuses a request whose host the deployment no longer serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from sandbox.serving import listening_socket

from .state import VercelState

_TUNNEL_UP = b"HTTP/1.1 200 Connection Established\r\n\r\n"


class _TcpService:
    def __init__(self, state: VercelState) -> None:
        self.state = state
        self._socket = listening_socket("127.0.0.1", 0)
        self.address = f"127.0.0.1:{self._socket.getsockname()[1]}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, daemon=True, name=type(self).__name__)

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, sock=self._socket))
        with contextlib.suppress(RuntimeError):
            self._loop.run_forever()
        server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def _tunnel(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int) -> bool:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))
        return True

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._socket.close()


def _port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


class AliasForwarder(_TcpService):
    """The Production domain's port."""

    def __init__(self, state: VercelState) -> None:
        super().__init__(state)
        state.alias_host = self.address

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self.state.lock:
            production = self.state.production()
            port = _port_of(production.url) if production else None
        if port is None or not await self._tunnel(reader, writer, port):
            writer.close()


class NameProxy(_TcpService):
    """`CONNECT host:443` to the deployment `host` names now (an alias, or a deployment's own URL)."""

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        method, _, rest = request.partition(" ")
        target = rest.split(" ", 1)[0]
        host = target.rsplit(":", 1)[0].lower()
        with self.state.lock:
            deployment = self.state.find(host) if host in self.state.aliases else self.state.find(target)
            port = _port_of(deployment.url) if deployment is not None and deployment.ready_state == "READY" else None
        if method != "CONNECT" or port is None:
            status = b"405 Method Not Allowed" if method != "CONNECT" else b"502 Bad Gateway"
            writer.write(b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\n\r\n")
            with contextlib.suppress(ConnectionError, OSError):
                await writer.drain()
            writer.close()
            return
        writer.write(_TUNNEL_UP)
        if not await self._tunnel(reader, writer, port):
            writer.close()
