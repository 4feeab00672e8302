"""Store side of tracking: atomic leased claims (TRK-5), SQL-guarded transitions (TRK-3), the
failover outbox claimed by compare-and-swap (FO-2), retention purge (PII-6), and two passes
running at once on one database; every test on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from kmsg_cli.core.models import Record, Status, StatusQuery, StatusReport
from kmsg_cli.core.track import PassSummary
from kmsg_cli.core.track_rules import Check
from kmsg_cli.store import Store
from kmsg_cli.store.migrations import MIGRATIONS
from tests.conftest import FakeClock
from tests.store.backends import table_columns
from tests.trackkit import FakeProvider, count, make_env, message, open_db, run, seed

S = 1000


@pytest.fixture
def db(backend: str, clock: FakeClock) -> Iterator[Store]:
    store = open_db(backend, clock)
    yield store
    store.close()


def _seed(clock: FakeClock, db: Store, n: int, alimtalk: int = 0) -> list[str]:
    env = make_env(clock, db, FakeProvider())
    msgs = [message(clock, i) for i in range(n)]
    msgs += [message(clock, 500 + i, alimtalk=True) for i in range(alimtalk)]
    return seed(env, msgs)


def _check(mid: str, status: Status, previous: Status = Status.SENT) -> Check:
    return Check(mid, previous, status, "c", "m", 1, 0, 0, None, None, None)


def test_migration_003_adds_the_outbox(db: Store) -> None:
    assert [name for name, _ in MIGRATIONS][2] == "003_tracking_failover"
    cols = table_columns(db, "kmsg_failover_intents")
    assert cols[:3] == ["original_id", "fallback_id", "state"]


def test_claims_are_disjoint_and_an_expired_lease_comes_back(clock: FakeClock, db: Store) -> None:
    ids = _seed(clock, db, 5)
    now = clock.now_ms() + 31 * S
    a = db.claim_due("A", now, now + 300 * S, 3)
    b = db.claim_due("B", now, now + 300 * S, 10)
    assert len(a) == 3 and len(b) == 2
    assert {r.message_id for r in a} | {r.message_id for r in b} == set(ids)
    assert db.claim_due("C", now + 299 * S, now + 600 * S, 10) == []  # leases still held
    again = db.claim_due("C", now + 301 * S, now + 600 * S, 10)  # A and B were "killed"
    assert len(again) == 5


def test_nothing_is_claimed_before_it_is_due_unless_everything(clock: FakeClock, db: Store) -> None:
    _seed(clock, db, 2)
    now = clock.now_ms()
    assert db.claim_due("A", now, now + 300 * S, 10) == []
    assert len(db.claim_due("A", now, now + 300 * S, 10, everything=True)) == 2
    db.release("A", [])  # a no-op release is fine
    assert db.claim_due("B", now, now + 300 * S, 10, provider="other", everything=True) == []


def test_a_check_lands_only_for_the_owner_and_never_on_a_terminal_row(
    clock: FakeClock, db: Store
) -> None:
    (mid,) = _seed(clock, db, 1)
    now = clock.now_ms() + 31 * S
    db.claim_due("A", now, now + 300 * S, 1)
    assert db.apply_checks("B", [_check(mid, Status.DELIVERED)], now) == []  # not B's
    assert len(db.apply_checks("A", [_check(mid, Status.DELIVERED)], now)) == 1
    # even a holder of the claim cannot move a terminal status back (TRK-3)
    db.conn.execute(
        "UPDATE kmsg_delivery_tracking SET claimed_by = 'A' WHERE message_id = ?", (mid,)
    )
    assert db.apply_checks("A", [_check(mid, Status.SENT, Status.DELIVERED)], now) == []
    assert db.get(mid).status is Status.DELIVERED


def test_intents_are_claimed_once_and_finished_only_by_their_owner(
    clock: FakeClock, db: Store
) -> None:
    (mid,) = _seed(clock, db, 0, alimtalk=1)
    now = clock.now_ms() + 31 * S
    db.claim_due("A", now, now + 300 * S, 1)
    check = Check(
        mid, Status.SENT, Status.FAILED, "MOCK_3104", "x", 1, 0, 0, None, now, None, failover=True
    )
    db.apply_checks("A", [check], now)
    (intent,) = db.claim_intents("A", now, now + 300 * S, 10)
    assert intent.state == "sending" and intent.fallback_id == f"{mid}:api-fallback"
    assert db.claim_intents("B", now, now + 300 * S, 10) == []  # FO-2
    assert not db.finish_intent("B", intent, "sent", None, now)
    assert db.finish_intent("A", intent, "skipped", "no sender", now)
    assert db.intent(mid).state == "skipped"
    assert db.get(mid).fallback_message_id is None  # no fallback exists: no dangling link
    assert "text" not in db.get(mid).metadata["failover"]  # PII-5


def test_purge_deletes_old_terminal_records_history_and_finished_intents(
    clock: FakeClock, db: Store
) -> None:
    provider = FakeProvider()
    env = make_env(clock, db, provider)
    old = seed(env, [message(clock, 1), message(clock, 2, alimtalk=True), message(clock, 3)])
    clock.advance(31)
    run(env, db)  # 1 and 3 delivered; 2 failed and fell back to an SMS (still SENT)
    clock.advance(400 * 86_400)
    young = seed(env, [message(clock, 4)])
    pending = db.get(f"{old[1]}:api-fallback")
    assert pending is not None and pending.status is Status.SENT  # the fallback is still tracked
    counts = db.purge_terminal(clock.now_ms() - 365 * 86_400 * S)
    assert (counts.records, counts.intents) == (3, 1) and counts.history >= 6
    assert db.get(old[0]) is None and db.get(old[1]) is None
    assert db.get(pending.message_id) is not None  # not terminal: kept
    assert db.get(young[0]) is not None
    assert db.purge_terminal(clock.now_ms() - 365 * 86_400 * S).records == 0


def test_an_original_with_an_unfinished_failover_is_not_purged(clock: FakeClock, db: Store) -> None:
    (mid,) = _seed(clock, db, 0, alimtalk=1)
    now = clock.now_ms() + 31 * S
    db.claim_due("A", now, now + 300 * S, 1)
    check = Check(
        mid, Status.SENT, Status.FAILED, "MOCK_3104", "x", 1, 0, 0, None, now, None, failover=True
    )
    db.apply_checks("A", [check], now)
    assert db.purge_terminal(now + 1).records == 0
    assert db.get(mid) is not None


def test_two_passes_at_once_on_one_database_check_each_record_once_and_fail_over_once(
    backend: str, clock: FakeClock
) -> None:
    path = backend
    seeder = open_db(path, clock)
    ids = _seed(clock, seeder, 300, alimtalk=100)
    seeder.close()
    clock.advance(31)
    claimed = {"one": threading.Event(), "two": threading.Event()}

    class Overlapping(FakeProvider):
        """Answers no status query before both passes hold a claim, so they really overlap
        (left to the scheduler, one pass could take every batch before the other starts)."""

        def status(self, queries: Sequence[StatusQuery]) -> list[StatusReport]:
            for event in claimed.values():
                assert event.wait(timeout=10), "the other pass never claimed a batch"
            return super().status(queries)

    provider = Overlapping()  # shared: it counts every query and send of both passes
    barrier = threading.Barrier(2)
    totals: dict[str, PassSummary] = {}
    failures: list[BaseException] = []

    def worker(owner: str) -> None:
        store = open_db(path, clock)  # its own connection, as a second process would have
        take = store.claim_due

        def claim_due(*args: Any, **kwargs: Any) -> list[Record]:
            records = take(*args, **kwargs)
            if records:
                claimed[owner].set()
            return records

        store.claim_due = claim_due  # type: ignore[method-assign]
        env = make_env(clock, store, provider)
        barrier.wait()
        try:
            while True:
                summary = run(env, store, owner, limit=25, concurrency=4)
                totals[owner] = totals.get(owner) or PassSummary()
                totals[owner].checked += summary.checked
                totals[owner].failed_over += summary.failed_over
                if summary.claimed == 0:
                    break
        except BaseException as exc:  # surfaced below: a thread's assert must fail the test
            failures.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=worker, args=(o,)) for o in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    assert set(provider.queried) == set(ids) and set(provider.queried.values()) == {1}
    per_original = Counter(m.fallback_of for m in provider.fallbacks())
    assert len(per_original) == 100 and set(per_original.values()) == {1}
    assert totals["one"].checked + totals["two"].checked == 400
    assert totals["one"].failed_over + totals["two"].failed_over == 100
    assert min(totals["one"].checked, totals["two"].checked) > 0  # both really took part
    check = open_db(path, clock)
    assert count(check, "SELECT COUNT(*) FROM kmsg_status_history WHERE source = 'check'") == 400
    assert count(check, "SELECT COUNT(*) FROM kmsg_failover_intents WHERE state = 'sent'") == 100
    check.close()
