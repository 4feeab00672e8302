"""The delivery-event outbox (kmsg_hook_events, docs/hooks.md), mixed into Store.

Events are enqueued by the write that records their change (``apply_checks``, ``finish_intent``),
inside its transaction, and only for the targets the config names (``hook_targets``, set by the
composition root): with no [hooks], nothing is written. The primary key (event id, target) and
ON CONFLICT DO NOTHING make a second enqueue of one change a no-op.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager

from kmsg_cli.core import hooks
from kmsg_cli.core.hooks import HookEvent
from kmsg_cli.store.dialect import skip_locked
from kmsg_cli.store.record_rows import RECORD_COLUMNS, record_from_row

_COLUMNS = (
    '"event_id","target","kind","message_id","payload","state","attempts","created_at",'
    '"next_attempt_at","delivered_at","exit_status","last_error"'
)
_INSERT = (
    'INSERT INTO "kmsg_hook_events" ("event_id","target","kind","message_id","payload","state",'
    '"created_at","next_attempt_at") VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING'
)


class HookQueries:
    conn: sqlite3.Connection
    hook_targets: tuple[str, ...] = ()

    def write(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # Store provides it

    # ---- enqueue, inside the caller's transaction ------------------------------------------

    def _enqueue_finals(
        self, conn: sqlite3.Connection, ids: Sequence[str], failing_over: set[str], now: int
    ) -> None:
        targets = hooks.targets_for(hooks.FINAL, self.hook_targets)
        if not targets or not ids:
            return
        rows = []
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            for row in conn.execute(
                f'SELECT {RECORD_COLUMNS} FROM "kmsg_delivery_tracking" '
                f'WHERE "message_id" IN ({",".join("?" * len(chunk))})',
                chunk,
            ):
                record = record_from_row(row)
                doc = hooks.final_event(
                    record, now, failover_pending=record.message_id in failing_over
                )
                rows.extend(_rows(doc, targets, now))
        conn.executemany(_INSERT, rows)

    def _enqueue_failover(
        self,
        conn: sqlite3.Connection,
        original_id: str,
        fallback_id: str,
        state: str,
        error: str | None,
        now: int,
    ) -> None:
        targets = hooks.targets_for(hooks.FAILOVER, self.hook_targets)
        if not targets:
            return
        row = conn.execute(
            f'SELECT {RECORD_COLUMNS} FROM "kmsg_delivery_tracking" WHERE "message_id" = ?',
            (original_id,),
        ).fetchone()
        if row is None:
            return
        doc = hooks.failover_event(record_from_row(row), fallback_id, state, error, now)
        # due 1 ms later: at one instant, the message's final event goes out first
        conn.executemany(_INSERT, _rows(doc, targets, now, due=now + 1))

    # ---- delivery ---------------------------------------------------------------------------

    def claim_hook_event(
        self, owner: str, targets: Sequence[str], due_by: int, now: int, lease_until: int
    ) -> HookEvent | None:
        """A lease that ran out first (its process died), else the pending event due soonest;
        each a walk of the (state, next_attempt_at) index and nothing sorted, so a claim stays
        cheap however many events wait."""
        marks = ",".join("?" * len(targets))
        with self.write() as conn:
            row = (
                conn.execute(
                    'SELECT "event_id","target" FROM "kmsg_hook_events" '
                    f'WHERE "state" = ? AND "lease_until" < ? AND "target" IN ({marks}) '
                    f"LIMIT 1{skip_locked(conn)}",
                    (hooks.SENDING, now, *targets),
                ).fetchone()
                or conn.execute(
                    'SELECT "event_id","target" FROM "kmsg_hook_events" '
                    f'WHERE "state" = ? AND "next_attempt_at" <= ? AND "target" IN ({marks}) '
                    f'ORDER BY "next_attempt_at" LIMIT 1{skip_locked(conn)}',
                    (hooks.PENDING, due_by, *targets),
                ).fetchone()
            )
            if row is None:
                return None
            # guarded again: a backend whose writers do not serialize (PostgreSQL) may have let
            # another worker take it since the SELECT; then this claim is empty, never a double
            taken = conn.execute(
                'UPDATE "kmsg_hook_events" SET "state" = ?, "claimed_by" = ?, "lease_until" = ?, '
                '"attempts" = "attempts" + 1 WHERE "event_id" = ? AND "target" = ? AND '
                '(("state" = ? AND "next_attempt_at" <= ?) OR ("state" = ? AND "lease_until" < ?)) '
                f"RETURNING {_COLUMNS}",
                (
                    hooks.SENDING,
                    owner,
                    lease_until,
                    *row,
                    hooks.PENDING,
                    due_by,
                    hooks.SENDING,
                    now,
                ),
            ).fetchone()
        return HookEvent(*taken) if taken else None

    def finish_hook_event(
        self,
        owner: str,
        event: HookEvent,
        state: str,
        now: int,
        *,
        next_attempt_at: int,
        exit_status: int | None,
        error: str | None,
    ) -> bool:
        """Delivered, back to pending (retry at ``next_attempt_at``) or given up; only while this
        owner still holds it (another process took over an expired lease: theirs now)."""
        with self.write() as conn:
            cur = conn.execute(
                'UPDATE "kmsg_hook_events" SET "state" = ?, "claimed_by" = NULL, '
                '"lease_until" = NULL, "next_attempt_at" = ?, "exit_status" = ?, '
                '"last_error" = ?, "delivered_at" = ? '
                'WHERE "event_id" = ? AND "target" = ? AND "claimed_by" = ? AND "state" = ?',
                (
                    state,
                    next_attempt_at,
                    exit_status,
                    error,
                    now if state == hooks.DELIVERED else None,
                    event.event_id,
                    event.target,
                    owner,
                    hooks.SENDING,
                ),
            )
        return cur.rowcount == 1

    def hook_events_due_now(self, targets: Sequence[str], now: int) -> int:
        marks = ",".join("?" * len(targets))
        with self.write() as conn:
            cur = conn.execute(
                'UPDATE "kmsg_hook_events" SET "state" = ?, "next_attempt_at" = ? '
                f'WHERE "target" IN ({marks}) AND "state" IN (?, ?)',
                (hooks.PENDING, now, *targets, hooks.PENDING, hooks.GAVE_UP),
            )
        return cur.rowcount

    # ---- reads and retention ----------------------------------------------------------------

    def hook_events(
        self, *, message_id: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[HookEvent]:
        where, args = [], []
        if message_id is not None:
            where.append('"message_id" = ?')
            args.append(message_id)
        if state is not None:
            where.append('"state" = ?')
            args.append(state)
        sql = f'SELECT {_COLUMNS} FROM "kmsg_hook_events"'
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += ' ORDER BY "created_at", "kind" DESC, "event_id", "target" LIMIT ?'
        return [HookEvent(*r) for r in self.conn.execute(sql, (*args, limit))]

    def purge_hook_events(self, before: int) -> int:
        """Delivered and given-up events created before ``before`` (they hold recipients)."""
        with self.write() as conn:
            cur = conn.execute(
                'DELETE FROM "kmsg_hook_events" WHERE "state" IN (?, ?) AND "created_at" < ?',
                (hooks.DELIVERED, hooks.GAVE_UP, before),
            )
        return cur.rowcount


def _rows(
    doc: dict[str, object], targets: Sequence[str], now: int, due: int | None = None
) -> list[tuple[object, ...]]:
    payload = hooks.body(doc)
    eid, kind = str(doc["event_id"]), str(doc["kind"])
    message = doc["message"]
    mid = message["id"] if isinstance(message, dict) else ""
    return [
        (eid, t, kind, mid, payload, hooks.PENDING, now, now if due is None else due)
        for t in targets
    ]
