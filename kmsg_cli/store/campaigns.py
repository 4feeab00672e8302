"""Bulk jobs, mixed into Store: one live run per job, and settling rows a dead run left in flight.

A job's rows are kmsg_delivery_tracking rows (attempts, in the delivery ledger's terms) with its
``job_id`` and idempotency keys ``bulk:<job>:<digest>``; the ledger makes a second send of an
accepted key impossible. What this module adds is ownership (a rerun while the first is still
alive is refused) and settling the rows a run left unanswered: accepted when the provider has
them, refused (so a new attempt may go out) when it provably never got them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from kmsg_cli.core.models import Campaign, Record, SendResult
from kmsg_cli.store.dialect import serialize
from kmsg_cli.store.record_rows import RECORD_COLUMNS, TERMINAL_SQL, record_from_row
from kmsg_cli.store.records import RecordQueries

_JOB_COLUMNS = (
    '"id","source","spec","state","owner","heartbeat_at","created_at","updated_at","counts"'
)
# what `kmsg send-bulk --list` counts of each campaign's messages
CAMPAIGN_COUNTS = ("messages", "delivered", "failed", "pending")
_UNSETTLED = "\"send_state\" IN ('in_flight', 'unknown')"


class CampaignQueries:
    conn: sqlite3.Connection

    def write(self) -> AbstractContextManager[sqlite3.Connection]:  # provided by Store
        raise NotImplementedError

    def campaign(self, job_id: str) -> Campaign | None:
        row = self.conn.execute(
            f'SELECT {_JOB_COLUMNS} FROM "kmsg_campaigns" WHERE "id" = ?', (job_id,)
        ).fetchone()
        return _job(row) if row else None

    def find_campaigns(self, prefix: str, limit: int = 2) -> list[Campaign]:
        """Campaigns whose id starts with ``prefix`` (case-sensitive, no wildcards), by id."""
        rows = self.conn.execute(
            f'SELECT {_JOB_COLUMNS} FROM "kmsg_campaigns" '
            'WHERE "id" >= ? AND "id" < ? ORDER BY "id" LIMIT ?',
            (prefix, prefix + "\U0010ffff", limit),
        )
        return [_job(r) for r in rows]

    def campaigns(self, limit: int) -> list[tuple[Campaign, dict[str, int]]]:
        """The latest campaigns, newest first, each with its messages counted from the records:
        the latest attempt of each row (a refused try that was sent again counts once), by where
        it stands. API-failover fallbacks are not rows of the campaign."""
        jobs = [
            _job(r)
            for r in self.conn.execute(
                f'SELECT {_JOB_COLUMNS} FROM "kmsg_campaigns" '
                'ORDER BY "created_at" DESC, "id" DESC LIMIT ?',
                (limit,),
            )
        ]
        counts: dict[str, dict[str, int]] = {j.id: dict.fromkeys(CAMPAIGN_COUNTS, 0) for j in jobs}
        for i in range(0, len(jobs), 500):
            chunk = [j.id for j in jobs[i : i + 500]]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                'SELECT "job_id", COUNT(*), '
                "SUM(\"status\" = 'DELIVERED'), SUM(\"status\" = 'FAILED'), "
                f'SUM("status" NOT IN {TERMINAL_SQL}) '
                f'FROM "kmsg_delivery_tracking" a WHERE "job_id" IN ({marks}) '
                'AND "fallback_of" IS NULL AND NOT EXISTS (SELECT 1 FROM "kmsg_delivery_tracking" b '
                'WHERE b."idempotency_key" = a."idempotency_key" AND b."to" = a."to" '
                'AND b."attempt" > a."attempt") GROUP BY "job_id"',
                chunk,
            )
            for job_id, *numbers in rows:
                counts[job_id] = dict(
                    zip(CAMPAIGN_COUNTS, (int(n or 0) for n in numbers), strict=True)
                )
        return [(j, counts[j.id]) for j in jobs]

    def claim_campaign(
        self,
        job_id: str,
        source: str,
        spec: dict[str, object],
        owner: str,
        now: int,
        alive: Callable[[str, int], bool],
    ) -> Campaign | None:
        """Take the job (creating it) unless another live run holds it: then return that job."""
        with self.write() as conn:
            serialize(conn, f"kmsg:campaign:{job_id}")  # read the owner, then take it: atomic
            row = conn.execute(
                f'SELECT {_JOB_COLUMNS} FROM "kmsg_campaigns" WHERE "id" = ?', (job_id,)
            ).fetchone()
            current = _job(row) if row else None
            if current and current.owner and current.owner != owner:
                if alive(current.owner, current.heartbeat_at or 0):
                    return current
            conn.execute(
                f'INSERT INTO "kmsg_campaigns" ({_JOB_COLUMNS}) '
                "VALUES (?, ?, ?, 'running', ?, ?, ?, ?, NULL) "
                'ON CONFLICT("id") DO UPDATE SET "source" = excluded."source", '
                '"spec" = excluded."spec", "state" = \'running\', "owner" = excluded."owner", '
                '"heartbeat_at" = excluded."heartbeat_at", "updated_at" = excluded."updated_at"',
                (job_id, source, json.dumps(spec, ensure_ascii=False), owner, now, now, now),
            )
        return None

    def heartbeat_campaign(self, job_id: str, owner: str, now: int) -> None:
        with self.write() as conn:
            conn.execute(
                'UPDATE "kmsg_campaigns" SET "heartbeat_at" = ? WHERE "id" = ? AND "owner" = ?',
                (now, job_id, owner),
            )

    def finish_campaign(
        self, job_id: str, owner: str, state: str, counts: dict[str, int], now: int
    ) -> None:
        with self.write() as conn:
            conn.execute(
                'UPDATE "kmsg_campaigns" SET "state" = ?, "owner" = NULL, "counts" = ?, '
                '"updated_at" = ? WHERE "id" = ? AND "owner" = ?',
                (state, json.dumps(counts), now, job_id, owner),
            )

    def unsettled(self, job_id: str) -> list[Record]:
        """Rows of the job sent by a run that never heard back (died, or timed out mid-call)."""
        rows = self.conn.execute(
            f'SELECT {RECORD_COLUMNS} FROM "kmsg_delivery_tracking" WHERE "job_id" = ? '
            f"AND {_UNSETTLED} AND \"provider_message_id\" = ''",
            (job_id,),
        )
        return [record_from_row(r) for r in rows]

    def settle_lost(
        self,
        found: Sequence[SendResult],
        missing: Sequence[str],
        now: int,
        next_checks: dict[str, int],
    ) -> None:
        """What the provider says of unanswered rows: ``found`` it has (accepted, or rejected at
        registration), ``missing`` it provably never got (refused: a new attempt may go out)."""
        with self.write() as conn:
            for r in found:
                if not r.accepted:
                    _fail(conn, r.message_id, "rejected", r.code or "rejected", r.error or "", now)
                    continue
                conn.execute(
                    'UPDATE "kmsg_delivery_tracking" SET "send_state" = \'accepted\', "status" = ?,'
                    '"provider_message_id" = ?, "group_id" = ?, "sent_at" = "requested_at", '
                    '"status_updated_at" = ?, "next_check_at" = ?, "last_error" = NULL '
                    f'WHERE "message_id" = ? AND {_UNSETTLED}',
                    (
                        r.status.value,
                        r.provider_message_id,
                        r.group_id,
                        now,
                        next_checks[r.message_id],
                        r.message_id,
                    ),
                )
                RecordQueries._history(
                    conn, r.message_id, now, r.status.value, None, "found", "reconcile"
                )
            for mid in missing:
                _fail(conn, mid, "refused", "not_received", "never reached the provider", now)

    def settle_unknown(self, message_ids: Sequence[str], now: int) -> None:
        """A dead run's rows the provider cannot account for: unknown, left to tracking."""
        error = json.dumps({"code": "unknown_outcome", "message": "lost with the run that sent it"})
        with self.write() as conn:
            conn.executemany(
                'UPDATE "kmsg_delivery_tracking" SET "send_state" = \'unknown\', "last_error" = ? '
                'WHERE "message_id" = ? AND "send_state" = \'in_flight\'',
                [(error, mid) for mid in message_ids],
            )


def _fail(
    conn: sqlite3.Connection, message_id: str, state: str, code: str, message: str, now: int
) -> None:
    error = json.dumps({"code": code, "message": message}, ensure_ascii=False)
    conn.execute(
        'UPDATE "kmsg_delivery_tracking" SET "send_state" = ?, "status" = \'FAILED\', '
        '"provider_status_code" = ?, "failed_at" = ?, "status_updated_at" = ?, '
        f'"last_error" = ? WHERE "message_id" = ? AND {_UNSETTLED}',
        (state, code, now, now, error, message_id),
    )
    RecordQueries._history(conn, message_id, now, "FAILED", code, message, "reconcile")


def _job(row: Sequence[object]) -> Campaign:
    id_, source, spec, state, owner, heartbeat, created, updated, counts = row
    return Campaign(
        str(id_),
        str(source),
        json.loads(str(spec)),
        str(state),
        owner if isinstance(owner, str) else None,
        heartbeat if isinstance(heartbeat, int) else None,
        int(str(created)),
        int(str(updated)),
        json.loads(counts) if isinstance(counts, str) else {},
    )
