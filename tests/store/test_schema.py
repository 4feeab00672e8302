"""The seed's tables keep k-msg's exact columns and index names
(docs/architecture.md#database-schema)."""

from __future__ import annotations

import sqlite3
import stat
import threading
from pathlib import Path

import psycopg
import pytest

from kmsg_cli.store import open_store
from kmsg_cli.store.migrations import MIGRATIONS, migrate
from tests.store.backends import index_names, table_columns

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


def test_seed_columns_come_first_in_order_and_index_names_match(backend: str) -> None:
    store = open_store(backend, 0)
    tracking = table_columns(store, "kmsg_delivery_tracking")
    jobs = table_columns(store, "kmsg_jobs")
    assert tracking[: len(SEED_TRACKING)] == SEED_TRACKING
    assert jobs[: len(SEED_JOBS)] == SEED_JOBS
    assert {
        "idx_kmsg_delivery_due",
        "idx_kmsg_delivery_provider_msg",
        "idx_kmsg_delivery_requested_at",
    } <= index_names(store, "kmsg_delivery_tracking")
    assert {"idx_kmsg_jobs_dequeue", "idx_kmsg_jobs_id"} <= index_names(store, "kmsg_jobs")
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


def test_round_robin_cursor_rotates_and_persists(backend: str) -> None:
    store = open_store(backend, 0)
    assert [store.advance_cursor("by_type.SMS", 2) for _ in range(3)] == [0, 1, 0]
    store.close()
    assert open_store(backend, 0).advance_cursor("by_type.SMS", 2) == 1


def test_postgres_columns_hold_ms_timestamps_and_metadata_is_jsonb(pg_url: str) -> None:
    store = open_store(pg_url, 0)
    rows = store.conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'kmsg_delivery_tracking'"
    ).fetchall()
    types = dict(rows)
    assert types["metadata"] == "jsonb"
    assert {types[c] for c in ("requested_at", "next_check_at", "lease_until")} == {"bigint"}
    assert "integer" not in types.values()  # 32 bits would overflow a ms timestamp in 2038


def test_postgres_migrating_twice_is_a_no_op_and_a_failing_one_leaves_nothing(
    pg_url: str,
) -> None:
    store = open_store(pg_url, 0)
    assert migrate(store.conn, 1) == []
    broken = [*MIGRATIONS, ("999_broken", 'CREATE TABLE "half" (a BIGINT); SELECT * FROM nowhere')]
    with pytest.raises(psycopg.errors.UndefinedTable):
        migrate(store.conn, 0, broken)
    assert not store.conn.in_transaction
    names = {r[0] for r in store.conn.execute('SELECT name FROM "kmsg_migrations"')}
    assert "999_broken" not in names and "005_delivery_ledger" in names
    half = store.conn.execute("SELECT to_regclass('half')").fetchone()
    assert half == (None,)


def test_hosts_starting_at_once_migrate_once(pg_url: str) -> None:
    """Four processes' worth of connections open a fresh database at the same instant: each
    migration is applied by exactly one of them (the advisory lock), none fails."""
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            open_store(pg_url, 0).close()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    store = open_store(pg_url, 0)
    names = [r[0] for r in store.conn.execute('SELECT name FROM "kmsg_migrations"')]
    assert sorted(names) == [name for name, _ in MIGRATIONS]
