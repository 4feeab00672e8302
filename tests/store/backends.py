"""Helpers for store tests that run on both backends (the ``backend`` fixture, tests/conftest.py)."""

from __future__ import annotations

from kmsg_cli.store import Store


def table_columns(store: Store, table: str) -> list[str]:
    """A table's columns in order, on either backend."""
    if store.backend == "postgres":
        rows = store.conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "AND table_schema = current_schema() ORDER BY ordinal_position",
            (table,),
        )
        return [r[0] for r in rows]
    return [r[1] for r in store.conn.execute(f'PRAGMA table_info("{table}")')]


def index_names(store: Store, table: str) -> set[str]:
    if store.backend == "postgres":
        rows = store.conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = ?", (table,))
        return {r[0] for r in rows}
    return {
        r[1]
        for r in store.conn.execute(f'PRAGMA index_list("{table}")')
        if not r[1].startswith("sqlite_")
    }
