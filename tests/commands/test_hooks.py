"""[hooks] end to end (docs/hooks.md): the on_final command gets each final event on stdin, a
webhook receiver on 127.0.0.1 gets signed events it verifies, failed deliveries are retried with
backoff on the injected clock, and across a `kmsg track` killed with SIGKILL mid-delivery and
restarted, each final event reaches the receiver, deduping by event id, exactly once."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FakeClock, Kmsg
from tests.trackkit import ALIMTALK_WITH_FAILOVER

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-for-tests"


class Receiver:
    """A webhook endpoint on 127.0.0.1 that checks every request's signature. ``answers`` are
    the statuses of the next requests (then 200); ``hold_at`` N holds the N-th request unanswered
    until ``release()`` (``record``: whether it counts as received)."""

    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret.encode()
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.answers: list[int] = []
        self.requests = 0
        self.hold_at: int | None = None
        self.record_held = True
        self.paused = threading.Event()
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.handle(self, raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/kmsg"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def handle(self, req: BaseHTTPRequestHandler, raw: bytes) -> None:
        expected = "sha256=" + hmac.new(self.secret, raw, hashlib.sha256).hexdigest()
        signed = hmac.compare_digest(expected, req.headers.get("X-Kmsg-Signature", ""))
        doc = json.loads(raw)
        with self.lock:
            self.requests += 1
            n = self.requests
            status = self.answers.pop(0) if self.answers else 200
            if not signed or req.headers["X-Kmsg-Event-Id"] != doc["event_id"]:
                self.bad_signatures += 1
                status = 401
            held = n == self.hold_at
            if status == 200 and (not held or self.record_held):
                self.received.append(doc)
        if held:
            self.paused.set()
            self._release.wait(60)
            return  # the client is gone: nothing to answer
        req.send_response(status)
        req.send_header("Content-Length", "0")
        req.end_headers()

    def release(self) -> None:
        self._release.set()

    def ids(self) -> Counter[str]:
        with self.lock:
            return Counter(d["event_id"] for d in self.received)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def hooks_config(home: Path, body: str, tracking: str = "") -> None:
    path = home / "config.toml"
    path.write_text(f'[providers.mock]\ntype = "mock"\n{tracking}[hooks]\n{body}', "utf-8")
    path.chmod(0o600)


def webhook(url: str, extra: str = "") -> str:
    return f'webhook_url = "{url}"\nwebhook_secret = "env:KMSG_T_HOOK_SECRET"\n{extra}'


def db(home: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(home / "kmsg.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture(autouse=True)
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMSG_T_HOOK_SECRET", SECRET)


def test_on_final_gets_the_event_json_on_stdin(kmsg: Kmsg, kmsg_home: Path) -> None:
    out = kmsg_home / "stdin.jsonl"
    script = f"import sys; open({str(out)!r}, 'ab').write(sys.stdin.buffer.read() + b'\\n')"
    hooks_config(
        kmsg_home, f"on_final = {json.dumps(f'{sys.executable} -c {json.dumps(script)}')}\n"
    )
    _, sent = kmsg.json("send", "--to", "010-1234-5678", "--text", "hello")
    mid = sent["messages"][0]["message_id"]
    kmsg.clock.advance(31)
    assert kmsg("track", "--once").exit_code == 0
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(events) == 1
    event = events[0]
    assert event["event_id"] == f"final:{mid}" and event["kind"] == "final"
    assert event["message"]["status"] == "DELIVERED" and event["message"]["to"] == "01012345678"
    assert db(kmsg_home, "SELECT target, state, exit_status FROM kmsg_hook_events") == [
        ("command", "delivered", 0)
    ]
    kmsg.clock.advance(3600)
    assert kmsg("track", "--once").exit_code == 0
    assert len(out.read_text().splitlines()) == 1  # never again


def test_a_failing_command_is_retried_with_backoff_and_its_exit_status_kept(
    kmsg: Kmsg, kmsg_home: Path
) -> None:
    flag = kmsg_home / "ok"
    script = (
        f"import os, sys; sys.stdin.read(); sys.exit(0 if os.path.exists({str(flag)!r}) else 3)"
    )
    hooks_config(
        kmsg_home,
        f"on_final = {json.dumps(f'{sys.executable} -c {json.dumps(script)}')}\n"
        "backoff_seconds = [10, 60]\nmax_attempts = 3\n",
    )
    kmsg("send", "--to", "01012345678", "--text", "hello")
    kmsg.clock.advance(31)
    first = kmsg("track", "--once")
    assert first.exit_code == 0  # the pass itself is fine; the hook is a warning
    assert "not delivered (attempt 1): on_final exited 3" in first.stderr
    row = "SELECT state, attempts, exit_status FROM kmsg_hook_events"
    assert db(kmsg_home, row) == [("pending", 1, 3)]
    kmsg.clock.advance(5)
    kmsg("track", "--once")
    assert db(kmsg_home, row) == [("pending", 1, 3)]  # not before its backoff
    kmsg.clock.advance(6)
    kmsg("track", "--once")
    assert db(kmsg_home, row) == [("pending", 2, 3)]
    kmsg.clock.advance(60)
    last = kmsg("track", "--once")
    assert "attempt 3" in last.stderr and "given up" in last.stderr
    assert db(kmsg_home, row) == [("failed", 3, 3)]
    code, listed = kmsg.json("hooks", "list", "--state", "failed")
    assert code == 0 and [e["state"] for e in listed["events"]] == ["failed"]

    flag.touch()
    rerun = kmsg("hooks", "run", "--now")
    assert rerun.exit_code == 0 and "1 delivered" in rerun.stdout
    assert db(kmsg_home, row) == [("delivered", 4, 0)]


def test_webhook_gets_signed_final_and_failover_events(
    kmsg: Kmsg, kmsg_home: Path, receiver: Receiver
) -> None:
    hooks_config(kmsg_home, webhook(receiver.url))
    _, sent = kmsg.json(*ALIMTALK_WITH_FAILOVER)
    original = sent["messages"][0]["message_id"]
    kmsg.clock.advance(31)
    assert kmsg("track", "--once").exit_code == 0  # ALIMTALK FAILED, fallback SMS sent
    kmsg.clock.advance(31)
    assert kmsg("track", "--once").exit_code == 0  # the fallback DELIVERED
    assert receiver.bad_signatures == 0
    by_id = {d["event_id"]: d for d in receiver.received}
    fallback = f"{original}:api-fallback"
    assert list(by_id) == [f"final:{original}", f"failover:{original}", f"final:{fallback}"]
    assert receiver.ids() == Counter(dict.fromkeys(by_id, 1))
    final = by_id[f"final:{original}"]
    assert final["message"]["status"] == "FAILED" and final["failover_pending"] is True
    assert by_id[f"failover:{original}"]["fallback"] == {
        "id": fallback,
        "state": "sent",
        "error": None,
    }
    sms = by_id[f"final:{fallback}"]["message"]
    assert sms["type"] == "SMS" and sms["status"] == "DELIVERED" and sms["fallback_of"] == original
    assert "주문" not in json.dumps(list(by_id.values()), ensure_ascii=False)  # never the text


def test_a_refused_webhook_is_retried_after_its_backoff(
    kmsg: Kmsg, kmsg_home: Path, receiver: Receiver
) -> None:
    hooks_config(kmsg_home, webhook(receiver.url))
    receiver.answers = [500]
    kmsg("send", "--to", "01012345678", "--text", "hello")
    kmsg.clock.advance(31)
    result = kmsg("track", "--once")
    assert "webhook answered HTTP 500" in result.stderr and receiver.received == []
    kmsg.clock.advance(9)
    kmsg("track", "--once")
    assert receiver.requests == 1
    kmsg.clock.advance(1)
    kmsg("track", "--once")
    assert receiver.requests == 2 and len(receiver.received) == 1


def test_a_missing_secret_is_a_config_error_and_the_events_wait(
    kmsg: Kmsg, kmsg_home: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks_config(kmsg_home, webhook(receiver.url))
    kmsg("send", "--to", "01012345678", "--text", "hello")
    monkeypatch.delenv("KMSG_T_HOOK_SECRET")
    kmsg.clock.advance(31)
    result = kmsg("track", "--once")
    assert result.exit_code == 78
    assert "hooks.webhook_secret: environment variable KMSG_T_HOOK_SECRET is not set" in (
        result.stderr
    )
    assert db(kmsg_home, "SELECT state FROM kmsg_hook_events") == [("pending",)]
    monkeypatch.setenv("KMSG_T_HOOK_SECRET", SECRET)
    assert kmsg("hooks", "run").exit_code == 0
    assert len(receiver.received) == 1


def test_config_requires_a_secret_and_never_shows_a_literal_one(
    kmsg: Kmsg, kmsg_home: Path
) -> None:
    hooks_config(kmsg_home, 'webhook_url = "https://example.com/h"\n')
    bad = kmsg("config", "validate")
    assert bad.exit_code == 78 and "needs hooks.webhook_secret" in bad.stderr
    hooks_config(
        kmsg_home, 'webhook_url = "https://example.com/h"\nwebhook_secret = "literal-xyz"\n'
    )
    shown = kmsg("config", "show")
    assert shown.exit_code == 0 and "literal-xyz" not in shown.output
    assert "****" in shown.stdout


def test_no_hooks_no_events(kmsg: Kmsg, kmsg_home: Path) -> None:
    kmsg("send", "--to", "01012345678", "--text", "hello")
    kmsg.clock.advance(31)
    assert kmsg("track", "--once").exit_code == 0
    assert db(kmsg_home, "SELECT count(*) FROM kmsg_hook_events") == [(0,)]


# ---- a real `kmsg track` killed with SIGKILL while the receiver holds a request --------------


def run_until(predicate: Callable[[], bool], deadline_s: float) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if predicate():
            return True
        threading.Event().wait(0.05)  # waiting for another process, not for time to pass
    return predicate()


def delivered(home: Path) -> int:
    return int(db(home, "SELECT count(*) FROM kmsg_hook_events WHERE state = 'delivered'")[0][0])


@pytest.mark.parametrize("held_reached", [True, False], ids=["held-received", "held-lost"])
def test_each_final_event_once_across_a_killed_and_restarted_track(
    kmsg_home: Path, receiver: Receiver, held_reached: bool
) -> None:
    hooks_config(kmsg_home, webhook(receiver.url, "timeout_seconds = 2.0\n"))
    env = {**os.environ, "KMSG_HOME": str(kmsg_home), "PYTHONPATH": str(ROOT)}
    kmsg = Kmsg(FakeClock(time.time_ns() // 1_000_000))  # the processes below use the real clock
    numbers = [f"0101234{i:04d}" for i in range(1, 7)]
    assert kmsg("send", "--to", ",".join(numbers), "--text", "hello").exit_code == 0
    mids = {r[0] for r in db(kmsg_home, "SELECT message_id FROM kmsg_delivery_tracking")}
    receiver.hold_at, receiver.record_held = 3, held_reached
    track = [sys.executable, "-m", "kmsg_cli", "track"]

    first = subprocess.Popen(
        [*track, "--once", "--now"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert receiver.paused.wait(60), "the first track never delivered an event"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert first.returncode == -signal.SIGKILL
    receiver.release()
    assert len(receiver.ids()) == 2 + held_reached
    assert db(kmsg_home, "SELECT count(*) FROM kmsg_hook_events") == [(6,)]

    second = subprocess.Popen(
        [*track, "--interval", "0.2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        done = run_until(lambda: delivered(kmsg_home) == 6, 60)
    finally:
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=60)
    assert done, err
    assert set(receiver.ids()) == {f"final:{m}" for m in mids}
    assert receiver.bad_signatures == 0
    # at least once on the wire; exactly once for a receiver that drops a repeated event id
    repeats = {eid: n for eid, n in receiver.ids().items() if n > 1}
    assert len(repeats) == (1 if held_reached else 0) and set(repeats.values()) <= {2}
    assert {d["message"]["status"] for d in receiver.received} == {"DELIVERED"}
    assert db(kmsg_home, "SELECT DISTINCT state FROM kmsg_hook_events") == [("delivered",)]
    assert db(kmsg_home, "SELECT count(*) FROM kmsg_hook_events") == [(6,)]


def test_a_receiver_that_is_down_costs_one_request_per_pass(
    kmsg: Kmsg, kmsg_home: Path, receiver: Receiver
) -> None:
    hooks_config(kmsg_home, webhook(receiver.url))
    receiver.answers = [503] * 3
    kmsg("send", "--to", "01012345671,01012345672,01012345673", "--text", "hello")
    kmsg.clock.advance(31)
    kmsg("track", "--once")
    assert receiver.requests == 1  # the others wait for the next pass
    kmsg("track", "--once")
    assert receiver.requests == 2
    kmsg.clock.advance(10)
    kmsg("track", "--once")  # the first is due again and fails: the pass stops there
    assert receiver.requests == 3 and receiver.received == []
    kmsg.clock.advance(60)
    kmsg("track", "--once")
    assert receiver.requests == 6 and len(receiver.ids()) == 3


def test_an_on_final_that_is_not_a_command_is_a_config_error(kmsg: Kmsg, kmsg_home: Path) -> None:
    hooks_config(kmsg_home, 'on_final = "notify \'unclosed"\n')
    result = kmsg("config", "validate")
    assert result.exit_code == 78 and "hooks.on_final" in result.stderr


def test_status_of_a_message_shows_its_delivery_events(
    kmsg: Kmsg, kmsg_home: Path, receiver: Receiver
) -> None:
    hooks_config(kmsg_home, webhook(receiver.url))
    receiver.answers = [500]
    mid = kmsg("send", "--to", "01012345678", "--text", "hello", "-q").stdout.strip()
    kmsg.clock.advance(31)
    kmsg("track", "--once")
    _, doc = kmsg.json("status", mid)
    assert doc["hooks"] == [
        {
            "event_id": f"final:{mid}",
            "target": "webhook",
            "state": "pending",
            "attempts": 1,
            "delivered_at": None,
            "delivered_at_iso": None,
            "last_error": "webhook answered HTTP 500",
        }
    ]
    shown = kmsg("status", mid, "--format", "table")
    assert f"hook webhook: final:{mid} pending, 1 attempt(s) (webhook answered HTTP 500)" in (
        shown.stdout
    )
