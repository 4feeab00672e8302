"""kmsg_jobs: the local queue. Claims are leased (Q-1), counted when taken (Q-2), and every
state change is conditional on the owner and the current status (Q-3, Q-4)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import AbstractContextManager
from typing import Any

from kmsg_cli.core.models import Job
from kmsg_cli.store.dialect import serialize, skip_locked

_COLUMNS = (
    '"id","type","data","status","priority","attempts","max_attempts","created_at","process_at",'
    '"completed_at","failed_at","error","metadata","claimed_by","lease_until","idempotency_key"'
)
_MINE = '"id" = ? AND "claimed_by" = ? AND "status" = \'processing\''
FINISHED = ("completed", "failed", "cancelled")


class JobQueries:
    conn: sqlite3.Connection

    def write(self) -> AbstractContextManager[sqlite3.Connection]:  # provided by Store
        raise NotImplementedError

    def enqueue(self, job: Job) -> Job:
        """Insert a job; a job with the same idempotency key already queued is returned instead."""
        with self.write() as conn:
            serialize(conn, "kmsg:ledger")  # the key check and the insert, one writer at a time
            if job.idempotency_key:
                row = conn.execute(
                    f'SELECT {_COLUMNS} FROM "kmsg_jobs" WHERE "idempotency_key" = ?',
                    (job.idempotency_key,),
                ).fetchone()
                if row:
                    return _job(row)
            conn.execute(
                f'INSERT INTO "kmsg_jobs" ({_COLUMNS}) VALUES ({",".join("?" * 16)})',
                (
                    job.id, job.type, json.dumps(job.data, ensure_ascii=False), job.status,
                    job.priority, job.attempts, job.max_attempts, job.created_at, job.process_at,
                    None, None, None, json.dumps(job.metadata, ensure_ascii=False), None, None,
                    job.idempotency_key,
                ),
            )  # fmt: skip
        return job

    def claim_jobs(self, owner: str, now: int, lease_ms: int, limit: int) -> list[Job]:
        """Take due jobs, and jobs whose worker's lease expired, in one atomic statement."""
        with self.write() as conn:
            rows = conn.execute(
                f"""UPDATE "kmsg_jobs" SET "status" = 'processing', "claimed_by" = ?,
                    "lease_until" = ?, "attempts" = "attempts" + 1
                  WHERE "id" IN (
                    SELECT "id" FROM "kmsg_jobs"
                     WHERE ("status" = 'pending' AND "process_at" <= ?)
                        OR ("status" = 'processing' AND "lease_until" < ?)
                     ORDER BY "priority" DESC, "process_at", "created_at" LIMIT ?{skip_locked(conn)})
                  RETURNING {_COLUMNS}""",
                (owner, now + lease_ms, now, now, limit),
            ).fetchall()
        jobs = [_job(r) for r in rows]
        return sorted(jobs, key=lambda j: (-j.priority, j.process_at, j.created_at))

    def complete_job(self, job_id: str, owner: str, now: int, metadata: dict[str, Any]) -> bool:
        # the body is not needed any more once the job is done (PII-4)
        return self._update(
            'SET "status" = \'completed\', "completed_at" = ?, "data" = \'{}\', "metadata" = ?, '
            '"claimed_by" = NULL, "lease_until" = NULL',
            (now, json.dumps(metadata, ensure_ascii=False)),
            job_id,
            owner,
        )

    def retry_job(
        self,
        job_id: str,
        owner: str,
        process_at: int,
        error: str | None,
        metadata: dict[str, Any],
        *,
        refund: bool = False,
    ) -> bool:
        """Back to pending at ``process_at``. ``refund``: this claim was not an attempt."""
        return self._update(
            'SET "status" = \'pending\', "process_at" = ?, "error" = ?, "metadata" = ?, '
            '"claimed_by" = NULL, "lease_until" = NULL, "attempts" = "attempts" - ?',
            (process_at, error, json.dumps(metadata, ensure_ascii=False), 1 if refund else 0),
            job_id,
            owner,
        )

    def fail_job(
        self, job_id: str, owner: str, now: int, error: str, metadata: dict[str, Any] | None = None
    ) -> bool:
        """Dead: visible in `queue list --failed`, body kept so `queue retry` can run it again."""
        return self._update(
            'SET "status" = \'failed\', "failed_at" = ?, "error" = ?, "claimed_by" = NULL, '
            '"lease_until" = NULL, "metadata" = COALESCE(?, "metadata")',
            (now, error, json.dumps(metadata, ensure_ascii=False) if metadata else None),
            job_id,
            owner,
        )

    def _update(self, assignments: str, args: tuple[Any, ...], job_id: str, owner: str) -> bool:
        with self.write() as conn:
            cur = conn.execute(
                f'UPDATE "kmsg_jobs" {assignments} WHERE {_MINE}', (*args, job_id, owner)
            )
            return cur.rowcount == 1

    def cancel_job(self, job_id: str, now: int) -> bool:
        """Cancel a job no worker holds (pending or dead). The message it held was never sent:
        its attempt is refused (so the same key may be queued again) and CANCELLED."""
        with self.write() as conn:
            cur = conn.execute(
                'UPDATE "kmsg_jobs" SET "status" = \'cancelled\', "completed_at" = ?, "data" = \'{}\' '
                "WHERE \"id\" = ? AND \"status\" IN ('pending', 'failed')",
                (now, job_id),
            )
            conn.execute(
                'UPDATE "kmsg_delivery_tracking" SET "send_state" = \'refused\', '
                '"status" = \'CANCELLED\', "status_updated_at" = ? '
                'WHERE "job_id" = ? AND "send_state" = \'planned\'',
                (now, job_id),
            )
            return cur.rowcount == 1

    def requeue_jobs(self, job_ids: list[str] | None, now: int) -> int:
        """Dead jobs back to pending with fresh attempts (`queue retry`); None: every dead job."""
        where = "\"status\" = 'failed'"
        args: list[Any] = [now]
        if job_ids is not None:
            where += f' AND "id" IN ({",".join("?" * len(job_ids))})'
            args.extend(job_ids)
        with self.write() as conn:
            cur = conn.execute(
                'UPDATE "kmsg_jobs" SET "status" = \'pending\', "attempts" = 0, "process_at" = ?, '
                f'"failed_at" = NULL WHERE {where}',
                args,
            )
            return cur.rowcount

    def purge_jobs(self, before: int) -> int:
        """Delete finished and dead jobs last touched before ``before`` (never pending ones, Q-15)."""
        with self.write() as conn:
            cur = conn.execute(
                "DELETE FROM \"kmsg_jobs\" WHERE \"status\" IN ('completed', 'failed', 'cancelled') "
                'AND COALESCE("completed_at", "failed_at", "created_at") < ?',
                (before,),
            )
            return cur.rowcount

    def get_job(self, job_id: str) -> Job | None:
        row = self.conn.execute(
            f'SELECT {_COLUMNS} FROM "kmsg_jobs" WHERE "id" = ?', (job_id,)
        ).fetchone()
        if row is None:
            rows = self.conn.execute(
                f'SELECT {_COLUMNS} FROM "kmsg_jobs" WHERE "id" LIKE ? LIMIT 2', (job_id + "%",)
            ).fetchall()
            row = rows[0] if len(rows) == 1 else None
        return _job(row) if row else None

    def list_jobs(self, status: str | None, limit: int) -> list[Job]:
        where, args = ('WHERE "status" = ?', [status]) if status else ("", [])
        rows = self.conn.execute(
            f'SELECT {_COLUMNS} FROM "kmsg_jobs" {where} ORDER BY "process_at" DESC LIMIT ?',
            (*args, limit),
        )
        return [_job(r) for r in rows]

    def job_counts(self) -> dict[str, int]:
        rows = self.conn.execute('SELECT "status", COUNT(*) FROM "kmsg_jobs" GROUP BY "status"')
        return {status: n for status, n in rows}


def _job(row: Any) -> Job:
    (id_, type_, data, status, priority, attempts, max_attempts, created, process_at, completed,
     failed, error, metadata, claimed_by, lease_until, key) = row  # fmt: skip
    return Job(
        id_, type_, json.loads(data or "{}"), status, priority, attempts, max_attempts, created,
        process_at, completed, failed, error, json.loads(metadata or "{}"), claimed_by,
        lease_until, key,
    )  # fmt: skip
