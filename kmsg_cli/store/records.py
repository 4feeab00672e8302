"""kmsg_delivery_tracking as the send path and `kmsg status` see it: the ledger's attempts, results
and reads. Mixed into Store (sqlite.py); the rows' own format is record_rows.py's."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from kmsg_cli.core import ledger
from kmsg_cli.core.models import HistoryEntry, Job, Message, Record, SendResult, Status
from kmsg_cli.errors import KmsgError
from kmsg_cli.store import record_rows
from kmsg_cli.store.dialect import serialize
from kmsg_cli.store.record_rows import (
    RECORD_COLUMNS,
    TERMINAL_SQL,
    attempt_row,
    promote_row,
    record_from_row,
)

SHORT_ID_MIN = 7
LEDGER_LOCK = "kmsg:ledger"  # PostgreSQL: taken by every transaction that writes new attempts
FALLBACK_SEP = ":"  # a fallback's id is its original's id + ":api-fallback" (track_rules)


class RecordQueries:
    conn: sqlite3.Connection

    def write(self) -> AbstractContextManager[sqlite3.Connection]:  # provided by Store
        raise NotImplementedError

    # ---- the delivery ledger's attempts ----------------------------------------------------

    def latest_attempts(self, keys: Iterable[str]) -> dict[tuple[str, str], Record]:
        """(key, recipient) -> the latest attempt under that key, for every key given."""
        found: dict[tuple[str, str], Record] = {}
        keys = list(dict.fromkeys(keys))
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f'SELECT {RECORD_COLUMNS} FROM "kmsg_delivery_tracking" '
                f'WHERE "idempotency_key" IN ({marks}) ORDER BY "attempt"',
                chunk,
            )
            for row in rows:
                record = record_from_row(row)
                found[(record.idempotency_key or "", record.to)] = record
        return found

    def begin_attempts(
        self, routed: Sequence[tuple[Message, str]], now: int, *, state: str = "in_flight"
    ) -> dict[str, ledger.Decision]:
        """Ask the ledger about each (message, provider id) and, in the same transaction, write
        the attempts it allows before any provider is called (SEND-9, SEND-11). Returns
        message_id -> decision; only SEND decisions were written. ``state`` "planned" holds the
        messages for the local queue instead. Raises KeyConflict (nothing written) when a key
        was used before for other content."""
        with self.write() as conn:
            serialize(conn, LEDGER_LOCK)  # read, then number the attempts: one writer at a time
            latest = self.latest_attempts(m.idempotency_key for m, _ in routed if m.idempotency_key)
            by_key: dict[str, list[Record]] = {}
            for (key, _to), record in latest.items():  # every recipient's latest attempt
                by_key.setdefault(key, []).append(record)
            decisions: dict[str, ledger.Decision] = {}
            new_rows, promoted = [], []
            for m, pid in routed:
                prior = None
                if m.idempotency_key:
                    for earlier in by_key.get(m.idempotency_key, ()):
                        ledger.check_same(m.idempotency_key, m.fingerprint, earlier.fingerprint)
                    prior = latest.get((m.idempotency_key, m.to))
                decision = ledger.decide(m, prior)
                decisions[m.message_id] = decision
                if decision.verdict is not ledger.Verdict.SEND:
                    continue
                if decision.latest is not None and decision.latest.message_id == m.message_id:
                    promoted.append(promote_row(m, pid, now))
                else:
                    new_rows.append(attempt_row(m, pid, now, decision.attempt, state))
            conn.executemany(
                'INSERT INTO "kmsg_delivery_tracking" ("message_id","provider_id",'
                '"provider_message_id","type","to","from","status","requested_at","scheduled_at",'
                '"status_updated_at","attempt_count","next_check_at","metadata","idempotency_key",'
                '"send_state","failover_mode","fallback_of","job_id","attempt","fingerprint") '
                "VALUES (?,?,'',?,?,?,'PENDING',?,?,?,0,?,?,?,?,?,?,?,?,?)",
                new_rows,
            )
            conn.executemany(
                'UPDATE "kmsg_delivery_tracking" SET "provider_id"=?,"type"=?,"from"=?,'
                '"requested_at"=?,"scheduled_at"=?,"status_updated_at"=?,"next_check_at"=?,'
                '"metadata"=?,"failover_mode"=?,"send_state"=\'in_flight\' '
                'WHERE "message_id"=? AND "send_state"=\'planned\'',
                promoted,
            )
            if state == "planned":  # the provider's answer writes the first history row of a send
                conn.executemany(
                    'INSERT INTO "kmsg_status_history" ("message_id","at","status","source") '
                    "VALUES (?,?,'PENDING','queue')",
                    [(r[0], now) for r in new_rows],
                )
        return decisions

    def hold(self, message: Message, provider_id: str, job: Job, now: int) -> ledger.Decision:
        """Queue ``message`` for later: its planned attempt and the kmsg_jobs row that will send
        it, in one transaction, so a crash never leaves one without the other."""
        with self.write():
            decision = self.begin_attempts([(message, provider_id)], now, state="planned")[
                message.message_id
            ]
            if decision.verdict is ledger.Verdict.SEND:
                self.enqueue(job)  # type: ignore[attr-defined]  # JobQueries, mixed into Store
        return decision

    def reroute(self, message_ids: Sequence[str], provider_id: str) -> None:
        with self.write() as conn:
            conn.executemany(
                'UPDATE "kmsg_delivery_tracking" SET "provider_id" = ? '
                'WHERE "message_id" = ? AND "send_state" = \'in_flight\'',
                [(provider_id, mid) for mid in message_ids],
            )

    def record_results(
        self,
        results: Sequence[SendResult],
        now: int,
        next_checks: dict[str, int],
        offset: int | None = None,
    ) -> None:
        """The provider answered: accepted rows get their ids and first check; failed rows FAILED;
        rows of a call that may have gone out stay unknown. One statement per kind (bulk-sized)."""
        unknown: list[tuple[Any, ...]] = []
        accepted: list[tuple[Any, ...]] = []
        rejected: list[tuple[Any, ...]] = []
        history: list[tuple[Any, ...]] = []
        for r in results:
            mid = r.message_id
            if r.error_class == "unknown_outcome":  # part of a call that may have gone out
                error = {"code": r.code or "unknown_outcome", "message": r.error or ""}
                unknown.append(
                    (next_checks[mid], json.dumps(error, ensure_ascii=False), offset, mid)
                )
                history.append((mid, now, None, r.code, r.error, "send"))
                continue
            if r.accepted:
                accepted.append(
                    (
                        r.status.value,
                        r.provider_message_id,
                        r.group_id,
                        now,
                        now,
                        next_checks[mid],
                        offset,
                        mid,
                    )
                )
            else:
                error = {"code": r.code or r.error_class or "rejected", "message": r.error or ""}
                rejected.append(
                    (r.code, r.error, now, now, json.dumps(error, ensure_ascii=False), offset, mid)
                )
            history.append((mid, now, r.status.value, r.code, r.error, "send"))
        in_flight = 'WHERE "message_id"=? AND "send_state"=\'in_flight\''
        with self.write() as conn:
            conn.executemany(
                'UPDATE "kmsg_delivery_tracking" SET "send_state"=\'unknown\','
                '"next_check_at"=?,"last_error"=?,"provider_clock_offset_ms"=? '
                f"{in_flight}",
                unknown,
            )
            conn.executemany(
                'UPDATE "kmsg_delivery_tracking" SET "send_state"=\'accepted\', "status"=?,'
                '"provider_message_id"=?,"group_id"=?,"sent_at"=?,"status_updated_at"=?,'
                '"next_check_at"=?,"provider_clock_offset_ms"=? '
                f"{in_flight}",
                accepted,
            )
            conn.executemany(
                'UPDATE "kmsg_delivery_tracking" SET "send_state"=\'rejected\','
                '"status"=\'FAILED\',"provider_status_code"=?,"provider_status_message"=?,'
                '"failed_at"=?,"status_updated_at"=?,"last_error"=?,"provider_clock_offset_ms"=? '
                f"{in_flight}",
                rejected,
            )
            conn.executemany(
                'INSERT INTO "kmsg_status_history" ("message_id","at","status","code","message",'
                '"source") VALUES (?,?,?,?,?,?)',
                history,
            )

    def record_call_error(
        self,
        message_ids: Sequence[str],
        error: KmsgError,
        now: int,
        next_check: int,
        offset: int | None = None,
    ) -> None:
        """A whole call failed (or the provider could not even be used): FAILED when it proves
        the message was not accepted, else the outcome is unknown and the row stays pollable."""
        last_error = json.dumps({"code": error.code, "message": error.message}, ensure_ascii=False)
        with self.write() as conn:
            for mid in message_ids:
                if getattr(error, "not_accepted", True):
                    conn.execute(
                        'UPDATE "kmsg_delivery_tracking" SET "send_state"=\'refused\','
                        '"status"=\'FAILED\',"failed_at"=?,"status_updated_at"=?,"last_error"=?,'
                        '"provider_clock_offset_ms"=? '
                        'WHERE "message_id"=? AND "send_state"=\'in_flight\'',
                        (now, now, last_error, offset, mid),
                    )
                    self._history(conn, mid, now, "FAILED", error.code, error.message, "send")
                else:
                    conn.execute(
                        'UPDATE "kmsg_delivery_tracking" SET "send_state"=\'unknown\','
                        '"next_check_at"=?,"last_error"=?,"provider_clock_offset_ms"=? '
                        'WHERE "message_id"=? AND "send_state"=\'in_flight\'',
                        (next_check, last_error, offset, mid),
                    )
                    self._history(conn, mid, now, None, error.code, error.message, "send")

    @staticmethod
    def _history(
        conn: sqlite3.Connection,
        message_id: str,
        at: int,
        status: str | None,
        code: str | None,
        message: str | None,
        source: str,
    ) -> None:
        conn.execute(
            'INSERT INTO "kmsg_status_history" ("message_id","at","status","code","message","source")'
            " VALUES (?,?,?,?,?,?)",
            (message_id, at, status, code, message, source),
        )

    def mark_cancelled(self, provider_id: str, group_id: str, now: int) -> int:
        """A provider-side schedule was cancelled: every record of that group is CANCELLED."""
        with self.write() as conn:
            ids = [
                row[0]
                for row in conn.execute(
                    'UPDATE "kmsg_delivery_tracking" SET "status" = \'CANCELLED\', '
                    '"status_updated_at" = ? WHERE "provider_id" = ? AND "group_id" = ? '
                    f'AND "status" NOT IN {TERMINAL_SQL} RETURNING "message_id"',
                    (now, provider_id, group_id),
                )
            ]
            for mid in ids:
                self._history(conn, mid, now, "CANCELLED", None, "cancelled by kmsg", "kmsg")
        return len(ids)

    # ---- reading ------------------------------------------------------------------------------

    def get(self, message_id: str) -> Record | None:
        row = self.conn.execute(
            f'SELECT {RECORD_COLUMNS} FROM "kmsg_delivery_tracking" WHERE "message_id" = ?',
            (message_id,),
        ).fetchone()
        return record_from_row(row) if row else None

    def find_prefix(self, prefix: str, limit: int = 2) -> list[Record]:
        """Records whose id starts with ``prefix`` (case-sensitive, no wildcards), by id."""
        rows = self.conn.execute(
            f'SELECT {RECORD_COLUMNS} FROM "kmsg_delivery_tracking" '
            'WHERE "message_id" >= ? AND "message_id" < ? ORDER BY "message_id" LIMIT ?',
            (prefix, prefix + "\U0010ffff", limit),
        )
        return [record_from_row(r) for r in rows]

    def short_ids(self, message_ids: Iterable[str], minimum: int = SHORT_ID_MIN) -> dict[str, str]:
        """id -> its shortest unique prefix (git style, at least ``minimum`` characters). An id and
        its ``:api-fallback`` sibling share the base's prefix (the base wins when resolving it);
        the sibling shows as that prefix plus the suffix."""
        shorts: dict[str, str] = {}
        for mid in message_ids:
            base, sep, suffix = mid.partition(FALLBACK_SEP)
            family = base + "\U0010ffff"  # the base and everything under it (its fallback)
            before = self.conn.execute(
                'SELECT max("message_id") FROM "kmsg_delivery_tracking" WHERE "message_id" < ?',
                (base,),
            ).fetchone()[0]
            after = self.conn.execute(
                'SELECT min("message_id") FROM "kmsg_delivery_tracking" WHERE "message_id" > ? '
                'AND NOT ("message_id" >= ? AND "message_id" < ?)',
                (base, base, family),
            ).fetchone()[0]
            common = max(_common(base, before or ""), _common(base, after or ""))
            short = base[: max(minimum, common + 1)]
            shorts[mid] = short + sep + suffix if sep else short
        return shorts

    def history(self, message_id: str) -> list[HistoryEntry]:
        rows = self.conn.execute(
            'SELECT "at","status","code","message","source" FROM "kmsg_status_history" '
            'WHERE "message_id" = ? ORDER BY "id"',
            (message_id,),
        )
        return [
            HistoryEntry(at, Status(status) if status else None, code, message, source)
            for at, status, code, message, source in rows
        ]

    def list_records(
        self,
        *,
        since: int | None = None,
        status: str | None = None,
        type: str | None = None,
        provider: str | None = None,
        job: str | None = None,
        to: str | None = None,
        until: int | None = None,
        limit: int = 50,
    ) -> list[Record]:
        where, args = record_rows.filters(since, status, type, provider, job, to, until)
        rows = self.conn.execute(
            f'SELECT {RECORD_COLUMNS} FROM "kmsg_delivery_tracking" {where} '
            'ORDER BY "requested_at" DESC, "message_id" DESC LIMIT ?',
            (*args, limit),
        )
        return [record_from_row(r) for r in rows]

    def counts(
        self,
        group_by: str,
        *,
        since: int | None = None,
        until: int | None = None,
        **filters: str | None,
    ) -> list[tuple[str, int]]:
        column = {"status": '"status"', "type": '"type"', "provider": '"provider_id"'}[group_by]
        where, args = record_rows.filters(since, until=until, **filters)
        rows = self.conn.execute(
            f'SELECT {column}, COUNT(*) FROM "kmsg_delivery_tracking" {where} '
            f"GROUP BY {column} ORDER BY COUNT(*) DESC",
            args,
        )
        return [(str(k), int(n)) for k, n in rows]


def _common(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
