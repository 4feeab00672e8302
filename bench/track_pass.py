"""Time one `kmsg track --once`-equivalent pass draining N due records (default 10,000).

    python bench/track_pass.py [-n 10000] [--limit N] [--concurrency 10] [--alimtalk 0.01]

Records are seeded straight into a fresh SQLite file (not timed) as accepted sends whose first
check is due; the pass then claims them, queries an in-process fake provider (batched status
calls on a thread pool, like a real adapter with a batch endpoint, but no network), commits the
statuses and history, and sends the API-failover SMS for the ALIMTALK share that fails as "not a
KakaoTalk user" through the real journaled send path. Prints records/second. Not a test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an install

from kmsg_cli.core.models import (  # noqa: E402
    Balance,
    Failover,
    Message,
    MessageType,
    SendResult,
    Status,
    StatusQuery,
    StatusReport,
)
from kmsg_cli.core.ports import Env  # noqa: E402
from kmsg_cli.core.schedule import Schedule  # noqa: E402
from kmsg_cli.core.track import TrackOptions, track_pass  # noqa: E402
from kmsg_cli.store import Store, open_store  # noqa: E402

START = 1_795_000_000_000


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def now_ms(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


class FakeProvider:
    id = "fake"
    kind = "mock"
    types = frozenset(MessageType)
    max_batch = 1000
    status_batch = 100
    native_failover = False
    native_schedule = True
    clock_offset_ms: int | None = None

    def __init__(self) -> None:
        self.status_calls = 0
        self.sent = 0

    def send(self, messages: Sequence[Message]) -> list[SendResult]:
        self.sent += len(messages)
        return [SendResult(m.message_id, Status.SENT, f"p-{m.message_id}") for m in messages]

    def status(self, queries: Sequence[StatusQuery]) -> list[StatusReport]:
        self.status_calls += 1
        return [
            StatusReport(q.message_id, Status.FAILED, "MOCK_3104", "not a KakaoTalk user")
            if q.type is MessageType.ALIMTALK
            else StatusReport(q.message_id, Status.DELIVERED, "MOCK_4000", "delivered")
            for q in queries
        ]

    def preview(self, messages: Sequence[Message]) -> list[dict[str, Any]]:
        return []

    def balance(self) -> Balance:
        return Balance(0, "KRW")

    def cancel(self, group_id: str) -> None:
        return None

    def received(self, messages: Sequence[Message], since_ms: int) -> dict[str, SendResult] | None:
        return None

    def check(self) -> None:
        return None


def seed(store: Store, n: int, alimtalk_share: float, now: int) -> None:
    every = round(1 / alimtalk_share) if alimtalk_share > 0 else 0
    for start in range(0, n, 5000):
        messages = [_message(i, every) for i in range(start, min(n, start + 5000))]
        store.begin_attempts([(m, "fake") for m in messages], now)
        results = [SendResult(m.message_id, Status.SENT, f"p-{m.message_id}") for m in messages]
        store.record_results(results, now, {m.message_id: now + 30_000 for m in messages})


def _message(i: int, every: int) -> Message:
    mid = f"{START:012x}{i:020x}"
    if every and i % every == 0:
        return Message(
            mid,
            MessageType.ALIMTALK,
            f"010{i:08d}",
            "0212345678",
            "Hello",
            template_id="T",
            failover=Failover(True, "fallback text"),
            failover_mode="api",
        )
    return Message(mid, MessageType.SMS, f"010{i:08d}", "0212345678", "hello")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="due records to seed")
    parser.add_argument("--limit", type=int, default=None, help="records per pass (default: n)")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--alimtalk", type=float, default=0.01, help="share failing over")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clock = Clock(START)
        store = open_store(Path(tmp) / "bench.db", clock.now_ms())
        seed(store, args.n, args.alimtalk, clock.now_ms())
        clock.now += 31_000
        provider = FakeProvider()
        env = Env(
            clock=clock,
            store=lambda: store,
            provider=lambda _pid: provider,  # type: ignore[arg-type,return-value]
            capabilities={"fake": provider.types},
            default_senders={"fake": "0212345678"},
            native_failover={"fake": False},
            schedule=Schedule(),
        )
        opts = TrackOptions("bench", limit=args.limit or args.n, concurrency=args.concurrency)
        passes, checked, failed_over = 0, 0, 0
        started = time.perf_counter()
        while True:
            summary = track_pass(env, store, opts)
            if summary.claimed == 0 and passes:
                break
            passes += 1
            checked += summary.checked
            failed_over += summary.failed_over
            if summary.errors:
                raise SystemExit(f"pass failed: {summary.errors}")
        elapsed = time.perf_counter() - started
        store.close()
    sys.stdout.write(
        f"track pass: {checked} records checked in {passes} pass(es), {failed_over} failed over, "
        f"{provider.status_calls} status calls, {elapsed:.2f} s -> {checked / elapsed:,.0f} records/s\n"
    )


if __name__ == "__main__":
    main()
