"""The delivery-event outbox (docs/hooks.md#exactly-once-and-where-it-is-at-least-once): an event
is written in the transaction of its change, so it exists iff the change does; a change is never
enqueued twice; a claim is leased, and a lease that ran out is taken over."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmsg_cli.core import hooks
from kmsg_cli.core.hooks import HookFailed, Policy, deliver_due
from tests.conftest import FakeClock
from tests.trackkit import Crash, FakeProvider, count, make_env, message, open_db, run, seed

EVENTS = 'SELECT count(*) FROM "kmsg_hook_events"'
DELIVERED = 'SELECT count(*) FROM "kmsg_delivery_tracking" WHERE "status" = \'DELIVERED\''


class Recording:
    def __init__(self, fail: bool = False) -> None:
        self.got: list[str] = []
        self.fail = fail

    def deliver(self, event_id: str, raw: bytes) -> int | None:
        self.got.append(event_id)
        if self.fail:
            raise HookFailed("down")
        return None


def test_a_crash_in_the_write_loses_the_status_and_the_event_together(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_db(tmp_path / "k.db", clock)
    store.hook_targets = (hooks.WEBHOOK,)
    env = make_env(clock, store, FakeProvider())
    seed(env, [message(clock, n) for n in range(3)])
    clock.advance(31)

    def crash(*_a: object, **_k: object) -> None:
        raise Crash

    monkeypatch.setattr(hooks, "final_event", crash)
    with pytest.raises(Crash):
        run(env, store)
    assert count(store, DELIVERED) == 0 and count(store, EVENTS) == 0
    monkeypatch.undo()
    clock.advance(301)  # the dead pass's lease
    run(env, store)
    assert count(store, DELIVERED) == 3 and count(store, EVENTS) == 3
    clock.advance(3600)
    run(env, store, everything=True)  # terminal records are never checked again
    assert count(store, EVENTS) == 3


def test_only_configured_targets_get_rows_and_the_command_only_final_events(
    tmp_path: Path, clock: FakeClock
) -> None:
    store = open_db(tmp_path / "k.db", clock)
    store.hook_targets = (hooks.COMMAND, hooks.WEBHOOK)
    env = make_env(clock, store, FakeProvider())
    seed(env, [message(clock, 1, alimtalk=True)])
    clock.advance(31)
    run(env, store)  # FAILED, then the fallback is sent
    rows = store.conn.execute(
        'SELECT "kind", "target" FROM "kmsg_hook_events" ORDER BY 1, 2'
    ).fetchall()
    assert rows == [("failover", "webhook"), ("final", "command"), ("final", "webhook")]


def test_a_lease_is_honoured_then_taken_over_and_failures_back_off(
    tmp_path: Path, clock: FakeClock
) -> None:
    store = open_db(tmp_path / "k.db", clock)
    store.hook_targets = (hooks.WEBHOOK,)
    env = make_env(clock, store, FakeProvider())
    seed(env, [message(clock, 1)])
    clock.advance(31)
    run(env, store)
    policy = Policy(timeout_ms=1000, backoff_s=(10,), max_attempts=3)  # the dead try counts
    now = clock.now_ms()
    held = store.claim_hook_event("dead", ["webhook"], now, now, now + 3000)
    assert held is not None and held.attempts == 1
    sink = Recording(fail=True)
    assert deliver_due(store, {"webhook": sink}, clock, "b", policy).delivered == 0
    assert sink.got == []  # leased by the dead owner
    clock.advance(4)
    summary = deliver_due(store, {"webhook": sink}, clock, "b", policy)
    assert sink.got == [held.event_id] and summary.retrying == 1
    assert not store.finish_hook_event(
        "dead",
        held,
        hooks.DELIVERED,
        clock.now_ms(),
        next_attempt_at=0,
        exit_status=None,
        error=None,
    )  # the dead owner's late answer changes nothing
    clock.advance(9)
    deliver_due(store, {"webhook": sink}, clock, "b", policy)
    assert len(sink.got) == 1
    clock.advance(1)
    summary = deliver_due(store, {"webhook": sink}, clock, "b", policy)
    assert summary.gave_up == 1 and store.hook_events(state=hooks.GAVE_UP)


def test_two_workers_on_one_file_never_deliver_an_event_twice(
    tmp_path: Path, clock: FakeClock
) -> None:
    import threading

    path = tmp_path / "k.db"
    store = open_db(path, clock)
    store.hook_targets = (hooks.WEBHOOK,)
    env = make_env(clock, store, FakeProvider())
    seed(env, [message(clock, n) for n in range(200)])
    clock.advance(31)
    run(env, store)
    assert count(store, EVENTS) == 200
    sinks = [Recording(), Recording()]
    stores = [open_db(path, clock), open_db(path, clock)]

    def work(i: int) -> None:
        deliver_due(stores[i], {"webhook": sinks[i]}, clock, f"w{i}", Policy())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = sinks[0].got + sinks[1].got
    assert len(got) == 200 and len(set(got)) == 200
    assert (
        count(store, 'SELECT count(*) FROM "kmsg_hook_events" WHERE "state" = \'delivered\'') == 200
    )
