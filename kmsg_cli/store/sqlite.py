"""SQLite store: WAL, busy timeout, short BEGIN IMMEDIATE write transactions, file mode 0600.

Everything outside this package sees domain objects (core.models), never rows or SQL, so a
PostgreSQL store can stand beside this one.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kmsg_cli.errors import InputFileError, KmsgError
from kmsg_cli.store.bulk import BulkQueries
from kmsg_cli.store.jobs import JobQueries
from kmsg_cli.store.lists import ListQueries
from kmsg_cli.store.migrations import migrate
from kmsg_cli.store.records import RecordQueries
from kmsg_cli.store.tracking import TrackingQueries


def open_store(path: Path, now_ms: int, *, must_exist: bool = False) -> Store:
    if must_exist and not path.exists():
        raise InputFileError(f"database not found: {path}", hint="check --db / KMSG_DB")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            # create it 0600 before SQLite opens it (PII-20)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA synchronous=NORMAL")
        migrate(conn, now_ms)
    except sqlite3.DatabaseError as exc:
        raise KmsgError(f"cannot open database {path}: {exc}") from None
    except OSError as exc:
        raise InputFileError(f"cannot open database {path}: {exc.strerror}") from None
    return Store(conn)


class Store(RecordQueries, ListQueries, JobQueries, TrackingQueries, BulkQueries):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, taken with the write lock up front (Q-5). Inside another
        one it joins it, so a store method can combine others atomically."""
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
