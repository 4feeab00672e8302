"""The honest minimum: a plain script that journals every row as kmsg does, and nothing more.

    python bench/plain_reference.py ROWS.CSV BASE_URL DB

Streams the CSV bench/run.py writes, renders its text, counts CP949 bytes to pick SMS or LMS,
digests a row key, journals each group of 1,000 rows in one WAL transaction (a unique index on
the key, as the ledger has) before it POSTs the group to the fake SOLAPI at BASE_URL over one
keep-alive connection, then records the answers with one ``executemany``. No preview, no retry,
no settling of an unknown answer, no status history, no campaign record: it is the floor for a
tool that keeps kmsg's journal, where bench/sdk_reference.py is the floor for one that keeps none.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import secrets
import sqlite3
import sys
import uuid
from datetime import UTC, datetime

import httpx

KEY, SECRET = "BENCHKEY0000", "BENCHSECRET0000"  # the fake server's, as bench/run.py starts it
GROUP = 1_000  # kmsg's chunk
SENDER = "0212345678"
SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
  id TEXT PRIMARY KEY, key TEXT NOT NULL UNIQUE, recipient TEXT NOT NULL, body TEXT NOT NULL,
  type TEXT NOT NULL, state TEXT NOT NULL, provider_id TEXT
)
"""


def authorization() -> str:
    date = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    salt = secrets.token_hex(16)
    signature = hmac.new(SECRET.encode(), (date + salt).encode(), hashlib.sha256).hexdigest()
    return f"HMAC-SHA256 apiKey={KEY}, date={date}, salt={salt}, signature={signature}"


def send(db: sqlite3.Connection, client: httpx.Client, rows: list[tuple[str, ...]]) -> None:
    with db:  # journaled and committed before the provider hears of them
        db.executemany(
            "INSERT INTO journal (id, key, recipient, body, type, state) "
            "VALUES (?, ?, ?, ?, ?, 'in_flight')",
            rows,
        )
    messages = [
        {"to": to, "from": SENDER, "text": text, "type": kind, "customFields": {"kmsgId": mid}}
        for mid, _key, to, text, kind in rows
    ]
    answer = client.post(
        "/messages/v4/send-many/detail",
        content=json.dumps({"messages": messages}, ensure_ascii=False).encode(),
        headers={"Authorization": authorization(), "Content-Type": "application/json"},
    )
    answer.raise_for_status()
    accepted = [
        (row["messageId"], row["customFields"]["kmsgId"]) for row in answer.json()["messageList"]
    ]
    with db:
        db.executemany(
            "UPDATE journal SET state = 'accepted', provider_id = ? WHERE id = ?", accepted
        )


def main(path: str, base_url: str, db_path: str) -> None:
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(SCHEMA)
    client = httpx.Client(base_url=base_url)
    group: list[tuple[str, ...]] = []
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for name, phone, order in reader:
            text = (
                f"{name}님, 주문하신 상품이 오늘 출발합니다. 주문번호 {order}"  # bench/run.py TEXT
            )
            kind = "SMS" if len(text.encode("cp949")) <= 90 else "LMS"
            key = hashlib.sha256(json.dumps([phone, kind, text]).encode()).hexdigest()
            group.append((uuid.uuid4().hex, key, phone, text, kind))
            if len(group) == GROUP:
                send(db, client, group)
                group = []
    if group:
        send(db, client, group)
    db.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
