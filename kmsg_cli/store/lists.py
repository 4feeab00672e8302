"""Small tables beside the records, mixed into Store: the round-robin cursor, the suppression
(opt-out) list, and what `kmsg status` says of tracking."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager


class ListQueries:
    conn: sqlite3.Connection

    def write(self) -> AbstractContextManager[sqlite3.Connection]:  # provided by Store
        raise NotImplementedError

    # ---- routing cursor -----------------------------------------------------------------------

    def advance_cursor(self, key: str, size: int) -> int:
        """The next round-robin position in [0, size), persisted so separate runs rotate (ROUTE-3)."""
        with self.write() as conn:  # one statement: atomic on the server, whatever the hosts
            row = conn.execute(
                'INSERT INTO "kmsg_routing_cursor" VALUES (?, 0) ON CONFLICT("key") DO UPDATE '
                'SET "position" = ("kmsg_routing_cursor"."position" + 1) % ? RETURNING "position"',
                (key, size),
            ).fetchone()
        return int(row[0])

    # ---- suppression (opt-out) list ----------------------------------------------------------

    def suppress(self, numbers: Sequence[str], reason: str | None, now: int) -> int:
        with self.write() as conn:
            cur = conn.executemany(
                'INSERT INTO "kmsg_suppressions" VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
                [(n, now, reason) for n in numbers],
            )
            return max(cur.rowcount, 0)

    def unsuppress(self, numbers: Sequence[str]) -> int:
        with self.write() as conn:
            cur = conn.executemany(
                'DELETE FROM "kmsg_suppressions" WHERE "number" = ?', [(n,) for n in numbers]
            )
            return max(cur.rowcount, 0)

    def suppressed(self, numbers: Iterable[str]) -> set[str]:
        found: set[str] = set()
        numbers = list(numbers)
        for i in range(0, len(numbers), 500):
            chunk = numbers[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f'SELECT "number" FROM "kmsg_suppressions" WHERE "number" IN ({marks})', chunk
            )
            found.update(row[0] for row in rows)
        return found

    def suppressions(self, limit: int) -> list[tuple[str, int, str | None]]:
        rows = self.conn.execute(
            'SELECT "number","added_at","reason" FROM "kmsg_suppressions" ORDER BY "added_at" DESC LIMIT ?',
            (limit,),
        )
        return [(n, at, reason) for n, at, reason in rows]

    # ---- tracking, as `kmsg status` and `kmsg track --once` report it ------------------------

    def tracking_overview(self, now: int) -> tuple[int, int | None, int | None]:
        """(messages due for a delivery check now, when the most overdue of them was due, when
        tracking last asked a provider about any message). Due as a track pass claims them:
        polled statuses, handed to a provider, next check reached. The last check is the newest
        "check" history row, read newest first: where tracking runs, that is among the last rows
        written."""
        due, oldest = self.conn.execute(
            'SELECT COUNT(*), MIN("next_check_at") FROM "kmsg_delivery_tracking" '
            "WHERE \"status\" IN ('PENDING','SENT') AND \"next_check_at\" <= ? "
            "AND \"send_state\" <> 'planned'",
            (now,),
        ).fetchone()
        last = self.conn.execute(
            'SELECT "at" FROM "kmsg_status_history" WHERE "source" = \'check\' '
            'ORDER BY "id" DESC LIMIT 1'
        ).fetchone()
        return int(due), oldest, last[0] if last else None
