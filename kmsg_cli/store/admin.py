"""What `kmsg db` reads and does, mixed into Store: the schema version, row counts per table, and
copying one database into another (a SQLite file into PostgreSQL, usually).

A copy inserts with ON CONFLICT DO NOTHING on each table's primary key, so rerunning it (or
running it again after an interrupted one) copies nothing twice. Records go in batches, each
batch with its history and failover intents in one target transaction; history rows are copied
only with the records this copy inserted (they have no key of their own to dedupe on).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from kmsg_cli.store.migrations import schema_version

TABLES = (
    "kmsg_delivery_tracking",
    "kmsg_status_history",
    "kmsg_failover_intents",
    "kmsg_jobs",
    "kmsg_campaigns",
    "kmsg_suppressions",
    "kmsg_routing_cursor",
)
# the small tables, copied whole: (table, primary key)
_KEYED = (
    ("kmsg_jobs", "id"),
    ("kmsg_campaigns", "id"),
    ("kmsg_suppressions", "number"),
    ("kmsg_routing_cursor", "key"),
)


class AdminQueries:
    conn: Any

    def write(self) -> AbstractContextManager[Any]:  # provided by Store
        raise NotImplementedError

    def migrations(self) -> list[str]:
        return [r[0] for r in self.conn.execute('SELECT "name" FROM "kmsg_migrations" ORDER BY 1')]

    def schema(self) -> int:
        return schema_version(self.migrations())

    def table_counts(self) -> dict[str, int]:
        return {
            t: int(self.conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]) for t in TABLES
        }

    def columns(self, table: str) -> list[str]:
        cur = self.conn.execute(f'SELECT * FROM "{table}" LIMIT 0')
        return [d[0] for d in cur.description]

    def copy_to(self, target: AdminQueries, batch: int = 500) -> dict[str, int]:
        """Copy every row ``target`` lacks; returns the rows inserted per table."""
        copied = dict.fromkeys(TABLES, 0)
        records = _shared(self, target, "kmsg_delivery_tracking")
        history = [c for c in _shared(self, target, "kmsg_status_history") if c != "id"]
        intents = _shared(self, target, "kmsg_failover_intents")
        for rows in _batches(self, "kmsg_delivery_tracking", records, "message_id", batch):
            with target.write() as conn:
                new = _insert(conn, "kmsg_delivery_tracking", records, rows, "message_id")
                copied["kmsg_delivery_tracking"] += len(new)
                if not new:
                    continue
                marks = ",".join("?" * len(new))
                for table, cols, where, order in (
                    ("kmsg_status_history", history, "message_id", ' ORDER BY "id"'),
                    ("kmsg_failover_intents", intents, "original_id", ""),
                ):
                    found = self.conn.execute(
                        f'SELECT {_names(cols)} FROM "{table}" WHERE "{where}" IN ({marks}){order}',
                        new,
                    ).fetchall()
                    for i in range(0, len(found), batch):
                        copied[table] += len(_insert(conn, table, cols, found[i : i + batch], None))
        for table, key in _KEYED:
            cols = _shared(self, target, table)
            for rows in _batches(self, table, cols, key, batch):
                with target.write() as conn:
                    copied[table] += len(_insert(conn, table, cols, rows, key))
        return copied


def _shared(source: AdminQueries, target: AdminQueries, table: str) -> list[str]:
    """The columns both have, in the target's order."""
    theirs = set(source.columns(table))
    return [c for c in target.columns(table) if c in theirs]


def _names(cols: Sequence[str]) -> str:
    return ",".join(f'"{c}"' for c in cols)


def _batches(
    store: AdminQueries, table: str, cols: Sequence[str], key: str, size: int
) -> Iterator[list[tuple[Any, ...]]]:
    """Every row in key order, ``size`` at a time (keyset paging: no OFFSET rescans)."""
    at = cols.index(key)
    last: Any = None
    while True:
        where, args = ("", [size]) if last is None else (f'WHERE "{key}" > ?', [last, size])
        rows = store.conn.execute(
            f'SELECT {_names(cols)} FROM "{table}" {where} ORDER BY "{key}" LIMIT ?', args
        ).fetchall()
        if not rows:
            return
        yield [tuple(r) for r in rows]
        last = rows[-1][at]


def _insert(
    conn: Any, table: str, cols: Sequence[str], rows: Sequence[Sequence[Any]], key: str | None
) -> list[Any]:
    """One multi-row INSERT that skips rows already there; the keys (or a 1) of rows inserted."""
    if not rows:
        return []
    one = "(" + ",".join("?" * len(cols)) + ")"
    returning = f'"{key}"' if key else "1"
    found = conn.execute(
        f'INSERT INTO "{table}" ({_names(cols)}) VALUES {",".join([one] * len(rows))} '
        f"ON CONFLICT DO NOTHING RETURNING {returning}",
        [v for row in rows for v in row],
    ).fetchall()
    return [r[0] for r in found]
