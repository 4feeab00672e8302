"""The few places SQLite and PostgreSQL need different SQL, as small helpers the mixins call.

SQLite serializes every write on one lock (BEGIN IMMEDIATE), so a read followed by a write in one
transaction cannot race another process. PostgreSQL lets writers run side by side, so where a
mixin relies on that it says so here: claims lock the rows they take and skip rows another worker
holds (FOR UPDATE SKIP LOCKED), and a read-then-write (the ledger's attempt numbering, a
campaign's owner) first takes a transaction-scoped advisory lock named for what it protects.
On SQLite every helper is a no-op or the empty string (docs/storage.md).
"""

from __future__ import annotations

from typing import Any


def is_postgres(conn: Any) -> bool:
    return getattr(conn, "dialect", "sqlite") == "postgres"


def skip_locked(conn: Any) -> str:
    """Appended to a claim's inner SELECT: lock what it takes, skip what another worker holds."""
    return " FOR UPDATE SKIP LOCKED" if is_postgres(conn) else ""


def for_update(conn: Any) -> str:
    """Appended to a SELECT whose rows the transaction goes on to update."""
    return " FOR UPDATE" if is_postgres(conn) else ""


def serialize(conn: Any, name: str) -> None:
    """Inside a write transaction: wait for any other transaction serializing on ``name``,
    until this one ends (SQLite's write lock does this already)."""
    if is_postgres(conn):
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (name,))
