"""The Production domain: a TCP port that forwards to whichever deployment is Production now.

Forwarding raw bytes keeps TLS end to end with the deployment (its certificate names
127.0.0.1, so any port fits), and promote or rollback only change where new connections go.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from sandbox.serving import listening_socket

from .state import VercelState


class AliasForwarder:
    def __init__(self, state: VercelState) -> None:
        self.state = state
        self._socket = listening_socket("127.0.0.1", 0)
        state.alias_host = f"127.0.0.1:{self._socket.getsockname()[1]}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="vercel-alias")

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, sock=self._socket))
        with contextlib.suppress(RuntimeError):
            self._loop.run_forever()
        server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self.state.lock:
            production = self.state.production()
            port = int(production.url.rsplit(":", 1)[1]) if production else None
        if port is None:
            writer.close()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))

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
