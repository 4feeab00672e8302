"""The CLI on PostgreSQL (KMSG_DB=postgresql://...): the scenarios that carry the ledger and the
claims, as their SQLite tests run them, asserting on what the database holds afterwards."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.commands.test_queue import AD, CountingMock, kst_ms, run
from tests.conftest import FakeClock, Kmsg
from tests.trackkit import ALIMTALK_WITH_FAILOVER


@pytest.fixture
def pg(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("KMSG_DB", pg_url)
    return pg_url


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]


def test_an_idempotency_key_never_sends_twice(kmsg: Kmsg, pg: str) -> None:
    args = ("send", "--to", "01012345678", "--text", "hi", "--idempotency-key", "order-7")
    code, first = kmsg.json(*args)
    code2, second = kmsg.json(*args)
    assert (code, code2) == (0, 0)
    assert first["messages"][0]["message_id"] == second["messages"][0]["message_id"]
    assert query(pg, "SELECT count(*) FROM kmsg_delivery_tracking") == [(1,)]


def test_round_robin_rotates_across_runs(
    kmsg: Kmsg, pg: str, write_config: Callable[[str], Path]
) -> None:
    write_config(
        '[providers.m1]\ntype = "mock"\n[providers.m2]\ntype = "mock"\n'
        '[routing]\nstrategy = "round_robin"\nby_type = { SMS = ["m1", "m2"] }\n'
    )
    for _ in range(3):
        assert kmsg("send", "--to", "01012345678", "--text", "hi").exit_code == 0
    used = query(pg, "SELECT provider_id FROM kmsg_delivery_tracking ORDER BY requested_at, "
                     "(SELECT min(id) FROM kmsg_status_history h WHERE h.message_id = "
                     "kmsg_delivery_tracking.message_id)")  # fmt: skip
    assert [u[0] for u in used] == ["m1", "m2", "m1"]


def test_track_fails_over_to_exactly_one_sms(kmsg: Kmsg, pg: str) -> None:
    code, sent = kmsg.json(*ALIMTALK_WITH_FAILOVER)
    assert code == 0
    original = sent["messages"][0]["message_id"]
    kmsg.clock.advance(31)
    result = kmsg("track", "--once")
    assert result.exit_code == 0, result.output
    assert "1 failed, 1 failed over" in result.stdout
    assert "0 failed over" in kmsg("track", "--once").stdout
    kmsg.clock.advance(31)
    assert "1 delivered" in kmsg("track", "--once").stdout
    rows = query(pg, "SELECT type, status, fallback_of FROM kmsg_delivery_tracking")
    assert sorted(rows) == [("ALIMTALK", "FAILED", None), ("SMS", "DELIVERED", original)]
    metadata = query(pg, "SELECT metadata FROM kmsg_delivery_tracking WHERE type = 'ALIMTALK'")
    assert "text" not in metadata[0][0]["failover"]  # the fallback text is gone once sent (jsonb)


def test_queue_worker_killed_after_the_provider_accepted_never_sends_twice(
    clock: FakeClock, kmsg: Kmsg, pg: str
) -> None:
    clock.now = kst_ms("2026-11-26 22:00")
    assert kmsg("send", "--to", "01012345678", "--text", AD, "--ad", "--defer").exit_code == 0
    clock.now = kst_ms("2026-11-27 08:00")
    dying = CountingMock(clock, die="after")
    assert run(clock, dying, "queue", "run", "--once").exit_code == 130
    survivor = CountingMock(clock)
    assert run(clock, survivor, "queue", "run", "--once").exit_code == 0  # lease still held
    clock.advance(6 * 60)
    assert run(clock, survivor, "queue", "run", "--once").exit_code == 75
    assert len(dying.sent) == 1 and len(survivor.sent) == 0
    assert query(pg, "SELECT status FROM kmsg_jobs") == [("completed",)]
    assert query(pg, "SELECT send_state FROM kmsg_delivery_tracking") == [("unknown",)]


def test_send_bulk_rerun_sends_nothing_again(kmsg: Kmsg, pg: str, tmp_path: Path) -> None:
    data = tmp_path / "c.csv"
    rows = [f"고객{i},010{20_000_000 + i * 10 + 1:08d}" for i in range(1, 201)]
    data.write_text("name,phone\n" + "\n".join(rows) + "\n", encoding="utf-8")
    text = "#{name}님, 안녕하세요"
    report = tmp_path / "r.csv"
    assert (
        kmsg("send-bulk", "--yes", str(data), "--text", text, "--report", str(report)).exit_code
        == 0
    )
    code, doc = kmsg.json("send-bulk", "--yes", str(data), "--text", text)
    assert code == 0 and doc["sent_before"] == 200
    states = Counter(r[0] for r in query(pg, "SELECT send_state FROM kmsg_delivery_tracking"))
    assert states == {"accepted": 200}
    with report.open(encoding="utf-8") as f:
        assert Counter(r["status"] for r in csv.DictReader(f)) == {"accepted": 200}
