"""The seed's tables keep k-msg's exact columns and index names
(docs/architecture.md#database-schema)."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from kmsg_cli.store import open_store
from kmsg_cli.store.migrations import MIGRATIONS, migrate

SEED_TRACKING = [
    "message_id",
    "provider_id",
    "provider_message_id",
    "type",
    "to",
    "from",
    "status",
    "provider_status_code",
    "provider_status_message",
    "sent_at",
    "delivered_at",
    "failed_at",
    "requested_at",
    "scheduled_at",
    "status_updated_at",
    "attempt_count",
    "last_checked_at",
    "next_check_at",
    "last_error",
    "metadata",
]
SEED_JOBS = [
    "id",
    "type",
    "data",
    "status",
    "priority",
    "attempts",
    "max_attempts",
    "delay",
    "created_at",
    "process_at",
    "completed_at",
    "failed_at",
    "error",
    "metadata",
]


def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]


def indexes(conn: sqlite3.Connection, table: str) -> set[str]:
    return {
        row[1]
        for row in conn.execute(f'PRAGMA index_list("{table}")')
        if not row[1].startswith("sqlite_")
    }


def test_seed_columns_come_first_in_order_and_index_names_match(tmp_path: Path) -> None:
    store = open_store(tmp_path / "k.db", 0)
    tracking = columns(store.conn, "kmsg_delivery_tracking")
    jobs = columns(store.conn, "kmsg_jobs")
    assert tracking[: len(SEED_TRACKING)] == SEED_TRACKING
    assert jobs[: len(SEED_JOBS)] == SEED_JOBS
    assert {
        "idx_kmsg_delivery_due",
        "idx_kmsg_delivery_provider_msg",
        "idx_kmsg_delivery_requested_at",
    } <= indexes(store.conn, "kmsg_delivery_tracking")
    assert {"idx_kmsg_jobs_dequeue", "idx_kmsg_jobs_id"} <= indexes(store.conn, "kmsg_jobs")
    # kmsg's additions: leases, idempotency, links
    assert {
        "idempotency_key",
        "claimed_by",
        "lease_until",
        "fallback_of",
        "fallback_message_id",
    } <= set(tracking)
    assert {"claimed_by", "lease_until", "idempotency_key"} <= set(jobs)


def test_migrating_twice_is_a_no_op(tmp_path: Path) -> None:
    open_store(tmp_path / "k.db", 0).close()
    conn = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
    before = conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    assert migrate(conn, 1) == []
    assert conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == before


def test_a_failing_migration_leaves_nothing_behind(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
    broken = [*MIGRATIONS, ("999_broken", 'CREATE TABLE "half" (a INTEGER); SELECT * FROM nowhere')]
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, 0, broken)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "half" not in tables
    assert "kmsg_delivery_tracking" in tables  # earlier migrations committed on their own
    names = {r[0] for r in conn.execute('SELECT name FROM "kmsg_migrations"')}
    assert "999_broken" not in names


def test_database_file_is_private(tmp_path: Path) -> None:
    open_store(tmp_path / "sub" / "k.db", 0).close()
    assert stat.S_IMODE((tmp_path / "sub" / "k.db").stat().st_mode) == 0o600


def test_round_robin_cursor_rotates_and_persists(tmp_path: Path) -> None:
    store = open_store(tmp_path / "k.db", 0)
    assert [store.advance_cursor("by_type.SMS", 2) for _ in range(3)] == [0, 1, 0]
    store.close()
    assert open_store(tmp_path / "k.db", 0).advance_cursor("by_type.SMS", 2) == 1
