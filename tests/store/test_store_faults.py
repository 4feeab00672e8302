"""The store boundary: SQLite's storage faults become kmsg errors naming the file; a database a
newer kmsg migrated is refused before anything is applied or written."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kmsg_cli.errors import ConfigError, InputFileError, StorageError, TemporaryError
from kmsg_cli.store import open_store
from kmsg_cli.store.migrations import MIGRATIONS, migrate, schema_version

NUMBERS = [f"010{30_000_000 + i:08d}" for i in range(300)]


def test_a_full_disk_in_a_write_is_a_storage_error_and_the_store_stays_usable(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path / "k.db", 0)
    (pages,) = store.conn.execute("PRAGMA page_count").fetchone()
    store.conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StorageError) as caught:
        store.suppress(NUMBERS, "full", 1)
    assert caught.value.exit_code == 74
    assert str(tmp_path / "k.db") in caught.value.message and "disk is full" in caught.value.message
    # SQLite rolled the transaction back itself; write() did not fail again trying to
    assert not store.conn.in_transaction
    store.conn.execute("PRAGMA max_page_count = 1000000")  # space again: the next write works
    assert store.suppress(NUMBERS, "room", 2) == len(NUMBERS)


def test_a_database_locked_past_the_busy_timeout_is_temporary(tmp_path: Path) -> None:
    store = open_store(tmp_path / "k.db", 0)
    other = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    store.conn.execute("PRAGMA busy_timeout = 0")  # do not wait the 30 s out
    with pytest.raises(TemporaryError) as caught:
        store.suppress(NUMBERS[:1], None, 1)
    assert caught.value.exit_code == 75 and "locked by another process" in caught.value.message
    other.execute("ROLLBACK")


def test_kmsg_own_errors_are_not_disguised_as_storage_faults(tmp_path: Path) -> None:
    store = open_store(tmp_path / "k.db", 0)
    store.conn.execute("INSERT INTO kmsg_routing_cursor VALUES ('k', 0)")
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("INSERT INTO kmsg_routing_cursor VALUES ('k', 1)")


def test_a_file_that_is_not_a_database_is_a_storage_error(tmp_path: Path) -> None:
    csv = tmp_path / "customers.csv"
    csv.write_text("name,phone\n" * 200)
    with pytest.raises(StorageError, match="damaged or not a kmsg database"):
        open_store(csv, 0)


def test_a_folder_that_cannot_be_made_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError, match="cannot create the database"):
        open_store(tmp_path / "file" / "k.db", 0)


def test_a_named_database_is_not_made_in_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="database folder not found"):
        open_store(tmp_path / "typo" / "k.db", 0, make_folder=False)
    with pytest.raises(InputFileError, match="database not found"):
        open_store(tmp_path / "k.db", 0, must_exist=True)
    assert not (tmp_path / "typo").exists() and not (tmp_path / "k.db").exists()


def test_schema_version_is_the_highest_numeric_prefix() -> None:
    assert schema_version(["001_a", "004_b", "010_c", "notes"]) == 10
    assert schema_version([]) == 0
    assert schema_version(name for name, _ in MIGRATIONS) >= 4


def seeded(tmp_path: Path, *names: str) -> sqlite3.Connection:
    """A database that records only ``names`` as applied."""
    conn = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
    conn.execute('CREATE TABLE "kmsg_migrations" ("name" TEXT PRIMARY KEY, "applied_at" INTEGER)')
    conn.executemany('INSERT INTO "kmsg_migrations" VALUES (?, 0)', [(n,) for n in names])
    return conn


def test_a_newer_kmsg_database_is_refused_before_anything_is_applied(tmp_path: Path) -> None:
    conn = seeded(tmp_path, MIGRATIONS[0][0], "999_from_the_future")
    before = conn.execute("SELECT sql FROM sqlite_master").fetchall()
    ours = schema_version(name for name, _ in MIGRATIONS)
    with pytest.raises(ConfigError) as caught:
        migrate(conn, 1)
    assert caught.value.exit_code == 78
    assert caught.value.message == (
        f"database {tmp_path / 'k.db'} has schema 999, newer than this kmsg (schema {ours}): "
        "upgrade kmsg"
    )
    assert conn.execute("SELECT sql FROM sqlite_master").fetchall() == before
    assert not conn.in_transaction


def test_unknown_migrations_of_the_same_number_are_refused_too(tmp_path: Path) -> None:
    conn = seeded(tmp_path, "001_from_a_fork")
    with pytest.raises(
        ConfigError, match=r"migrations this kmsg does not know \(001_from_a_fork\)"
    ):
        migrate(conn, 1)
