"""Postgres access: the connection pool, the embedded development database, migrations."""
