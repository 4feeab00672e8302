"""The local queue through the CLI: deferred ads, leases after a crash, retries, dead jobs, cancel."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from kmsg_cli.app import app
from kmsg_cli.config import EMBEDDED_DEFAULT
from kmsg_cli.context import AppContext
from kmsg_cli.core.models import Message, SendResult
from kmsg_cli.core.times import KST
from kmsg_cli.errors import RateLimited, Unavailable
from kmsg_cli.providers.mock.provider import MockProvider
from kmsg_cli.providers.registry import Deps
from tests.conftest import FakeClock, Kmsg

AD = "(광고) 겨울 세일 안내\n무료거부 080-000-0000"


def kst_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=KST).timestamp() * 1000)


def tracked(home: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(home / "kmsg.db")
    try:
        return conn.execute(
            'SELECT "to", status, send_state, job_id FROM kmsg_delivery_tracking'
        ).fetchall()
    finally:
        conn.close()


class CountingMock(MockProvider):
    """The mock, counting what reached it; ``die`` simulates the process dying mid-send."""

    def __init__(self, clock: FakeClock, die: str | None = None) -> None:
        super().__init__(
            "mock", EMBEDDED_DEFAULT.providers["mock"], Deps(http=lambda: None, clock=clock)
        )  # type: ignore[arg-type, return-value]
        self.die = die

    def send(self, messages: Sequence[Message]) -> list[SendResult]:
        if self.die == "before":
            raise KeyboardInterrupt  # killed before the request left
        results = super().send(messages)
        if self.die == "after":
            raise KeyboardInterrupt  # killed after the provider accepted, before anything was recorded
        return results


def run(clock: FakeClock, provider: MockProvider | None, *args: str) -> Any:
    ctx = AppContext(clock=clock)
    if provider is not None:
        ctx._providers["mock"] = provider
    return CliRunner().invoke(app, list(args), obj=ctx)


def test_night_ad_is_refused_then_deferred_and_sent_once_at_0800(
    clock: FakeClock, kmsg: Kmsg, kmsg_home: Path
) -> None:
    clock.now = kst_ms("2026-11-26 22:00")
    refused = kmsg("send", "--to", "01012345678", "--text", AD, "--ad")
    assert refused.exit_code == 75
    assert "21:00 and 08:00 KST" in refused.stderr and "--defer" in refused.stderr

    queued = kmsg("send", "--to", "01012345678", "--text", AD, "--ad", "--defer")
    assert queued.exit_code == 0 and "QUEUED" in queued.stdout and "08:00:00 KST" in queued.stdout
    # held in the ledger as planned: not sent, not tracked with the provider
    assert [row[2] for row in tracked(kmsg_home)] == ["planned"]

    clock.now = kst_ms("2026-11-27 07:59")
    assert kmsg("queue", "run", "--once").exit_code == 0
    assert [row[2] for row in tracked(kmsg_home)] == ["planned"]

    clock.now = kst_ms("2026-11-27 08:00")
    provider = CountingMock(clock)
    assert run(clock, provider, "queue", "run", "--once").exit_code == 0
    assert run(clock, provider, "queue", "run", "--once").exit_code == 0
    assert len(provider.sent) == 1
    (row,) = tracked(kmsg_home)
    assert row[:3] == ("01012345678", "SENT", "accepted") and row[3]
    _, doc = kmsg.json("queue", "list")
    assert doc["counts"] == {"completed": 1}


def schedule_one(kmsg: Kmsg) -> None:
    # +2h on an id the mock would schedule natively: force the local queue with an ad-free job
    result = kmsg(
        "send", "--to", "01012345678", "--text", "hi", "--at", "+2h", "--provider", "mock"
    )
    assert result.exit_code == 0, result.output


def queue_job(clock: FakeClock, kmsg: Kmsg) -> None:
    clock.now = kst_ms("2026-11-26 22:00")
    assert kmsg("send", "--to", "01012345678", "--text", AD, "--ad", "--defer").exit_code == 0
    clock.now = kst_ms("2026-11-27 08:00")


def test_worker_killed_after_the_provider_accepted_never_sends_twice(
    clock: FakeClock, kmsg: Kmsg, kmsg_home: Path
) -> None:
    queue_job(clock, kmsg)
    dying = CountingMock(clock, die="after")
    assert run(clock, dying, "queue", "run", "--once").exit_code == 130
    assert len(dying.sent) == 1
    _, doc = kmsg.json("queue", "list")
    assert doc["jobs"][0]["status"] == "processing"  # leased by the dead worker

    survivor = CountingMock(clock)
    assert run(clock, survivor, "queue", "run", "--once").exit_code == 0
    assert kmsg.json("queue", "list")[1]["jobs"][0]["status"] == "processing"  # lease still held

    clock.advance(6 * 60)  # past the 5-minute lease
    # the dead worker's attempt is settled first; the mock cannot tell, so it stays unknown,
    # is never sent again, and the run says so (75) instead of claiming success
    assert run(clock, survivor, "queue", "run", "--once").exit_code == 75
    assert len(survivor.sent) == 0
    assert kmsg.json("queue", "list")[1]["jobs"][0]["status"] == "completed"
    assert [row[2] for row in tracked(kmsg_home)] == ["unknown"]


def test_worker_killed_before_the_request_left_sends_once_on_the_next_run(
    clock: FakeClock, kmsg: Kmsg, kmsg_home: Path
) -> None:
    queue_job(clock, kmsg)
    assert run(clock, CountingMock(clock, die="before"), "queue", "run", "--once").exit_code == 130
    clock.advance(6 * 60)
    survivor = CountingMock(clock)
    assert run(clock, survivor, "queue", "run", "--once").exit_code == 75
    # the first attempt was written but never answered: the mock cannot tell whether it has it,
    # so it is not re-sent blindly either; tracking follows it
    assert len(survivor.sent) == 0
    assert tracked(kmsg_home)[0][2] == "unknown"


def test_rate_limited_job_is_retried_after_retry_after_then_sent(
    clock: FakeClock, kmsg: Kmsg, kmsg_home: Path
) -> None:
    queue_job(clock, kmsg)
    provider = CountingMock(clock)
    provider.script = [RateLimited("slow down", retry_after=30)]
    assert run(clock, provider, "queue", "run", "--once").exit_code == 0
    job = kmsg.json("queue", "list")[1]["jobs"][0]
    assert job["status"] == "pending" and job["process_at"] >= clock.now + 30_000

    clock.advance(10)
    run(clock, provider, "queue", "run", "--once")
    assert provider.sent == []  # not due yet
    clock.advance(60)
    assert run(clock, provider, "queue", "run", "--once").exit_code == 0
    assert len(provider.sent) == 1
    states = sorted(r[2] for r in tracked(kmsg_home))
    assert states == ["accepted", "refused"]  # the refused attempt stays on record


def test_exhausted_job_is_dead_visible_and_retryable(clock: FakeClock, kmsg: Kmsg) -> None:
    queue_job(clock, kmsg)
    provider = CountingMock(clock)
    provider.script = [Unavailable("down") for _ in range(3)]
    for _ in range(3):
        run(clock, provider, "queue", "run", "--once")
        clock.advance(60)
    _, doc = kmsg.json("queue", "list", "--failed")
    assert len(doc["jobs"]) == 1 and doc["jobs"][0]["attempts"] == 3
    assert "unavailable" in doc["jobs"][0]["error"]
    retried = kmsg("queue", "retry", "--failed", "-q")  # -q: the ids it put back, one a line
    assert retried.exit_code == 0 and retried.stdout == f"{doc['jobs'][0]['id']}\n"
    assert run(clock, provider, "queue", "run", "--once").exit_code == 0
    assert len(provider.sent) == 1


def test_suppression_applies_when_the_job_runs(
    clock: FakeClock, kmsg: Kmsg, kmsg_home: Path
) -> None:
    queue_job(clock, kmsg)
    assert kmsg("suppress", "add", "01012345678").exit_code == 0
    provider = CountingMock(clock)
    assert run(clock, provider, "queue", "run", "--once").exit_code == 1
    assert provider.sent == []
    assert "suppression" in kmsg.json("queue", "list", "--failed")[1]["jobs"][0]["error"]


def test_cancel_a_queued_job_and_a_provider_side_schedule(
    clock: FakeClock, kmsg: Kmsg, kmsg_home: Path
) -> None:
    queue_job(clock, kmsg)
    job_id = kmsg.json("queue", "list")[1]["jobs"][0]["id"]
    assert kmsg("queue", "cancel", job_id).exit_code == 0
    assert kmsg("queue", "run", "--once").exit_code == 0
    assert [row[1:3] for row in tracked(kmsg_home)] == [("CANCELLED", "refused")]  # never sent

    code, doc = kmsg.json("send", "--to", "01022223333", "--text", "later", "--at", "+2h")
    assert code == 0 and doc["messages"][0]["state"] == "accepted"  # the mock holds the schedule
    mid = doc["messages"][0]["message_id"]
    assert kmsg("queue", "cancel", mid).exit_code == 0
    assert kmsg.json("status", mid)[1]["message"]["status"] == "CANCELLED"


def test_cancel_twice_is_fine_and_a_sent_job_cannot_be_cancelled(
    clock: FakeClock, kmsg: Kmsg
) -> None:
    queue_job(clock, kmsg)
    queue_job(clock, kmsg)
    listed = kmsg("queue", "list", "-q")
    ids = listed.stdout.split()  # -q: the ids alone, one per line, for $(...)
    assert listed.exit_code == 0 and len(ids) == 2 and all(len(i) > 20 for i in ids), listed.output
    first, second = ids
    assert kmsg("queue", "cancel", first).exit_code == 0
    code, doc = kmsg.json("queue", "cancel", first)
    assert code == 0 and doc["already"] is True
    clock.advance(3 * 3600 * 1000)
    assert kmsg("queue", "run", "--once").exit_code == 0
    code, doc = kmsg.json("queue", "cancel", second)
    assert (code, doc["error"]["code"]) == (1, "not_cancellable"), doc


def test_purge_deletes_only_old_finished_jobs(clock: FakeClock, kmsg: Kmsg) -> None:
    queue_job(clock, kmsg)
    kmsg("queue", "run", "--once")
    kmsg("send", "--to", "01099998888", "--text", "x", "--at", "+100d", "--provider", "mock")
    clock.advance(40 * 86_400)
    code, doc = kmsg.json("queue", "purge", "--older-than", "30d")
    assert code == 0 and doc["deleted"] == 1


class SignallingClock(FakeClock):
    """Delivers a signal to this process on the first sleep: the loop must finish and stop."""

    def __init__(self, now_ms: int, signum: int) -> None:
        super().__init__(now_ms)
        self.signum = signum

    def sleep(self, seconds: float) -> None:
        import os

        super().sleep(seconds)
        os.kill(os.getpid(), self.signum)


def test_work_loop_runs_due_jobs_and_stops_on_signals(
    clock: FakeClock, kmsg: Kmsg, kmsg_home: Path
) -> None:
    import signal

    queue_job(clock, kmsg)
    term = SignallingClock(clock.now, signal.SIGTERM)
    provider = CountingMock(term)
    result = run(term, provider, "queue", "work", "--interval", "1")
    assert result.exit_code == 0, result.output
    assert len(provider.sent) == 1 and "1 sent" in result.stdout
    interrupted = run(SignallingClock(clock.now, signal.SIGINT), None, "queue", "work")
    assert interrupted.exit_code == 130


def test_work_loop_with_json_prints_one_document_for_the_whole_run(
    clock: FakeClock, kmsg: Kmsg
) -> None:
    import signal

    queue_job(clock, kmsg)
    term = SignallingClock(clock.now, signal.SIGTERM)
    provider = CountingMock(term)
    result = run(term, provider, "queue", "work", "--json")
    docs = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert result.exit_code == 0 and len(docs) == 1, result.stdout
    assert docs[0]["ok"] and docs[0]["sent"] == 1
    stopped = run(SignallingClock(clock.now, signal.SIGINT), None, "queue", "work", "--json")
    docs = [json.loads(line) for line in stopped.stdout.splitlines() if line.strip()]
    assert stopped.exit_code == 130 and len(docs) == 1, stopped.stdout
    assert docs[0]["error"]["code"] == "interrupted" and docs[0]["claimed"] == 0
