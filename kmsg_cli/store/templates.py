"""The template and sender cache, mixed into Store: what `kmsg templates sync` saw at each
provider, read by the send checks (core/templates.py)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager

from kmsg_cli.core.templates import Button, Sender, Template

TEMPLATES, SENDERS = "templates", "senders"


class TemplateQueries:
    conn: sqlite3.Connection

    def write(self) -> AbstractContextManager[sqlite3.Connection]:  # provided by Store
        raise NotImplementedError

    def replace_templates(self, provider_id: str, templates: Sequence[Template], now: int) -> None:
        """The provider's whole list, replacing the one cached before (deleted ones go)."""
        with self.write() as conn:
            conn.execute('DELETE FROM "kmsg_templates" WHERE "provider_id" = ?', (provider_id,))
            conn.executemany(
                'INSERT INTO "kmsg_templates" VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
                [
                    (
                        provider_id,
                        t.code,
                        t.name,
                        t.status,
                        t.raw_status,
                        t.body,
                        json.dumps([b.__dict__ for b in t.buttons], ensure_ascii=False),
                        now,
                    )
                    for t in {t.code: t for t in templates}.values()
                ],
            )
            self._synced(conn, provider_id, TEMPLATES, now)

    def replace_senders(self, provider_id: str, senders: Sequence[Sender], now: int) -> None:
        with self.write() as conn:
            conn.execute('DELETE FROM "kmsg_senders" WHERE "provider_id" = ?', (provider_id,))
            conn.executemany(
                'INSERT INTO "kmsg_senders" VALUES (?, ?, ?, ?, ?)',
                [
                    (provider_id, s.number, s.status, int(s.active), now)
                    for s in {s.number: s for s in senders}.values()
                ],
            )
            self._synced(conn, provider_id, SENDERS, now)

    @staticmethod
    def _synced(conn: sqlite3.Connection, provider_id: str, kind: str, now: int) -> None:
        conn.execute(
            'DELETE FROM "kmsg_catalog_syncs" WHERE "provider_id" = ? AND "kind" = ?',
            (provider_id, kind),
        )
        conn.execute('INSERT INTO "kmsg_catalog_syncs" VALUES (?, ?, ?)', (provider_id, kind, now))

    def synced_at(self, provider_id: str, kind: str) -> int | None:
        row = self.conn.execute(
            'SELECT "synced_at" FROM "kmsg_catalog_syncs" WHERE "provider_id" = ? AND "kind" = ?',
            (provider_id, kind),
        ).fetchone()
        return None if row is None else int(row[0])

    def cached_templates(self, provider_id: str) -> list[Template]:
        rows = self.conn.execute(
            'SELECT "code", "name", "status", "raw_status", "body", "buttons" '
            'FROM "kmsg_templates" WHERE "provider_id" = ? ORDER BY "code"',
            (provider_id,),
        )
        return [_template(row) for row in rows]

    def cached_template(self, provider_id: str, code: str) -> Template | None:
        row = self.conn.execute(
            'SELECT "code", "name", "status", "raw_status", "body", "buttons" '
            'FROM "kmsg_templates" WHERE "provider_id" = ? AND "code" = ?',
            (provider_id, code),
        ).fetchone()
        return None if row is None else _template(row)

    def cached_senders(self, provider_id: str) -> list[Sender] | None:
        """The registered senders last synced, or None when they were never synced."""
        if self.synced_at(provider_id, SENDERS) is None:
            return None
        rows = self.conn.execute(
            'SELECT "number", "active", "status" FROM "kmsg_senders" '
            'WHERE "provider_id" = ? ORDER BY "number"',
            (provider_id,),
        )
        return [Sender(number, bool(active), status) for number, active, status in rows]


def _template(row: Sequence[str]) -> Template:
    code, name, status, raw, body, buttons = row
    return Template(
        code, name, status, body, tuple(Button(**b) for b in json.loads(buttons)), raw_status=raw
    )
