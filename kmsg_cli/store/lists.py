"""Small tables beside the records, mixed into Store: the round-robin cursor and the suppression
(opt-out) list."""

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
