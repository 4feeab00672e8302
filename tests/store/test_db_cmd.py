"""`kmsg db info / migrate / copy`: which database, its schema, and moving a SQLite history into
PostgreSQL without copying anything twice."""

from __future__ import annotations

from pathlib import Path

import psycopg

from kmsg_cli.store import open_store
from kmsg_cli.store.migrations import MIGRATIONS
from tests.commands.test_queue import queue_job
from tests.conftest import Kmsg
from tests.trackkit import ALIMTALK_WITH_FAILOVER

NAMES = [name for name, _ in MIGRATIONS]


def with_password(url: str) -> str:
    """The test server trusts local connections: a password in the URL is accepted, unused."""
    return url.replace("postgresql://postgres@", "postgresql://postgres:hunter2@")


def test_info_names_the_backend_and_masks_the_password(kmsg: Kmsg, backend: str) -> None:
    db = with_password(backend)
    assert kmsg("--db", db, "send", "--to", "01012345678", "--text", "hi").exit_code == 0
    code, doc = kmsg.json("--db", db, "db", "info")
    assert code == 0
    assert doc["backend"] == ("postgres" if "://" in db else "sqlite")
    assert doc["schema_version"] == len(NAMES) and doc["migrations"] == NAMES
    assert doc["tables"]["kmsg_delivery_tracking"] == 1
    human = kmsg("--db", db, "db", "info")
    assert "hunter2" not in human.output + str(doc)
    if "://" in db:
        assert "postgres:***@" in doc["database"] and "postgres:***@" in human.output


def test_migrate_applies_each_migration_once(kmsg: Kmsg, pg_url: str) -> None:
    code, doc = kmsg.json("--db", pg_url, "db", "migrate")
    assert code == 0 and doc["applied"] == NAMES
    code, doc = kmsg.json("--db", pg_url, "db", "migrate")
    assert code == 0 and doc["applied"] == [] and doc["schema_version"] == len(NAMES)


def seed_sqlite(kmsg: Kmsg, kmsg_home: Path, tmp_path: Path) -> None:
    """A local history: plain sends, one with a key, an AlimTalk that failed over (history and
    an intent), a queued job, an opt-out, a round-robin cursor, a campaign."""
    for i in range(30):
        assert kmsg("send", "--to", f"0101234{i:04d}", "--text", "hi").exit_code == 0
    key = ("send", "--to", "01099990000", "--text", "k", "--idempotency-key", "order-1")
    assert kmsg(*key).exit_code == 0
    assert kmsg(*ALIMTALK_WITH_FAILOVER).exit_code == 0
    kmsg.clock.advance(31)
    assert kmsg("track", "--once").exit_code == 0
    queue_job(kmsg.clock, kmsg)  # a night-time ad, deferred to 08:00 in the local queue
    assert kmsg("suppress", "add", "01055556666").exit_code == 0
    csv = tmp_path / "c.csv"
    csv.write_text("name,phone\n김,01020000011\n이,01020000021\n", encoding="utf-8")
    assert kmsg("send-bulk", "--yes", str(csv), "--text", "#{name}님").exit_code == 0
    store = open_store(kmsg_home / "kmsg.db", 0)
    store.advance_cursor("by_type.SMS", 2)
    assert all(store.table_counts().values())  # every table has something to copy
    store.close()


def test_copy_moves_everything_once_and_status_counts_match(
    kmsg: Kmsg, kmsg_home: Path, tmp_path: Path, pg_url: str
) -> None:
    seed_sqlite(kmsg, kmsg_home, tmp_path)
    _, local = kmsg.json("db", "info")
    _, local_status = kmsg.json("status", "--limit", "1000")
    code, doc = kmsg.json("db", "copy", "--to", pg_url)
    assert code == 0 and doc["copied"] == local["tables"]
    _, remote = kmsg.json("--db", pg_url, "db", "info")
    assert remote["tables"] == local["tables"]
    _, remote_status = kmsg.json("--db", pg_url, "status", "--limit", "1000")
    assert remote_status["counts"] == local_status["counts"]
    assert remote_status["messages"] == local_status["messages"]
    code, doc = kmsg.json("db", "copy", "--to", pg_url)  # a rerun copies nothing
    assert code == 0 and set(doc["copied"].values()) == {0}
    # PostgreSQL carries on from the copy: new sends, and the key still guards its message
    assert kmsg("--db", pg_url, "send", "--to", "01077778888", "--text", "new").exit_code == 0
    code, again = kmsg.json(
        "--db", pg_url, "send", "--to", "01099990000", "--text", "k", "--idempotency-key", "order-1"
    )
    assert code == 0 and again["messages"][0]["state"] == "duplicate"
    tables = kmsg.json("--db", pg_url, "db", "info")[1]["tables"]
    assert tables["kmsg_delivery_tracking"] == local["tables"]["kmsg_delivery_tracking"] + 1


def test_an_interrupted_copy_finishes_with_only_what_is_missing(
    kmsg: Kmsg, kmsg_home: Path, tmp_path: Path, pg_url: str
) -> None:
    seed_sqlite(kmsg, kmsg_home, tmp_path)
    _, local = kmsg.json("db", "info")
    assert kmsg.json("db", "copy", "--to", pg_url)[0] == 0
    with psycopg.connect(pg_url, autocommit=True) as conn:  # as if the last batches never landed
        gone = conn.execute(
            "DELETE FROM kmsg_delivery_tracking WHERE message_id IN (SELECT message_id FROM "
            "kmsg_delivery_tracking ORDER BY message_id DESC LIMIT 10) RETURNING message_id"
        ).fetchall()
        history = conn.execute(
            "DELETE FROM kmsg_status_history WHERE message_id = ANY(%s)", ([g[0] for g in gone],)
        ).rowcount
    code, doc = kmsg.json("db", "copy", "--to", pg_url)
    assert code == 0
    assert doc["copied"]["kmsg_delivery_tracking"] == 10
    assert doc["copied"]["kmsg_status_history"] == history > 0
    assert kmsg.json("--db", pg_url, "db", "info")[1]["tables"] == local["tables"]


def test_copy_refuses_to_copy_a_database_into_itself(kmsg: Kmsg, pg_url: str) -> None:
    result = kmsg("--db", pg_url, "db", "copy", "--to", pg_url)
    assert result.exit_code == 2 and "being copied" in result.output
