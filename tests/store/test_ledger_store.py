"""The store methods the delivery ledger's exactly-once rests on, on SQLite and on PostgreSQL:
attempts under one key are numbered once however many writers race, queue claims are disjoint
and leased, a campaign has one live owner, the round-robin cursor never hands out a position
twice."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from kmsg_cli.core import ledger
from kmsg_cli.core.models import Job, SendResult, Status
from kmsg_cli.errors import RateLimited
from kmsg_cli.store import Store, open_store
from tests.conftest import START_MS, FakeClock
from tests.trackkit import message

S = 1000


@pytest.fixture
def store(backend: str) -> Iterator[Store]:
    s = open_store(backend, START_MS)
    yield s
    s.close()


def at_once(backend: str, n: int, work: Callable[[Store, int], Any]) -> list[Any]:
    """``work`` on ``n`` connections of their own (as ``n`` hosts would have), released together."""
    open_store(backend, START_MS).close()  # migrated first: this is about the work, not that
    barrier = threading.Barrier(n, timeout=60)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            s = open_store(backend, START_MS)
        except BaseException as exc:
            barrier.abort()  # the others must not wait for this one
            errors.append(exc)
            return
        try:
            barrier.wait()
            results[i] = work(s, i)
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            s.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def keyed(clock: FakeClock, n: int, key: str = "order-1") -> Any:
    m = message(clock, n, to="01012345678")
    return replace(m, idempotency_key=key, fingerprint=ledger.fingerprint(m))


def test_one_key_raced_by_many_writers_is_written_once(backend: str, clock: FakeClock) -> None:
    def send(s: Store, i: int) -> ledger.Verdict:
        m = keyed(clock, i)
        return s.begin_attempts([(m, "mock")], START_MS)[m.message_id].verdict

    verdicts = at_once(backend, 6, send)
    assert Counter(verdicts) == {ledger.Verdict.SEND: 1, ledger.Verdict.SETTLE: 5}
    s = open_store(backend, START_MS)
    assert len(s.latest_attempts(["order-1"])) == 1
    s.close()


def test_a_refused_attempt_is_retried_as_attempt_two_an_accepted_one_never(
    store: Store, clock: FakeClock
) -> None:
    first = keyed(clock, 1)
    assert store.begin_attempts([(first, "mock")], START_MS)[first.message_id].attempt == 1
    # the provider refused the call (rate limited): provably not sent, so a retry may go out
    store.record_call_error([first.message_id], RateLimited("slow down"), START_MS, START_MS)
    second = keyed(clock, 2)
    decision = store.begin_attempts([(second, "mock")], START_MS)[second.message_id]
    assert (decision.verdict, decision.attempt) == (ledger.Verdict.SEND, 2)
    store.record_results(
        [SendResult(second.message_id, Status.SENT, "P2")],
        START_MS,
        {second.message_id: START_MS + 30 * S},
    )
    third = keyed(clock, 3)
    decision = store.begin_attempts([(third, "mock")], START_MS)[third.message_id]
    assert (decision.verdict, decision.attempt) == (ledger.Verdict.ACCEPTED, 2)
    assert store.get(second.message_id).provider_message_id == "P2"
    assert store.get(third.message_id) is None  # nothing written for it


def test_other_content_under_a_used_key_is_refused_and_nothing_written(
    store: Store, clock: FakeClock
) -> None:
    first = keyed(clock, 1)
    store.begin_attempts([(first, "mock")], START_MS)
    other = replace(keyed(clock, 2), text="something else")
    other = replace(other, fingerprint=ledger.fingerprint(other))
    with pytest.raises(Exception, match="order-1"):
        store.begin_attempts([(other, "mock")], START_MS)
    assert store.get(other.message_id) is None


def job(n: int, process_at: int = START_MS, key: str | None = None) -> Job:
    return Job(f"job{n:03d}", "send", {"n": n}, "pending", 0, 0, 3, START_MS, process_at,
               idempotency_key=key)  # fmt: skip


def test_queue_claims_are_disjoint_leased_and_come_back_when_the_lease_runs_out(
    backend: str,
) -> None:
    s = open_store(backend, START_MS)
    for n in range(40):
        s.enqueue(job(n))
    s.close()
    taken = at_once(
        backend, 4, lambda s, i: [j.id for j in s.claim_jobs(f"w{i}", START_MS, 60 * S, 15)]
    )
    flat = [jid for ids in taken for jid in ids]
    assert len(flat) == len(set(flat)) == 40  # every job once, none twice
    s = open_store(backend, START_MS)
    assert s.claim_jobs("late", START_MS + 59 * S, 60 * S, 50) == []  # leases still held
    again = s.claim_jobs("late", START_MS + 61 * S, 60 * S, 50)  # the workers were killed
    assert len(again) == 40 and {j.attempts for j in again} == {2}
    holder = next(j for j in again)
    assert not s.complete_job(holder.id, "w0", START_MS, {})  # the old owner lost it
    assert s.complete_job(holder.id, "late", START_MS, {"done": True})
    assert s.get_job(holder.id).status == "completed"
    s.close()


def test_a_queued_key_is_queued_once_however_many_writers_race(backend: str) -> None:
    ids = at_once(backend, 4, lambda s, i: s.enqueue(job(i, key="nightly")).id)
    s = open_store(backend, START_MS)
    assert len(set(ids)) == 1 and len(s.list_jobs(None, 10)) == 1
    s.close()


def test_a_campaign_has_one_live_owner_when_runs_start_at_once(backend: str) -> None:
    spec = {"text": "hi"}

    def take(s: Store, i: int) -> str | None:
        held = s.claim_campaign("c1", "/f.csv", spec, f"host{i}:1", START_MS, lambda o, b: True)
        return None if held is None else held.owner

    holders = at_once(backend, 4, take)
    winners = [i for i, h in enumerate(holders) if h is None]
    assert len(winners) == 1
    assert set(holders) - {None} == {f"host{winners[0]}:1"}  # the others name the winner


def test_a_campaign_heartbeat_and_finish_land_only_for_the_owner(store: Store) -> None:
    assert store.claim_campaign("c1", "/f.csv", {}, "a:1", START_MS, lambda o, b: True) is None
    store.heartbeat_campaign("c1", "b:2", START_MS + 5 * S)  # not b's
    assert store.campaign("c1").heartbeat_at == START_MS
    store.heartbeat_campaign("c1", "a:1", START_MS + 30 * S)
    assert store.campaign("c1").heartbeat_at == START_MS + 30 * S
    store.finish_campaign("c1", "b:2", "done", {}, START_MS + 40 * S)
    assert store.campaign("c1").state == "running"


def test_the_round_robin_cursor_hands_out_each_position_once(backend: str) -> None:
    positions = at_once(
        backend, 4, lambda s, i: [s.advance_cursor("by_type.SMS", 1000) for _ in range(25)]
    )
    flat = [p for ps in positions for p in ps]
    assert sorted(flat) == list(range(100))


def test_suppressions_count_what_changed(store: Store) -> None:
    assert store.suppress(["01011112222", "01033334444"], "stop", START_MS) == 2
    assert store.suppress(["01011112222", "01055556666"], None, START_MS) == 1
    assert store.suppressed(["01011112222", "01099999999"]) == {"01011112222"}
    assert store.unsuppress(["01011112222", "01099999999"]) == 1
