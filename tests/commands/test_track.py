"""`kmsg track` through the CLI: the mock end to end with failover, output modes, the loop and
its signals, provider errors and exit codes, the retention purge, and two real processes at once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from kmsg_cli.app import app
from kmsg_cli.context import AppContext
from kmsg_cli.errors import AuthError
from tests.conftest import FakeClock, Kmsg
from tests.trackkit import ALIMTALK_WITH_FAILOVER, FakeProvider, make_env, message, open_db, seed

ROOT = Path(__file__).resolve().parents[2]


def query(home: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(home / "kmsg.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_mock_alimtalk_fails_over_to_exactly_one_sms(kmsg: Kmsg, kmsg_home: Path) -> None:
    code, sent = kmsg.json(*ALIMTALK_WITH_FAILOVER)
    assert code == 0
    original = sent["messages"][0]["message_id"]
    kmsg.clock.advance(31)
    result = kmsg("track", "--once")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "track: 1 checked, 1 changed, 0 delivered, 1 failed, 1 failed over, 0 timed out; 0 still due"
    )
    _, status = kmsg.json("status")
    by_type = {m["type"]: m for m in status["messages"]}
    assert set(by_type) == {"ALIMTALK", "SMS"} and status["counts"]["type"] == {
        "ALIMTALK": 1,
        "SMS": 1,
    }
    sms = by_type["SMS"]
    assert sms["message_id"] == f"{original}:api-fallback" and sms["fallback_of"] == original
    assert by_type["ALIMTALK"]["status"] == "FAILED"

    again = kmsg("track", "--once")
    assert "0 failed over" in again.stdout
    kmsg.clock.advance(31)
    third = kmsg("track", "--once")  # the fallback is tracked like any message
    assert "1 delivered, 0 failed, 0 failed over" in third.stdout
    rows = query(kmsg_home, "SELECT type, status, fallback_of FROM kmsg_delivery_tracking")
    assert sorted(rows) == [("ALIMTALK", "FAILED", None), ("SMS", "DELIVERED", original)]


def test_status_of_either_message_shows_the_link_and_history(kmsg: Kmsg) -> None:
    _, sent = kmsg.json(*ALIMTALK_WITH_FAILOVER)
    original = sent["messages"][0]["message_id"]
    kmsg.clock.advance(31)
    kmsg("track", "--once")
    _, one = kmsg.json("status", original)
    assert one["failover"]["intent"]["state"] == "sent"
    assert one["failover"]["fallback"]["message_id"] == f"{original}:api-fallback"
    assert [h["source"] for h in one["history"]] == ["send", "check"]
    assert one["history"][-1]["code"] == "MOCK_3104"
    _, fb = kmsg.json("status", f"{original}:api-fallback")
    assert fb["failover"]["original"] == {
        "message_id": original,
        "type": "ALIMTALK",
        "status": "FAILED",
    }
    human = kmsg("status", original, "--format", "table")
    assert "failover intent: sent" in human.stdout and "fallback message:" in human.stdout


def test_quiet_prints_nothing_and_json_is_one_document(kmsg: Kmsg) -> None:
    kmsg("send", "--to", "01012345678", "--text", "hi")
    kmsg.clock.advance(31)
    quiet = kmsg("track", "--once", "-q")
    assert quiet.exit_code == 0 and quiet.stdout == ""
    code, doc = kmsg.json("track", "--once", "--now")
    assert code == 0 and doc["ok"] is True and doc["summary"]["checked"] == 0


def test_now_checks_records_before_their_schedule(kmsg: Kmsg) -> None:
    kmsg("send", "--to", "01012345678", "--text", "hi")
    assert "0 checked" in kmsg("track", "--once").stdout
    assert "1 delivered" in kmsg("track", "--once", "--now").stdout


def test_auth_error_exits_77_and_leaves_records_due(
    kmsg: Kmsg, clock: FakeClock, kmsg_home: Path
) -> None:
    kmsg("send", "--to", "01012345678", "--text", "hi")
    clock.advance(31)
    fake = FakeProvider()
    fake.status_error = AuthError("mock: API key rejected", provider_id="mock")
    ctx = AppContext(clock=clock, _providers={"mock": fake})  # type: ignore[dict-item]
    result = CliRunner().invoke(app, ["track", "--once"], obj=ctx)
    assert result.exit_code == 77
    assert "mock: mock: API key rejected (1 record(s) not checked)" in result.stderr
    assert query(kmsg_home, "SELECT attempt_count, claimed_by FROM kmsg_delivery_tracking") == [
        (0, None)
    ]
    assert "1 delivered" in kmsg("track", "--once").stdout  # fixed credentials: picked up


def test_unknown_provider_and_stray_older_than_are_input_errors(kmsg: Kmsg) -> None:
    assert kmsg("track", "--once", "--provider", "nope").exit_code == 65
    assert kmsg("track", "--once", "--older-than", "30d").exit_code == 65


def test_purge_really_deletes_and_says_how_many(kmsg: Kmsg, kmsg_home: Path) -> None:
    kmsg("send", "--to", "01012345678", "--text", "old")
    kmsg("send", "--to", "01012348888", "--text", "never delivered")
    kmsg.clock.advance(31)
    kmsg("track", "--once")
    kmsg.clock.advance(40 * 86_400)
    kmsg("send", "--to", "01012345679", "--text", "new")
    result = kmsg("track", "--purge", "--older-than", "30d")
    assert result.exit_code == 0
    assert result.stdout.strip().startswith("purged 1 record(s), 2 history row(s)")
    # the ...8888 message is still SENT (not terminal) and the new one is recent: both kept
    assert len(query(kmsg_home, "SELECT 1 FROM kmsg_delivery_tracking")) == 2
    code, doc = kmsg.json("track", "--purge")  # default: [tracking] retention_days (365)
    assert code == 0 and doc["purged"]["records"] == 0


class SignalClock(FakeClock):
    """Sends a signal to this process while the loop sleeps, as an operator or systemd would."""

    def __init__(self, signum: int, after_sleeps: int = 3) -> None:
        super().__init__()
        self.signum = signum
        self.after = after_sleeps

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if len(self.slept) == self.after:
            os.kill(os.getpid(), self.signum)


def test_loop_runs_a_pass_at_once_and_stops_on_sigint_with_130(kmsg_home: Path) -> None:
    clock = SignalClock(signal.SIGINT)
    runner = CliRunner()
    runner.invoke(app, ["send", "--to", "01012345678", "--text", "hi"], obj=AppContext(clock=clock))
    clock.advance(31)
    before = signal.getsignal(signal.SIGINT)
    result = runner.invoke(app, ["track", "--interval", "5"], obj=AppContext(clock=clock))
    assert result.exit_code == 130, result.output
    assert "1 delivered" in result.stdout  # the first pass ran before any wait (TRK-9)
    assert "stopped after 1 pass(es)" in result.stderr
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored
    assert query(kmsg_home, "SELECT claimed_by FROM kmsg_delivery_tracking") == [(None,)]


def test_loop_stops_cleanly_on_sigterm(kmsg_home: Path) -> None:
    clock = SignalClock(signal.SIGTERM, after_sleeps=45)  # after the second pass (5 s = 20 ticks)
    result = CliRunner().invoke(
        app, ["track", "--interval", "5", "--json"], obj=AppContext(clock=clock)
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["passes"] == 3 and doc["summary"]["checked"] == 0


def test_two_track_processes_at_once_check_each_record_once(
    tmp_path: Path, kmsg_home: Path
) -> None:
    now = time.time_ns() // 1_000_000
    clock = FakeClock(now - 60_000)  # sent a minute ago: every record is due now
    store = open_db(kmsg_home / "kmsg.db", clock)
    env = make_env(clock, store, FakeProvider())
    seed(env, [message(clock, i) for i in range(200)])
    seed(env, [message(clock, 500 + i, alimtalk=True) for i in range(50)])
    store.close()
    environ = {**os.environ, "PYTHONPATH": str(ROOT)}  # this worktree, not an installed copy
    cmd = [sys.executable, "-m", "kmsg_cli", "track", "--once", "--limit", "150", "--json"]
    procs = [
        subprocess.Popen(cmd, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    docs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
        docs.append(json.loads(out))
    assert sum(d["summary"]["checked"] for d in docs) == 250
    assert sum(d["summary"]["failed_over"] for d in docs) == 50
    checks = query(
        kmsg_home,
        "SELECT message_id, COUNT(*) FROM kmsg_status_history WHERE source = 'check' "
        "GROUP BY message_id",
    )
    assert len(checks) == 250 and {n for _, n in checks} == {1}
    fallbacks = query(
        kmsg_home,
        "SELECT fallback_of, COUNT(*) FROM kmsg_delivery_tracking "
        "WHERE fallback_of IS NOT NULL GROUP BY fallback_of",
    )
    assert len(fallbacks) == 50 and {n for _, n in fallbacks} == {1}


def test_track_once_still_exits_0_after_the_builtin_mock_is_replaced_by_a_config(
    kmsg: Kmsg, write_config: Callable[[str], Path]
) -> None:
    assert kmsg("send", "--to", "01012345678", "--text", "hi").exit_code == 0  # built-in mock
    write_config('[providers.other]\ntype = "mock"\n')
    kmsg.clock.advance(3600)
    result = kmsg("track", "--once", "--now")
    assert result.exit_code == 0, result.output
    assert "not configured" not in result.output
    _, doc = kmsg.json("status")
    assert doc["messages"][0]["status"] == "DELIVERED"
