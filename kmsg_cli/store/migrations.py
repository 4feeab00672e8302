"""Named, ordered migrations, each applied in one transaction and recorded in kmsg_migrations.

001 is the seed's schema exactly as k-msg's DDL builders emit it; later ones add kmsg's own columns
and tables beside it (docs/architecture.md#database-schema). Never edit an applied migration:
append one.

A migration is written once in portable SQL (TEXT and BIGINT columns, no JSON functions) and runs
on both backends; only where the dialects differ is it a dict of SQL per dialect ("sqlite",
"postgres"). 001-005 predate PostgreSQL support: their PostgreSQL versions declare every integer
BIGINT (ms timestamps overflow PostgreSQL's 32-bit INTEGER) and "metadata" jsonb. On PostgreSQL
each migration runs under a transaction-scoped advisory lock, so hosts starting at once apply it
once (docs/storage.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kmsg_cli.errors import ConfigError
from kmsg_cli.store.dialect import is_postgres, serialize

Migration = tuple[str, str | dict[str, str]]

MIGRATIONS: list[Migration] = [
    (
        "001_seed_tracking_and_jobs",
        {
            "sqlite": """
        CREATE TABLE IF NOT EXISTS "kmsg_delivery_tracking" (
          "message_id" TEXT PRIMARY KEY,
          "provider_id" TEXT NOT NULL,
          "provider_message_id" TEXT NOT NULL,
          "type" TEXT NOT NULL,
          "to" TEXT NOT NULL,
          "from" TEXT,
          "status" TEXT NOT NULL,
          "provider_status_code" TEXT,
          "provider_status_message" TEXT,
          "sent_at" INTEGER,
          "delivered_at" INTEGER,
          "failed_at" INTEGER,
          "requested_at" INTEGER NOT NULL,
          "scheduled_at" INTEGER,
          "status_updated_at" INTEGER NOT NULL,
          "attempt_count" INTEGER NOT NULL DEFAULT 0,
          "last_checked_at" INTEGER,
          "next_check_at" INTEGER NOT NULL,
          "last_error" TEXT,
          "metadata" TEXT
        );
        CREATE INDEX IF NOT EXISTS "idx_kmsg_delivery_due"
          ON "kmsg_delivery_tracking" ("status", "next_check_at");
        CREATE INDEX IF NOT EXISTS "idx_kmsg_delivery_provider_msg"
          ON "kmsg_delivery_tracking" ("provider_id", "provider_message_id");
        CREATE INDEX IF NOT EXISTS "idx_kmsg_delivery_requested_at"
          ON "kmsg_delivery_tracking" ("requested_at");
        CREATE TABLE IF NOT EXISTS "kmsg_jobs" (
          "id" TEXT PRIMARY KEY,
          "type" TEXT NOT NULL,
          "data" TEXT NOT NULL,
          "status" TEXT NOT NULL DEFAULT 'pending',
          "priority" INTEGER NOT NULL DEFAULT 0,
          "attempts" INTEGER NOT NULL DEFAULT 0,
          "max_attempts" INTEGER NOT NULL DEFAULT 3,
          "delay" INTEGER NOT NULL DEFAULT 0,
          "created_at" BIGINT NOT NULL,
          "process_at" BIGINT NOT NULL,
          "completed_at" BIGINT,
          "failed_at" BIGINT,
          "error" TEXT,
          "metadata" TEXT
        );
        CREATE INDEX IF NOT EXISTS "idx_kmsg_jobs_dequeue"
          ON "kmsg_jobs" ("status", "priority", "process_at", "created_at");
        CREATE INDEX IF NOT EXISTS "idx_kmsg_jobs_id" ON "kmsg_jobs" ("id");
        """,
            # ids compare in code point order (prefix lookups), whatever the database's collation
            "postgres": """
        CREATE TABLE IF NOT EXISTS "kmsg_delivery_tracking" (
          "message_id" TEXT COLLATE "C" PRIMARY KEY,
          "provider_id" TEXT NOT NULL,
          "provider_message_id" TEXT NOT NULL,
          "type" TEXT NOT NULL,
          "to" TEXT NOT NULL,
          "from" TEXT,
          "status" TEXT NOT NULL,
          "provider_status_code" TEXT,
          "provider_status_message" TEXT,
          "sent_at" BIGINT,
          "delivered_at" BIGINT,
          "failed_at" BIGINT,
          "requested_at" BIGINT NOT NULL,
          "scheduled_at" BIGINT,
          "status_updated_at" BIGINT NOT NULL,
          "attempt_count" BIGINT NOT NULL DEFAULT 0,
          "last_checked_at" BIGINT,
          "next_check_at" BIGINT NOT NULL,
          "last_error" TEXT,
          "metadata" JSONB
        );
        CREATE INDEX IF NOT EXISTS "idx_kmsg_delivery_due"
          ON "kmsg_delivery_tracking" ("status", "next_check_at");
        CREATE INDEX IF NOT EXISTS "idx_kmsg_delivery_provider_msg"
          ON "kmsg_delivery_tracking" ("provider_id", "provider_message_id");
        CREATE INDEX IF NOT EXISTS "idx_kmsg_delivery_requested_at"
          ON "kmsg_delivery_tracking" ("requested_at");
        CREATE TABLE IF NOT EXISTS "kmsg_jobs" (
          "id" TEXT PRIMARY KEY,
          "type" TEXT NOT NULL,
          "data" TEXT NOT NULL,
          "status" TEXT NOT NULL DEFAULT 'pending',
          "priority" BIGINT NOT NULL DEFAULT 0,
          "attempts" BIGINT NOT NULL DEFAULT 0,
          "max_attempts" BIGINT NOT NULL DEFAULT 3,
          "delay" BIGINT NOT NULL DEFAULT 0,
          "created_at" BIGINT NOT NULL,
          "process_at" BIGINT NOT NULL,
          "completed_at" BIGINT,
          "failed_at" BIGINT,
          "error" TEXT,
          "metadata" JSONB
        );
        CREATE INDEX IF NOT EXISTS "idx_kmsg_jobs_dequeue"
          ON "kmsg_jobs" ("status", "priority", "process_at", "created_at");
        CREATE INDEX IF NOT EXISTS "idx_kmsg_jobs_id" ON "kmsg_jobs" ("id");
        """,
        },
    ),
    (
        "002_journal_leases_history_cursor",
        {
            "sqlite": """
        ALTER TABLE "kmsg_delivery_tracking" ADD COLUMN "idempotency_key" TEXT;
        ALTER TABLE "kmsg_delivery_tracking" ADD COLUMN "send_state" TEXT NOT NULL DEFAULT 'accepted';
        ALTER TABLE "kmsg_delivery_tracking" ADD COLUMN "group_id" TEXT;
        ALTER TABLE "kmsg_delivery_tracking" ADD COLUMN "claimed_by" TEXT;
        ALTER TABLE "kmsg_delivery_tracking" ADD COLUMN "lease_until" INTEGER;
        ALTER TABLE "kmsg_delivery_tracking" ADD COLUMN "failover_mode" TEXT;
        ALTER TABLE "kmsg_delivery_tracking" ADD COLUMN "fallback_of" TEXT;
        ALTER TABLE "kmsg_delivery_tracking" ADD COLUMN "fallback_message_id" TEXT;
        ALTER TABLE "kmsg_delivery_tracking" ADD COLUMN "job_id" TEXT;
        CREATE UNIQUE INDEX "idx_kmsg_delivery_idempotency"
          ON "kmsg_delivery_tracking" ("idempotency_key");
        CREATE INDEX "idx_kmsg_delivery_job" ON "kmsg_delivery_tracking" ("job_id");
        ALTER TABLE "kmsg_jobs" ADD COLUMN "claimed_by" TEXT;
        ALTER TABLE "kmsg_jobs" ADD COLUMN "lease_until" INTEGER;
        ALTER TABLE "kmsg_jobs" ADD COLUMN "idempotency_key" TEXT;
        CREATE UNIQUE INDEX "idx_kmsg_jobs_idempotency" ON "kmsg_jobs" ("idempotency_key");
        CREATE TABLE "kmsg_status_history" (
          "id" INTEGER PRIMARY KEY AUTOINCREMENT,
          "message_id" TEXT NOT NULL,
          "at" INTEGER NOT NULL,
          "status" TEXT,
          "code" TEXT,
          "message" TEXT,
          "source" TEXT NOT NULL
        );
        CREATE INDEX "idx_kmsg_status_history_message" ON "kmsg_status_history" ("message_id", "id");
        CREATE TABLE "kmsg_routing_cursor" (
          "key" TEXT PRIMARY KEY,
          "position" INTEGER NOT NULL
        );
        CREATE TABLE "kmsg_suppressions" (
          "number" TEXT PRIMARY KEY,
          "added_at" INTEGER NOT NULL,
          "reason" TEXT
        );
        """,
            "postgres": """
        ALTER TABLE "kmsg_delivery_tracking" ADD COLUMN "idempotency_key" TEXT;
        ALTER TABLE "kmsg_delivery_tracking" ADD COLUMN "send_state" TEXT NOT NULL DEFAULT 'accepted';
        ALTER TABLE "kmsg_delivery_tracking" ADD COLUMN "group_id" TEXT;
        ALTER TABLE "kmsg_delivery_tracking" ADD COLUMN "claimed_by" TEXT;
        ALTER TABLE "kmsg_delivery_tracking" ADD COLUMN "lease_until" BIGINT;
        ALTER TABLE "kmsg_delivery_tracking" ADD COLUMN "failover_mode" TEXT;
        ALTER TABLE "kmsg_delivery_tracking" ADD COLUMN "fallback_of" TEXT;
        ALTER TABLE "kmsg_delivery_tracking" ADD COLUMN "fallback_message_id" TEXT;
        ALTER TABLE "kmsg_delivery_tracking" ADD COLUMN "job_id" TEXT;
        CREATE UNIQUE INDEX "idx_kmsg_delivery_idempotency"
          ON "kmsg_delivery_tracking" ("idempotency_key");
        CREATE INDEX "idx_kmsg_delivery_job" ON "kmsg_delivery_tracking" ("job_id");
        ALTER TABLE "kmsg_jobs" ADD COLUMN "claimed_by" TEXT;
        ALTER TABLE "kmsg_jobs" ADD COLUMN "lease_until" BIGINT;
        ALTER TABLE "kmsg_jobs" ADD COLUMN "idempotency_key" TEXT;
        CREATE UNIQUE INDEX "idx_kmsg_jobs_idempotency" ON "kmsg_jobs" ("idempotency_key");
        CREATE TABLE "kmsg_status_history" (
          "id" BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
          "message_id" TEXT NOT NULL,
          "at" BIGINT NOT NULL,
          "status" TEXT,
          "code" TEXT,
          "message" TEXT,
          "source" TEXT NOT NULL
        );
        CREATE INDEX "idx_kmsg_status_history_message" ON "kmsg_status_history" ("message_id", "id");
        CREATE TABLE "kmsg_routing_cursor" (
          "key" TEXT PRIMARY KEY,
          "position" BIGINT NOT NULL
        );
        CREATE TABLE "kmsg_suppressions" (
          "number" TEXT PRIMARY KEY,
          "added_at" BIGINT NOT NULL,
          "reason" TEXT
        );
        """,
        },
    ),
    (
        # FO-1..3: the failover outbox, written in the transaction that records the FAILED status;
        # the partial index makes the due-record claim cheap when most rows are terminal
        "003_tracking_failover",
        {
            "sqlite": """
        CREATE TABLE "kmsg_failover_intents" (
          "original_id" TEXT PRIMARY KEY,
          "fallback_id" TEXT NOT NULL UNIQUE,
          "state" TEXT NOT NULL DEFAULT 'pending',
          "created_at" INTEGER NOT NULL,
          "updated_at" INTEGER NOT NULL,
          "claimed_by" TEXT,
          "lease_until" INTEGER,
          "attempts" INTEGER NOT NULL DEFAULT 0,
          "error" TEXT
        );
        CREATE INDEX "idx_kmsg_failover_intents_state"
          ON "kmsg_failover_intents" ("state", "lease_until");
        CREATE INDEX "idx_kmsg_delivery_pollable"
          ON "kmsg_delivery_tracking" ("next_check_at") WHERE "status" IN ('PENDING', 'SENT');
        CREATE INDEX "idx_kmsg_delivery_fallback_of"
          ON "kmsg_delivery_tracking" ("fallback_of") WHERE "fallback_of" IS NOT NULL;
        """,
            "postgres": """
        CREATE TABLE "kmsg_failover_intents" (
          "original_id" TEXT PRIMARY KEY,
          "fallback_id" TEXT NOT NULL UNIQUE,
          "state" TEXT NOT NULL DEFAULT 'pending',
          "created_at" BIGINT NOT NULL,
          "updated_at" BIGINT NOT NULL,
          "claimed_by" TEXT,
          "lease_until" BIGINT,
          "attempts" BIGINT NOT NULL DEFAULT 0,
          "error" TEXT
        );
        CREATE INDEX "idx_kmsg_failover_intents_state"
          ON "kmsg_failover_intents" ("state", "lease_until");
        CREATE INDEX "idx_kmsg_delivery_pollable"
          ON "kmsg_delivery_tracking" ("next_check_at") WHERE "status" IN ('PENDING', 'SENT');
        CREATE INDEX "idx_kmsg_delivery_fallback_of"
          ON "kmsg_delivery_tracking" ("fallback_of") WHERE "fallback_of" IS NOT NULL;
        """,
        },
    ),
    (
        # a bulk campaign: its source and options (for --resume), its owner (one live run per job)
        # and its last counts; the rows themselves are kmsg_delivery_tracking rows with this job_id
        "004_bulk_jobs",
        {
            "sqlite": """
        CREATE TABLE "kmsg_bulk_jobs" (
          "id" TEXT PRIMARY KEY,
          "source" TEXT NOT NULL,
          "spec" TEXT NOT NULL,
          "state" TEXT NOT NULL,
          "owner" TEXT,
          "heartbeat_at" INTEGER,
          "created_at" INTEGER NOT NULL,
          "updated_at" INTEGER NOT NULL,
          "counts" TEXT
        );
        """,
            "postgres": """
        CREATE TABLE "kmsg_bulk_jobs" (
          "id" TEXT PRIMARY KEY,
          "source" TEXT NOT NULL,
          "spec" TEXT NOT NULL,
          "state" TEXT NOT NULL,
          "owner" TEXT,
          "heartbeat_at" BIGINT,
          "created_at" BIGINT NOT NULL,
          "updated_at" BIGINT NOT NULL,
          "counts" TEXT
        );
        """,
        },
    ),
    (
        # the delivery ledger (core/ledger.py): a key names one logical message and each try at
        # sending it is an attempt row, numbered under (key, recipient); a retry after a refusal
        # is a new row, never a collision with the old one. "journaled" is renamed "in_flight",
        # and the old trick of freeing a rejected row's key by renaming it is no longer needed.
        # A send-bulk job is a campaign, so "job" means only a kmsg_jobs row. (The last fix-up
        # is SQLite's alone: no PostgreSQL database holds rows written before 005.)
        "005_delivery_ledger",
        {
            "sqlite": """
        ALTER TABLE "kmsg_delivery_tracking" ADD COLUMN "attempt" INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE "kmsg_delivery_tracking" ADD COLUMN "fingerprint" TEXT;
        ALTER TABLE "kmsg_delivery_tracking" ADD COLUMN "provider_clock_offset_ms" INTEGER;
        DROP INDEX "idx_kmsg_delivery_idempotency";
        CREATE UNIQUE INDEX "idx_kmsg_delivery_attempt"
          ON "kmsg_delivery_tracking" ("idempotency_key", "to", "attempt");
        UPDATE "kmsg_delivery_tracking" SET "send_state" = 'in_flight'
          WHERE "send_state" = 'journaled';
        ALTER TABLE "kmsg_bulk_jobs" RENAME TO "kmsg_campaigns";
        UPDATE "kmsg_delivery_tracking" SET "send_state" = 'refused'
          WHERE "send_state" = 'rejected' AND "provider_message_id" = ''
          AND json_valid("last_error")
          AND json_extract("last_error", '$.code') IN ('rate_limited', 'unavailable', 'auth',
            'config', 'not_received');
        """,
            "postgres": """
        ALTER TABLE "kmsg_delivery_tracking" ADD COLUMN "attempt" BIGINT NOT NULL DEFAULT 1;
        ALTER TABLE "kmsg_delivery_tracking" ADD COLUMN "fingerprint" TEXT;
        ALTER TABLE "kmsg_delivery_tracking" ADD COLUMN "provider_clock_offset_ms" BIGINT;
        DROP INDEX "idx_kmsg_delivery_idempotency";
        CREATE UNIQUE INDEX "idx_kmsg_delivery_attempt"
          ON "kmsg_delivery_tracking" ("idempotency_key", "to", "attempt");
        UPDATE "kmsg_delivery_tracking" SET "send_state" = 'in_flight'
          WHERE "send_state" = 'journaled';
        ALTER TABLE "kmsg_bulk_jobs" RENAME TO "kmsg_campaigns";
        """,
        },
    ),
    (
        # the providers' registered AlimTalk templates and sender numbers as `kmsg templates sync`
        # last saw them, so sends are checked offline; a sync row says a list is known even when
        # it is empty. Portable SQL only (TEXT and BIGINT): another backend runs it as is.
        "006_templates_senders",
        """
        CREATE TABLE "kmsg_templates" (
          "provider_id" TEXT NOT NULL,
          "code" TEXT NOT NULL,
          "name" TEXT NOT NULL,
          "status" TEXT NOT NULL,
          "raw_status" TEXT NOT NULL,
          "body" TEXT NOT NULL,
          "buttons" TEXT NOT NULL,
          "synced_at" BIGINT NOT NULL,
          PRIMARY KEY ("provider_id", "code")
        );
        CREATE TABLE "kmsg_senders" (
          "provider_id" TEXT NOT NULL,
          "number" TEXT NOT NULL,
          "status" TEXT NOT NULL,
          "active" BIGINT NOT NULL,
          "synced_at" BIGINT NOT NULL,
          PRIMARY KEY ("provider_id", "number")
        );
        CREATE TABLE "kmsg_catalog_syncs" (
          "provider_id" TEXT NOT NULL,
          "kind" TEXT NOT NULL,
          "synced_at" BIGINT NOT NULL,
          PRIMARY KEY ("provider_id", "kind")
        );
        """,
    ),
    (
        # delivery events out (docs/hooks.md): one row per event and target, written in the
        # transaction that records the final status or the failover, so an event exists iff its
        # state change does; the primary key makes a second enqueue impossible. Portable SQL only.
        "007_hook_events",
        """
        CREATE TABLE "kmsg_hook_events" (
          "event_id" TEXT NOT NULL,
          "target" TEXT NOT NULL,
          "kind" TEXT NOT NULL,
          "message_id" TEXT NOT NULL,
          "payload" TEXT NOT NULL,
          "state" TEXT NOT NULL,
          "attempts" INTEGER NOT NULL DEFAULT 0,
          "created_at" BIGINT NOT NULL,
          "next_attempt_at" BIGINT NOT NULL,
          "claimed_by" TEXT,
          "lease_until" BIGINT,
          "delivered_at" BIGINT,
          "exit_status" INTEGER,
          "last_error" TEXT,
          PRIMARY KEY ("event_id", "target")
        );
        CREATE INDEX "idx_kmsg_hook_events_due"
          ON "kmsg_hook_events" ("state", "next_attempt_at");
        CREATE INDEX "idx_kmsg_hook_events_message" ON "kmsg_hook_events" ("message_id");
        """,
    ),
]


LOCK = "kmsg:migrate"  # PostgreSQL: the advisory lock every migration runs under


def sql_for(sql: str | dict[str, str], conn: Any) -> str:
    """The migration's SQL for this connection's dialect (a plain string is portable)."""
    if isinstance(sql, str):
        return sql
    return sql["postgres" if is_postgres(conn) else "sqlite"]


def applied(conn: Any) -> set[str]:
    create = (
        'CREATE TABLE IF NOT EXISTS "kmsg_migrations" ("name" TEXT PRIMARY KEY, '
        '"applied_at" {} NOT NULL)'
    )
    if is_postgres(conn):  # two hosts creating it at once would collide: under the lock
        conn.execute("BEGIN")
        try:
            serialize(conn, LOCK)
            conn.execute(create.format("BIGINT"))
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
    else:
        conn.execute(create.format("INTEGER"))
    return {row[0] for row in conn.execute('SELECT "name" FROM "kmsg_migrations"')}


def migrate(conn: Any, now_ms: int, migrations: list[Migration] = MIGRATIONS) -> list[str]:
    """Apply what is missing, each migration in its own transaction. Returns the names applied.
    Refuses (ConfigError) a database a newer kmsg migrated, before applying or writing anything."""
    done = applied(conn)
    refuse_newer(conn, done, migrations)
    ran = []
    for name, sql in migrations:
        if name in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            serialize(conn, LOCK)
            # re-check under the write lock: another process may have just applied it
            if conn.execute('SELECT 1 FROM "kmsg_migrations" WHERE "name" = ?', (name,)).fetchone():
                conn.execute("COMMIT")
                continue
            for statement in _statements(sql_for(sql, conn)):
                conn.execute(statement)
            conn.execute('INSERT INTO "kmsg_migrations" VALUES (?, ?)', (name, now_ms))
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        ran.append(name)
    return ran


def _rollback(conn: Any) -> None:
    if conn.in_transaction:  # SQLite rolls back by itself on a full disk or I/O error
        conn.execute("ROLLBACK")


def schema_version(names: Iterable[str]) -> int:
    """The highest numeric prefix among migration names ("004_bulk_jobs" is 4; 0 for none).
    Names are append-only and numbered, so this grows with every release that adds one and two
    kmsg versions compare by it, however many migrations either has."""
    prefixes = (name.split("_", 1)[0] for name in names)
    return max((int(p) for p in prefixes if p.isdigit()), default=0)


def refuse_newer(conn: Any, done: set[str], migrations: list[Migration]) -> None:
    """A database with migrations this kmsg does not know was written by a newer kmsg: reading
    or migrating it could misread or damage what that version wrote, so stop here."""
    known = [name for name, _ in migrations]
    unknown = sorted(done - set(known))
    if not unknown:
        return
    if is_postgres(conn):
        where = f"database {conn.shown}"
    else:
        row = conn.execute("PRAGMA database_list").fetchone()
        where = f"database {row[2]}" if row and row[2] else "the database"
    ours, theirs = schema_version(known), schema_version(done)
    if theirs > ours:
        raise ConfigError(
            f"{where} has schema {theirs}, newer than this kmsg (schema {ours}): upgrade kmsg"
        )
    raise ConfigError(  # same number, different migrations: another branch or fork wrote it
        f"{where} has migrations this kmsg does not know ({', '.join(unknown)}): "
        "use the kmsg that wrote it"
    )


def _statements(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]
