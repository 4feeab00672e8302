"""The test cluster (tests/pg.py): every test gets a fresh, empty database of its own."""

from __future__ import annotations

import psycopg


def test_each_test_gets_an_empty_database_on_a_unix_socket(pg_url: str) -> None:
    assert "host=/" in pg_url  # a socket in the cluster's temp folder, no TCP port
    with psycopg.connect(pg_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()
        listen = conn.execute("SHOW listen_addresses").fetchone()
    assert tables == (0,) and listen == ("",)
