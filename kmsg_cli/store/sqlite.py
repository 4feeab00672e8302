"""SQLite store: WAL, busy timeout, short BEGIN IMMEDIATE write transactions, file mode 0600.

Everything outside this package sees domain objects (core.models), never rows or SQL; the same
Store runs on PostgreSQL (store/postgres.py) through a connection adapter.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from kmsg_cli.errors import InputFileError, StorageError
from kmsg_cli.store.admin import AdminQueries
from kmsg_cli.store.campaigns import CampaignQueries
from kmsg_cli.store.faults import FaultConnection, storage_fault
from kmsg_cli.store.jobs import JobQueries
from kmsg_cli.store.lists import ListQueries
from kmsg_cli.store.migrations import migrate
from kmsg_cli.store.records import RecordQueries
from kmsg_cli.store.templates import TemplateQueries
from kmsg_cli.store.track import TrackQueries

WAL_CHECKPOINT_PAGES = 4000  # SQLite pages (4 KiB) of WAL between automatic checkpoints


def open_store(
    path: Path, now_ms: int, *, must_exist: bool = False, make_folder: bool = True
) -> Store:
    """The migrated store at ``path``. ``must_exist``: the file must be there already (66).
    ``make_folder``: create missing parent folders (the default location, on a first run);
    without it a missing folder is 66 too, so a typo in --db never starts a fresh database
    in a new directory tree."""
    if must_exist and not path.exists():
        raise InputFileError(f"database not found: {path}", hint="check --db / KMSG_DB")
    if not make_folder and not path.parent.is_dir():
        raise InputFileError(
            f"database folder not found: {path.parent}", hint="check --db / KMSG_DB"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            # create it 0600 before SQLite opens it (PII-20)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise StorageError(f"cannot create the database {path}: {exc.strerror}") from None
    conn = connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA synchronous=NORMAL")
        # checkpoint every 16 MB of WAL, not 4: a campaign's writes land all over the row-key
        # index, and each checkpoint copies every page written since the last one (about 2 µs
        # of a sent row at 100,000 rows); the last connection to close still empties the WAL
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        ran = migrate(conn, now_ms)
    except BaseException:
        conn.close()
        raise
    return Store(conn, ran)


def connect(path: Path) -> FaultConnection:
    """A connection whose storage faults are kmsg errors naming ``path`` (store.faults)."""
    try:
        conn = sqlite3.connect(
            path,
            isolation_level=None,
            timeout=30,
            check_same_thread=False,
            factory=FaultConnection,
        )
    except sqlite3.Error as exc:
        raise storage_fault(exc, path) or StorageError(
            f"cannot open the database {path}: {exc}"
        ) from None
    conn.path = path
    return conn


class Store(
    RecordQueries,
    ListQueries,
    JobQueries,
    TrackQueries,
    CampaignQueries,
    AdminQueries,
    TemplateQueries,
):
    """The store on either backend: ``conn`` is a SQLite connection or store.postgres's adapter,
    which speaks the same subset of sqlite3's interface."""

    def __init__(self, conn: Any, migrated: list[str] | None = None) -> None:
        self.conn = conn
        self.migrated = migrated or []  # what opening it applied

    @property
    def backend(self) -> str:
        return str(getattr(self.conn, "dialect", "sqlite"))

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
            self.conn.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back already (it does on a full disk or an I/O error), and a
            # ROLLBACK that fails too must not hide the error that matters: the first one
            if self.conn.in_transaction:
                with suppress(Exception):
                    self.conn.execute("ROLLBACK")
            raise
