"""Shared pieces for the tracking tests: a counting fake provider, an Env around a real Store, and
seeding through the real send path (service.execute), so records look exactly like sent ones."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kmsg_cli.core import service
from kmsg_cli.core.models import (
    Balance,
    Failover,
    Message,
    MessageType,
    SendResult,
    Status,
    StatusQuery,
    StatusReport,
)
from kmsg_cli.core.ports import Env
from kmsg_cli.core.schedule import Schedule
from kmsg_cli.core.service import Planned
from kmsg_cli.core.track import PassSummary, TrackOptions, track_pass
from kmsg_cli.store import Store, open_store
from tests.conftest import FakeClock

SENDER = "0212345678"
# `kmsg send` of an AlimTalk with SMS failover to the mock's number that is "not a KakaoTalk user":
# FAILED on the first track pass, then the fallback SMS
ALIMTALK_WITH_FAILOVER = (
    "send",
    "--type",
    "ALIMTALK",
    "--to",
    "01011110000",
    "--template-id",
    "MOCK_TPL_SEED",
    "--var",
    "name=Kim",
    "--failover",
    "--fallback-text",
    "Kim님, 주문이 접수되었습니다",
)


class Crash(BaseException):
    """A simulated kill: not an Exception, so nothing on the way up can swallow it."""


class FakeProvider:
    """Answers like the mock (ALIMTALK to ...0000 -> FAILED not-a-KakaoTalk-user, else DELIVERED)
    unless ``answer`` says otherwise, and counts every status query and every send."""

    types = frozenset(MessageType)
    max_batch = 1000
    native_failover = False
    native_schedule = True
    clock_offset_ms: int | None = None

    def __init__(self, provider_id: str = "mock", kind: str = "mock") -> None:
        self.id = provider_id
        self.kind = kind
        self.lock = threading.Lock()
        self.queried: Counter[str] = Counter()
        self.queries: list[StatusQuery] = []
        self.sent: list[Message] = []
        self.status_calls = 0
        self.answer: Callable[[StatusQuery], StatusReport] | None = None
        self.status_error: BaseException | None = None
        self.before_send: Callable[[Sequence[Message]], None] | None = None
        self.after_send: Callable[[Sequence[Message]], None] | None = None
        self.reject: set[str] = set()  # recipients the provider refuses (FAILED at send)
        self.received_answer: dict[str, SendResult] | None = None  # None: cannot tell

    def send(self, messages: Sequence[Message]) -> list[SendResult]:
        if self.before_send:
            self.before_send(messages)
        with self.lock:
            self.sent.extend(messages)
        if self.after_send:
            self.after_send(messages)
        return [
            SendResult(m.message_id, Status.FAILED, code="FAKE_1062", error_class="invalid")
            if m.to in self.reject
            else SendResult(m.message_id, Status.SENT, provider_message_id=f"p-{m.message_id}")
            for m in messages
        ]

    def received(self, messages: Sequence[Message], since_ms: int) -> dict[str, SendResult] | None:
        if self.received_answer is None:
            return None
        return {m.message_id: r for m in messages if (r := self.received_answer.get(m.message_id))}

    def status(self, queries: Sequence[StatusQuery]) -> list[StatusReport]:
        with self.lock:
            self.status_calls += 1
            self.queries.extend(queries)
            self.queried.update(q.message_id for q in queries)
        if self.status_error is not None:
            raise self.status_error
        return [(self.answer or mock_answer)(q) for q in queries]

    def preview(self, messages: Sequence[Message]) -> list[dict[str, Any]]:
        return []

    def balance(self) -> Balance:
        return Balance(0, "KRW")

    def cancel(self, group_id: str) -> None:
        return None

    def check(self) -> None:
        return None

    def fallbacks(self) -> list[Message]:
        return [m for m in self.sent if m.fallback_of]


def mock_answer(q: StatusQuery) -> StatusReport:
    if q.type is MessageType.ALIMTALK and q.to.endswith("0000"):
        return StatusReport(q.message_id, Status.FAILED, "MOCK_3104", "not a KakaoTalk user")
    return StatusReport(q.message_id, Status.DELIVERED, "MOCK_4000", "delivered")


def make_env(clock: FakeClock, store: Store, *providers: FakeProvider) -> Env:
    table = {p.id: p for p in providers}
    return Env(
        clock=clock,
        store=lambda: store,
        provider=lambda pid: table[pid],  # type: ignore[return-value]
        capabilities={p.id: p.types for p in providers},
        default_senders={p.id: SENDER for p in providers},
        native_failover={p.id: False for p in providers},
        schedule=Schedule(),
    )


def open_db(path: Path | str, clock: FakeClock) -> Store:
    return open_store(path, clock.now_ms())


def message(
    clock: FakeClock,
    n: int,
    *,
    to: str | None = None,
    alimtalk: bool = False,
    failover_mode: str | None = "api",
    fallback_text: str = "Kim님, 주문이 접수되었습니다",
    scheduled_at: int | None = None,
) -> Message:
    mid = f"{clock.now_ms():012x}{n:020x}"
    if not alimtalk:
        return Message(
            mid, MessageType.SMS, to or f"010{n:08d}", SENDER, "hello", scheduled_at=scheduled_at
        )
    return Message(
        mid,
        MessageType.ALIMTALK,
        to or f"0101{n:03d}0000",
        SENDER,
        "Hello Kim",
        template_id="T",
        failover=Failover(True, fallback_text) if failover_mode else None,
        failover_mode=failover_mode,
        scheduled_at=scheduled_at,
    )


def seed(env: Env, messages: Sequence[Message], provider_id: str = "mock") -> list[str]:
    outcomes = service.execute([Planned(m, (provider_id,), "test", 0) for m in messages], env)
    assert all(o.state == "accepted" for o in outcomes), outcomes
    return [m.message_id for m in messages]


def run(env: Env, store: Store, owner: str = "test", **kw: Any) -> PassSummary:
    return track_pass(env, store, TrackOptions(owner=owner, **kw))


def count(store: Store, sql: str, *args: Any) -> int:
    return int(store.conn.execute(sql, args).fetchone()[0])
