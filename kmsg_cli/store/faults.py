"""SQLite's storage faults as kmsg errors: the one place they are mapped (exit 74,
README.md#exit-codes).

A full disk, an I/O error or a read-only file is not a bug in kmsg: the operator gets one line
that names the database and what to do, never "internal error" and a traceback. Errors that are
kmsg's own (a constraint, bad SQL) are left as they are, so they still look like bugs.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from kmsg_cli.errors import ExitCode, KmsgError, StorageError, TemporaryError

# SQLite's primary result codes; extended codes keep them in the low byte, so SQLITE_IOERR_WRITE
# and SQLITE_READONLY_DIRECTORY map with their family
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26


class StoreUnavailable(KmsgError):
    """The database server cannot be reached (PostgreSQL): 69, like a provider that is down."""

    exit_code = ExitCode.UNAVAILABLE.value
    code = "unavailable"


def storage_fault(exc: sqlite3.Error, path: Path) -> KmsgError | None:
    """The kmsg error for a storage fault on ``path``, or None when ``exc`` is not one."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    primary = code & 0xFF
    if primary == _FULL:
        return StorageError(
            f"cannot write the database {path}: the disk is full; free some space, then rerun"
        )
    if primary == _IOERR:
        return StorageError(
            f"cannot use the database {path}: disk I/O error; check the disk, then rerun"
        )
    if primary == _READONLY:
        return StorageError(
            f"cannot write the database {path}: it is read-only; "
            "make the file and its folder writable, then rerun"
        )
    if primary == _CANTOPEN:
        return StorageError(
            f"cannot open the database {path}; check that the file and its folder are writable"
        )
    if primary in (_CORRUPT, _NOTADB):
        return StorageError(
            f"the database {path} is damaged or not a kmsg database ({exc}); "
            "restore it from a backup or fix --db"
        )
    if primary in (_BUSY, _LOCKED):  # after the 30 s busy timeout: another kmsg holds it
        return TemporaryError(f"the database {path} is locked by another process; rerun later")
    return None


class FaultConnection(sqlite3.Connection):
    """A connection whose statements raise storage faults as kmsg errors naming the file. Every
    statement goes through execute/executemany, so open, migrations, reads and write
    transactions (BEGIN, COMMIT) are all covered without touching the query modules."""

    path: Path = Path()
    dialect = "sqlite"

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.Error as exc:
            fault = storage_fault(exc, self.path)
            if fault is None:
                raise
            raise fault from exc

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        try:
            return super().executemany(sql, parameters)
        except sqlite3.Error as exc:
            fault = storage_fault(exc, self.path)
            if fault is None:
                raise
            raise fault from exc
