"""Tracking and failover queries, mixed into Store: leased claims of due records, guarded status
updates, the failover outbox (kmsg_failover_intents) and the retention purge.

Every write is one short BEGIN IMMEDIATE transaction, so two `kmsg track` processes on one file
serialize on the write lock and a claim is atomic (TRK-5); a status update only lands on a row
this owner still holds and that is not terminal (TRK-3); the intent is written in the transaction
that records the FAILED status (FO-1) and taken with a conditional update (FO-2).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from operator import attrgetter

from kmsg_cli.core.models import Record
from kmsg_cli.core.track_rules import FAILED, PENDING, SENDING, SENT, SKIPPED, Check, fallback_id
from kmsg_cli.store.dialect import for_update, is_postgres, skip_locked
from kmsg_cli.store.hooks import HookQueries
from kmsg_cli.store.record_rows import RECORD_COLUMNS, TERMINAL_SQL, record_from_row

POLLABLE_SQL = "('PENDING','SENT')"
_DUE_ORDER = attrgetter("next_check_at", "message_id")
_INTENT_COLUMNS = '"original_id","fallback_id","state","attempts","created_at","updated_at","error"'
# the fallback text is needed only until the intent is finished (PII-5)
_CLEAR_FAILOVER_TEXT = {
    "sqlite": 'UPDATE "kmsg_delivery_tracking" SET "metadata" = '
    "json_remove(\"metadata\", '$.failover.text', '$.failover.subject') "
    'WHERE "message_id" = ? AND json_valid("metadata") AND '
    "json_extract(\"metadata\", '$.failover') IS NOT NULL",
    # metadata is jsonb there
    "postgres": 'UPDATE "kmsg_delivery_tracking" SET "metadata" = '
    "\"metadata\" #- '{failover,text}' #- '{failover,subject}' "
    'WHERE "message_id" = ? AND "metadata" -> \'failover\' IS NOT NULL',
}


def _clear_failover_text(conn: sqlite3.Connection) -> str:
    return _CLEAR_FAILOVER_TEXT["postgres" if is_postgres(conn) else "sqlite"]


@dataclass(frozen=True)
class Intent:
    original_id: str
    fallback_id: str
    state: str
    attempts: int
    created_at: int
    updated_at: int
    error: str | None = None


@dataclass(frozen=True)
class PurgeCounts:
    records: int = 0
    history: int = 0
    intents: int = 0


class TrackQueries(HookQueries):
    conn: sqlite3.Connection

    def write(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # Store provides it

    # ---- claims ---------------------------------------------------------------------------

    def claim_due(
        self,
        owner: str,
        now: int,
        lease_until: int,
        limit: int,
        *,
        provider: str | None = None,
        everything: bool = False,
        after: str = "",
    ) -> list[Record]:
        """Take up to ``limit`` due, unleased (or lease-expired) records for ``owner``.

        ``everything`` (--now) ignores the schedule, except for rows still in their send call
        (in flight, not yet past the in-flight grace): asking about those could race the send.
        Planned rows (held in the local queue) were never sent: they are not tracked yet.
        ``everything`` walks the rows in id order from ``after`` (a pass takes them in batches,
        and a checked row is due again at once in that mode); otherwise the most overdue first."""

        # Each batch must cost its own size, not the backlog's: the rows are walked in the order
        # they are taken (the pollable index by next_check_at; the primary key from ``after``)
        # and the walk stops at the limit. Left to itself SQLite picks the (status, next_check_at)
        # index and sorts every due row for each batch.
        due = '"next_check_at" <= :now'
        table = '"kmsg_delivery_tracking" INDEXED BY "idx_kmsg_delivery_pollable"'
        status = '"status"'
        if everything:
            due = f"({due} OR \"send_state\" <> 'in_flight')"
            table, status = '"kmsg_delivery_tracking"', '+"status"'  # + : no index on status
        if is_postgres(self.conn):  # its planner needs no hints (and has no INDEXED BY)
            table, status = '"kmsg_delivery_tracking"', '"status"'
        only = 'AND "provider_id" = :provider' if provider else ""
        order = 'ORDER BY "next_check_at"'
        if everything:
            only += ' AND "message_id" > :after'
            order = 'ORDER BY "message_id"'
        sql = (
            'UPDATE "kmsg_delivery_tracking" SET "claimed_by" = :owner, "lease_until" = :lease '
            f'WHERE "message_id" IN (SELECT "message_id" FROM {table} '
            f"WHERE {status} IN {POLLABLE_SQL} AND {due} AND \"send_state\" <> 'planned' "
            f'AND ("lease_until" IS NULL OR "lease_until" < :now) {only} '
            f"{order} LIMIT :limit{skip_locked(self.conn)}) "
            f"RETURNING {RECORD_COLUMNS}"
        )
        args = {"owner": owner, "lease": lease_until, "now": now, "limit": limit}
        args["provider"] = provider
        args["after"] = after
        with self.write() as conn:
            rows = conn.execute(sql, args).fetchall()
        records = [record_from_row(r) for r in rows]
        return sorted(records, key=_DUE_ORDER)

    def claim_one(self, owner: str, message_id: str, now: int, lease_until: int) -> Record | None:
        """Take one record whatever its schedule (`status --watch`), on the terms of ``everything``
        in ``claim_due``; None if it is final, held in the queue, leased or still in its send."""
        with self.write() as conn:
            row = conn.execute(
                'UPDATE "kmsg_delivery_tracking" SET "claimed_by" = ?, "lease_until" = ? '
                f'WHERE "message_id" = ? AND "status" IN {POLLABLE_SQL} '
                'AND ("next_check_at" <= ? OR "send_state" <> \'in_flight\') '
                "AND \"send_state\" <> 'planned' "
                'AND ("lease_until" IS NULL OR "lease_until" < ?) '
                f"RETURNING {RECORD_COLUMNS}",
                (owner, lease_until, message_id, now, now),
            ).fetchone()
        return record_from_row(row) if row else None

    def release(self, owner: str, message_ids: Sequence[str]) -> None:
        """Give back what this owner still holds (records it could not check stay due)."""
        if not message_ids:
            return
        with self.write() as conn:
            conn.executemany(
                'UPDATE "kmsg_delivery_tracking" SET "claimed_by" = NULL, "lease_until" = NULL '
                'WHERE "message_id" = ? AND "claimed_by" = ?',
                [(mid, owner) for mid in message_ids],
            )

    # ---- applying checks ------------------------------------------------------------------

    def apply_checks(self, owner: str, checks: Sequence[Check], now: int) -> list[Check]:
        """Write every check in one transaction and release those claims; returns the checks that
        landed (a row another owner took over after our lease expired is left alone). One
        statement per kind of write, whatever the number of checks."""
        with self.write() as conn:
            held = self._still_held(conn, owner, [c.message_id for c in checks])
            applied = [c for c in checks if c.message_id in held]
            conn.executemany(_UPDATE_CHECKED, [_checked_row(owner, c, now) for c in applied])
            conn.executemany(
                'INSERT INTO "kmsg_status_history" ("message_id","at","status","code","message",'
                '"source") VALUES (?,?,?,?,?,?)',
                [
                    (
                        c.message_id,
                        h.at,
                        h.status.value if h.status else None,
                        h.code,
                        h.message,
                        h.source,
                    )
                    for c in applied
                    for h in c.history
                ],
            )
            conn.executemany(
                'INSERT INTO "kmsg_failover_intents" ("original_id","fallback_id",'
                '"state","created_at","updated_at") VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING',
                [
                    (c.message_id, fallback_id(c.message_id), PENDING, now, now)
                    for c in applied
                    if c.failover
                ],
            )
            conn.executemany(
                _clear_failover_text(conn),
                [(c.message_id,) for c in applied if c.finished and not c.failover],
            )
            if self.hook_targets:  # delivery events, in this transaction (docs/hooks.md)
                self._enqueue_finals(
                    conn,
                    [c.message_id for c in applied if c.finished],
                    {c.message_id for c in applied if c.failover},
                    now,
                )
        return applied

    @staticmethod
    def _still_held(conn: sqlite3.Connection, owner: str, ids: Sequence[str]) -> set[str]:
        """The rows this owner still holds and that may still change (TRK-3), in the write
        transaction, so the updates that follow cannot race another owner."""
        held: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            held.update(
                row[0]
                for row in conn.execute(
                    # looked up by id (+: not through the status index, which would walk every
                    # pollable row for each chunk)
                    'SELECT "message_id" FROM "kmsg_delivery_tracking" WHERE "claimed_by" = ? '
                    f'AND {_unindexed(conn)}"status" IN {POLLABLE_SQL} '
                    f'AND "message_id" IN ({",".join("?" * len(chunk))}){for_update(conn)}',
                    (owner, *chunk),
                )
            )
        return held

    # ---- the failover outbox --------------------------------------------------------------

    def claim_intents(self, owner: str, now: int, lease_until: int, limit: int) -> list[Intent]:
        """Pending intents, and ``sending`` ones whose owner's lease ran out (it crashed)."""
        with self.write() as conn:
            rows = conn.execute(
                'UPDATE "kmsg_failover_intents" SET "state"=?, "claimed_by"=?, "lease_until"=?, '
                '"attempts"="attempts"+1, "updated_at"=? WHERE "original_id" IN ('
                'SELECT "original_id" FROM "kmsg_failover_intents" WHERE "state" = ? '
                'OR ("state" = ? AND ("lease_until" IS NULL OR "lease_until" < ?)) '
                f'ORDER BY "created_at" LIMIT ?{skip_locked(conn)}) RETURNING {_INTENT_COLUMNS}',
                (SENDING, owner, lease_until, now, PENDING, SENDING, now, limit),
            ).fetchall()
        return sorted((Intent(*r) for r in rows), key=lambda i: (i.created_at, i.original_id))

    def return_intent(self, owner: str, original_id: str, error: str, now: int) -> None:
        """Back to pending (the provider could not be used now): the next pass tries again."""
        with self.write() as conn:
            conn.execute(
                'UPDATE "kmsg_failover_intents" SET "state"=?, "claimed_by"=NULL, '
                '"lease_until"=NULL, "error"=?, "updated_at"=? '
                'WHERE "original_id"=? AND "claimed_by"=? AND "state"=?',
                (PENDING, error, now, original_id, owner, SENDING),
            )

    def finish_intent(
        self, owner: str, intent: Intent, state: str, error: str | None, now: int
    ) -> bool:
        """sent / failed / skipped, only if this owner still holds it; links the original to the
        fallback (if one was written) and clears the fallback text from its metadata."""
        assert state in (SENT, FAILED, SKIPPED)
        with self.write() as conn:
            cur = conn.execute(
                'UPDATE "kmsg_failover_intents" SET "state"=?, "error"=?, "updated_at"=?, '
                '"claimed_by"=NULL, "lease_until"=NULL '
                'WHERE "original_id"=? AND "claimed_by"=? AND "state"=?',
                (state, error, now, intent.original_id, owner, SENDING),
            )
            if cur.rowcount != 1:
                return False
            conn.execute(
                'UPDATE "kmsg_delivery_tracking" SET "fallback_message_id" = ? '
                'WHERE "message_id" = ? AND EXISTS (SELECT 1 FROM "kmsg_delivery_tracking" '
                'WHERE "message_id" = ?)',
                (intent.fallback_id, intent.original_id, intent.fallback_id),
            )
            conn.execute(_clear_failover_text(conn), (intent.original_id,))
            if self.hook_targets:  # the failover event, in this transaction (docs/hooks.md)
                self._enqueue_failover(
                    conn, intent.original_id, intent.fallback_id, state, error, now
                )
        return True

    def intent(self, original_id: str) -> Intent | None:
        row = self.conn.execute(
            f'SELECT {_INTENT_COLUMNS} FROM "kmsg_failover_intents" WHERE "original_id" = ?',
            (original_id,),
        ).fetchone()
        return Intent(*row) if row else None

    # ---- retention ------------------------------------------------------------------------

    def purge_terminal(self, before: int, chunk: int = 1000) -> PurgeCounts:
        """Delete terminal records requested before ``before``, their history and finished intents,
        a chunk per transaction so `kmsg send` is never blocked for long. A record whose failover is
        still unfinished is kept (its intent needs it)."""
        totals = PurgeCounts()
        for ids in self._purge_chunks(before, chunk):
            with self.write() as conn:
                marks = ",".join("?" * len(ids))
                history = conn.execute(
                    f'DELETE FROM "kmsg_status_history" WHERE "message_id" IN ({marks})', ids
                ).rowcount
                intents = conn.execute(
                    f'DELETE FROM "kmsg_failover_intents" WHERE "original_id" IN ({marks})', ids
                ).rowcount
                records = conn.execute(
                    f'DELETE FROM "kmsg_delivery_tracking" WHERE "message_id" IN ({marks}) '
                    f'AND "status" IN {TERMINAL_SQL}',
                    ids,
                ).rowcount
            totals = PurgeCounts(
                totals.records + records, totals.history + history, totals.intents + intents
            )
        return totals

    def _purge_chunks(self, before: int, chunk: int) -> Iterator[list[str]]:
        while True:
            ids = [
                row[0]
                for row in self.conn.execute(
                    'SELECT "message_id" FROM "kmsg_delivery_tracking" '
                    f'WHERE "status" IN {TERMINAL_SQL} AND "requested_at" < ? '
                    'AND "message_id" NOT IN (SELECT "original_id" FROM "kmsg_failover_intents" '
                    'WHERE "state" IN (?, ?)) LIMIT ?',
                    (before, PENDING, SENDING, chunk),
                )
            ]
            if not ids:
                return
            yield ids


_UPDATE_CHECKED = (
    'UPDATE "kmsg_delivery_tracking" SET "status"=?, "provider_status_code"=?, '
    '"provider_status_message"=?, "delivered_at"=?, "failed_at"=?, '
    '"status_updated_at" = CASE WHEN "status" <> ? THEN ? ELSE "status_updated_at" END, '
    '"attempt_count" = "attempt_count" + ?, '
    '"last_checked_at" = COALESCE(?, "last_checked_at"), "next_check_at"=?, '
    '"last_error"=?, "claimed_by"=NULL, "lease_until"=NULL, '
    # an in-flight row is only claimed after the in-flight grace: its sender is gone
    '"send_state" = CASE WHEN "send_state" = \'in_flight\' AND CAST(? AS BIGINT) IS NOT NULL '
    "THEN 'unknown' ELSE \"send_state\" END "
    f'WHERE "message_id"=? AND "claimed_by"=? AND "status" IN {POLLABLE_SQL}'
)


def _checked_row(owner: str, c: Check, now: int) -> tuple[object, ...]:
    status = c.status.value
    return (
        status,
        c.code,
        c.message,
        c.delivered_at,
        c.failed_at,
        status,
        now,
        c.attempts,
        c.checked_at,
        c.next_check_at,
        json.dumps(c.last_error, ensure_ascii=False) if c.last_error else None,
        c.checked_at,
        c.message_id,
        owner,
    )


def _unindexed(conn: object) -> str:
    """SQLite's unary ``+``: keep the planner off the status index (it would walk every pollable
    row for each chunk); PostgreSQL plans this well alone."""
    return "" if is_postgres(conn) else "+"
