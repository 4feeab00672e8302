"""The only SQL in kmsg. ``open_store(location)`` returns a migrated Store: a SQLite file, or
PostgreSQL for a ``postgresql://`` URL (docs/storage.md)."""

from __future__ import annotations

from pathlib import Path

from kmsg_cli.store import postgres, sqlite
from kmsg_cli.store.migrations import migrate
from kmsg_cli.store.sqlite import Store

__all__ = ["Store", "open_store"]


def open_store(
    location: Path | str,
    now_ms: int,
    *,
    must_exist: bool = False,
    make_folder: bool = True,
    password: str | None = None,
) -> Store:
    """A file path opens SQLite (``must_exist``/``make_folder``: sqlite.open_store); a
    ``postgresql://`` URL opens PostgreSQL, ``password`` given beside the URL."""
    if postgres.is_url(location):
        conn = postgres.connect(str(location), password)
        try:
            ran = migrate(conn, now_ms)
        except BaseException:
            conn.close()
            raise
        return Store(conn, ran)
    return sqlite.open_store(Path(location), now_ms, must_exist=must_exist, make_folder=make_folder)
