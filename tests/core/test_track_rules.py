"""Tracking rules and the pass: the schedule table (docs/tracking.md#polling-schedule), monotonic
transitions (TRK-3, TRK-15), the failover rules and classifiers (FO-5, FO-10,
docs/providers.md#not-a-kakaotalk-user), per-provider error isolation (TRK-1, TRK-10, TRK-11),
and exactly-once failover under simulated crashes (FO-1)."""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kmsg_cli.core import track_rules
from kmsg_cli.core.models import MessageType, Record, Status, StatusReport
from kmsg_cli.core.schedule import Schedule
from kmsg_cli.core.track_rules import Rules
from kmsg_cli.errors import AuthError, RateLimited, Unavailable
from kmsg_cli.store import Store
from tests.conftest import START_MS, FakeClock
from tests.trackkit import (
    Crash,
    FakeProvider,
    count,
    make_env,
    message,
    open_db,
    run,
    seed,
)

S = 1000
RULES = Rules(Schedule(), "mock", {})


def record(**over: Any) -> Record:
    base = dict(
        message_id="m1",
        provider_id="mock",
        provider_message_id="p1",
        type=MessageType.ALIMTALK,
        to="01011110000",
        sender="0212345678",
        status=Status.SENT,
        provider_status_code=None,
        provider_status_message=None,
        sent_at=START_MS,
        delivered_at=None,
        failed_at=None,
        requested_at=START_MS,
        scheduled_at=None,
        status_updated_at=START_MS,
        attempt_count=0,
        last_checked_at=None,
        next_check_at=START_MS + 30 * S,
        last_error=None,
        metadata={"failover": {"channel": None, "text": "fallback text", "subject": None}},
        idempotency_key=None,
        send_state="accepted",
        group_id=None,
        failover_mode="api",
        fallback_of=None,
        fallback_message_id=None,
        job_id=None,
    )
    base.update(over)
    return Record(**base)  # type: ignore[arg-type]


def failed(code: str = "MOCK_3104", message: str = "x") -> StatusReport:
    return StatusReport("m1", Status.FAILED, code, message)


# ---- the schedule ------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    store = open_db(tmp_path / "k.db", clock)
    yield store
    store.close()


def test_schedule_table_then_unknown_after_24h_with_one_final_query(
    clock: FakeClock, db: Store
) -> None:
    provider = FakeProvider()
    provider.answer = lambda q: StatusReport(q.message_id, Status.SENT, "3000", "sent")
    env = make_env(clock, db, provider)
    (mid,) = seed(env, [message(clock, 1)])
    minutes = [0.5, 1, 3, 13, 43] + [43 + 120 * k for k in range(1, 12)]
    expected = [START_MS + int(m * 60 * S) for m in minutes] + [START_MS + 86_400 * S + 1]
    assert expected[-2] == START_MS + (22 * 3600 + 43 * 60) * S  # 22 h 43, then the final query
    for n, when in enumerate(expected, start=1):
        assert db.get(mid).next_check_at == when, f"check #{n}"
        clock.now = when - 1
        assert run(env, db).checked == 0  # not due a millisecond early
        clock.now = when
        summary = run(env, db)
        assert summary.checked == 1 and db.get(mid).attempt_count == n
    assert provider.queried[mid] == 17  # 16 scheduled checks + the final query (TRK-8)
    final = db.get(mid)
    assert final.status is Status.UNKNOWN and summary.timed_out == 1
    assert final.last_error == {"code": "TRACKING_TIMEOUT", "message": "tracking timeout"}
    assert [h.source for h in db.history(mid)][-2:] == ["check", "kmsg"]
    clock.advance(86_400)
    assert run(env, db, everything=True).checked == 0  # terminal: never asked again


def test_scheduled_send_is_first_checked_at_its_time_plus_grace_and_early_is_no_attempt(
    clock: FakeClock,
) -> None:
    at = START_MS + 3600 * S
    r = record(scheduled_at=at, next_check_at=START_MS)
    early = track_rules.not_yet_due(r, START_MS + 60 * S, Schedule())
    assert early is not None and early.attempts == 0 and early.checked_at is None
    assert early.next_check_at == at + 120 * S and not early.history  # TRK-13
    assert track_rules.not_yet_due(r, at + 120 * S, Schedule()) is None


def test_jitter_is_added_but_never_past_the_deadline() -> None:
    r = record(attempt_count=5)
    rules = dataclasses.replace(RULES, jitter=lambda wait: wait // 10)
    c = track_rules.apply_report(r, StatusReport("m1", Status.SENT), START_MS + 3600 * S, rules)
    assert c.next_check_at == START_MS + 3600 * S + 7200 * S + 720 * S
    late = START_MS + 86_000 * S
    c = track_rules.apply_report(r, StatusReport("m1", Status.SENT), late, rules)
    assert c.next_check_at == START_MS + 86_400 * S + 1


# ---- transitions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "reported", "result"),
    [
        (Status.PENDING, Status.SENT, Status.SENT),
        (Status.SENT, Status.PENDING, Status.SENT),  # never backward
        (Status.SENT, Status.DELIVERED, Status.DELIVERED),
        (Status.PENDING, Status.FAILED, Status.FAILED),
        (Status.DELIVERED, Status.FAILED, Status.DELIVERED),  # terminal is final
        (Status.FAILED, Status.DELIVERED, Status.FAILED),
        (Status.UNKNOWN, Status.SENT, Status.UNKNOWN),
        (Status.CANCELLED, Status.PENDING, Status.CANCELLED),
        (Status.SENT, None, Status.SENT),  # unrecognized: unchanged
    ],
)
def test_status_never_moves_backward(current: Status, reported: Status, result: Status) -> None:
    assert track_rules.merge(current, reported) is result


def test_unrecognized_code_keeps_the_record_pollable_with_the_raw_code() -> None:
    c = track_rules.apply_report(
        record(), StatusReport("m1", None, "TEST1000", "sandbox"), START_MS + 30 * S, RULES
    )
    assert c.status is Status.SENT and not c.finished  # TRK-15: not finalized
    assert (c.code, c.message) == ("TEST1000", "sandbox")
    assert c.history[0].code == "TEST1000" and c.next_check_at == START_MS + 60 * S


def test_a_lookup_error_never_finalizes_even_after_24h() -> None:
    c = track_rules.apply_error(record(), "unavailable", "503", START_MS + 90_000 * S, RULES)
    assert c.status is Status.SENT and c.attempts == 1
    assert c.last_error == {"code": "unavailable", "message": "503"}


# ---- failover rules ----------------------------------------------------------------------


def test_failover_fires_for_a_failed_alimtalk_classified_not_a_kakao_user() -> None:
    c = track_rules.apply_report(record(), failed(), START_MS + 30 * S, RULES)
    assert c.status is Status.FAILED and c.failover


@pytest.mark.parametrize(
    ("over", "report"),
    [
        ({"type": MessageType.SMS}, failed()),  # not ALIMTALK
        ({"failover_mode": "native"}, failed()),  # the provider fails over itself (FO-5)
        ({"failover_mode": None, "metadata": {}}, failed()),  # failover not asked for
        ({}, StatusReport("m1", Status.DELIVERED, "MOCK_4000")),  # not FAILED
        ({}, failed("MOCK_1062", "blocked")),  # failed for another reason
        ({"metadata": {"failover": {"channel": None}}}, failed()),  # text already cleared
        ({"fallback_message_id": "m1:api-fallback"}, failed()),  # already done
        ({"status": Status.FAILED}, failed()),  # already terminal
    ],
)
def test_each_condition_blocks_failover(over: dict[str, Any], report: StatusReport) -> None:
    c = track_rules.apply_report(record(**over), report, START_MS + 30 * S, RULES)
    assert not c.failover


@pytest.mark.parametrize(
    ("kind", "code", "text", "expected"),
    [
        ("solapi", "3104", "", True),
        ("solapi", "3107", "", True),
        ("solapi", "3099", "카카오톡 미사용자", True),
        ("solapi", "3105", "unregistered template", False),
        ("iwinv", "K105", "카카오톡 미사용 수신자", True),
        ("iwinv", "K106", "카카오 채널 차단", False),
        ("aligo", "K103", "", False),  # nothing built in for Aligo
        ("mock", "MOCK_3104", "", True),
        ("mock", "3104", "", False),  # the table is per provider type
    ],
)
def test_builtin_classifier_per_provider(kind: str, code: str, text: str, expected: bool) -> None:
    assert track_rules.not_kakao_user(kind, code, text) is expected


def test_config_codes_extend_the_builtin_table_never_replace_it() -> None:
    extra = {"aligo": ["K103"], "solapi": ["9999"], "mock-eu": ["X1"]}
    assert track_rules.not_kakao_user("aligo", "K103", "", extra)
    assert track_rules.not_kakao_user("solapi", "3104", "", extra)  # built-in still there (FO-10)
    assert track_rules.not_kakao_user("solapi", "9999", "", extra)
    assert track_rules.not_kakao_user("mock", "X1", "", extra, provider_id="mock-eu")  # by id too
    rules = Rules(Schedule(), "aligo", extra)
    r = record(provider_id="aligo")
    assert track_rules.apply_report(r, failed("K103"), START_MS + 30 * S, rules).failover


def test_fallback_message_type_sender_id_and_links() -> None:
    m = track_rules.fallback_message(record(metadata={"failover": {"text": "가" * 45}}))
    assert (m.type, m.message_id, m.idempotency_key) == (
        MessageType.SMS,
        "m1:api-fallback",
        "m1:api-fallback",
    )
    assert (m.to, m.sender, m.fallback_of) == ("01011110000", "0212345678", "m1")
    assert track_rules.fallback_message(
        record(metadata={"failover": {"text": "가" * 46}})
    ).type is (MessageType.LMS)
    lms = {"text": "short", "channel": "lms", "subject": "제목"}
    m = track_rules.fallback_message(record(metadata={"failover": lms}))
    assert (m.type, m.subject) == (MessageType.LMS, "제목")
    with pytest.raises(track_rules.FailoverSkipped, match="sender"):
        track_rules.fallback_message(record(sender=None))


# ---- the pass: isolation and reconciliation ------------------------------------------------


def test_one_provider_failing_reschedules_only_its_own_records(clock: FakeClock, db: Store) -> None:
    bad, good = FakeProvider("bad"), FakeProvider("good")
    env = make_env(clock, db, bad, good)
    bad_ids = seed(env, [message(clock, i) for i in range(3)], "bad")
    good_ids = seed(env, [message(clock, i) for i in range(10, 13)], "good")
    bad.status_error = Unavailable("503", provider_id="bad")
    clock.advance(31)
    summary = run(env, db)
    assert summary.delivered == 3 and [e.provider_id for e in summary.errors] == ["bad"]
    assert all(db.get(m).status is Status.DELIVERED for m in good_ids)
    for mid in bad_ids:
        r = db.get(mid)
        assert r.status is Status.SENT and r.attempt_count == 1
        assert r.next_check_at == clock.now + 30 * S and r.last_error["code"] == "unavailable"
        assert db.history(mid)[-1].code == "unavailable"


def test_auth_error_leaves_records_due_and_rate_limit_pauses_the_provider(
    clock: FakeClock, db: Store
) -> None:
    auth, slow = FakeProvider("auth"), FakeProvider("slow")
    env = make_env(clock, db, auth, slow)
    (a,) = seed(env, [message(clock, 1)], "auth")
    (s,) = seed(env, [message(clock, 2)], "slow")
    auth.status_error = AuthError("bad key", provider_id="auth")
    slow.status_error = RateLimited("429", provider_id="slow", retry_after=120)
    clock.advance(31)
    collector = gc.get_threshold()
    summary = run(env, db)
    assert gc.get_threshold() == collector  # the pass collects less often only while it runs
    assert {e.provider_id for e in summary.errors} == {"auth", "slow"}
    ra, rs = db.get(a), db.get(s)
    assert ra.attempt_count == 0 and ra.next_check_at <= clock.now  # still due (TRK-10)
    assert (
        ra.last_error is None
        and count(db, "SELECT COUNT(*) FROM kmsg_status_history WHERE source='check'") == 0
    )
    assert rs.attempt_count == 0 and rs.next_check_at == clock.now + 120 * S  # TRK-11
    assert (
        count(db, "SELECT COUNT(*) FROM kmsg_delivery_tracking WHERE claimed_by IS NOT NULL") == 0
    )


def test_an_in_flight_row_is_reconciled_by_lookup_never_resent(clock: FakeClock, db: Store) -> None:
    provider = FakeProvider()
    env = make_env(clock, db, provider)
    m = message(clock, 1)
    db.begin_attempts([(m, "mock")], clock.now_ms())  # the process died inside the provider call
    assert run(env, db, everything=True).claimed == 0  # --now never races a live send
    clock.advance(10 * 60 + 1)
    provider.answer = lambda q: StatusReport(q.message_id, None)  # not found (yet)
    assert run(env, db).checked == 1
    (query,) = provider.queries
    assert query.provider_message_id == "" and query.to == m.to  # TRK-7: lookup by recipient
    reconciled = db.get(m.message_id)
    assert provider.sent == [] and reconciled.status is Status.PENDING
    assert reconciled.send_state == "unknown"  # its sender is gone: no longer "in flight"
    provider.answer = None
    clock.advance(31)
    assert run(env, db).delivered == 1 and provider.sent == []


# ---- failover exactly once under crashes -----------------------------------------------------


def _failover_setup(clock: FakeClock, db: Store) -> tuple[FakeProvider, Any, str]:
    provider = FakeProvider()
    env = make_env(clock, db, provider)
    (mid,) = seed(env, [message(clock, 1, alimtalk=True)])
    provider.sent.clear()
    clock.advance(31)
    return provider, env, mid


def _assert_one_fallback(db: Store, provider: FakeProvider, mid: str, sends: int = 1) -> None:
    assert len(provider.fallbacks()) == sends
    fallback = db.get(f"{mid}:api-fallback")
    assert fallback is not None and fallback.fallback_of == mid
    assert db.get(mid).fallback_message_id == fallback.message_id
    assert db.intent(mid).state == "sent"
    assert "text" not in db.get(mid).metadata.get("failover", {})  # PII-5


def test_failover_happens_once_and_a_second_pass_sends_nothing(clock: FakeClock, db: Store) -> None:
    provider, env, mid = _failover_setup(clock, db)
    summary = run(env, db)
    assert (summary.failed, summary.failed_over) == (1, 1)
    _assert_one_fallback(db, provider, mid)
    fb = provider.fallbacks()[0]
    assert (fb.type, fb.sender, fb.text) == (
        MessageType.SMS,
        "0212345678",
        "Kim님, 주문이 접수되었습니다",
    )
    clock.advance(31)
    assert run(env, db).failed_over == 0 and len(provider.fallbacks()) == 1


def test_crash_after_the_intent_is_written(clock: FakeClock, db: Store) -> None:
    provider, env, mid = _failover_setup(clock, db)
    real = db.apply_checks

    def apply_then_die(*args: Any) -> Any:
        real(*args)
        raise Crash

    db.apply_checks = apply_then_die  # type: ignore[method-assign]
    with pytest.raises(Crash):
        run(env, db)
    db.apply_checks = real  # type: ignore[method-assign]
    assert db.get(mid).status is Status.FAILED and db.intent(mid).state == "pending"
    assert provider.fallbacks() == []
    assert run(env, db).failed_over == 1  # the next pass finishes it first (FO-1)
    run(env, db)
    _assert_one_fallback(db, provider, mid)


def test_crash_after_the_fallback_is_journaled_and_sent(clock: FakeClock, db: Store) -> None:
    provider, env, mid = _failover_setup(clock, db)

    def die(_messages: Any) -> None:  # the request left, the process died before the answer
        raise Crash

    provider.after_send = die
    with pytest.raises(Crash):
        run(env, db)
    provider.after_send = None
    assert db.intent(mid).state == "sending" and db.get(f"{mid}:api-fallback") is not None
    run(env, db)  # the lease has not expired: nobody touches the intent
    assert db.intent(mid).state == "sending"
    clock.advance(301)
    run(env, db)
    _assert_one_fallback(db, provider, mid)
    assert db.intent(mid).error and "unknown" in db.intent(mid).error


def test_crash_before_the_request_left_is_reported_never_resent(
    clock: FakeClock, db: Store
) -> None:
    provider, env, mid = _failover_setup(clock, db)

    def die(_messages: Any) -> None:
        raise Crash

    provider.before_send = die
    with pytest.raises(Crash):
        run(env, db)
    provider.before_send = None
    clock.advance(301)
    run(env, db)
    # written-before-send is at-most-once at this instant: the fallback stays an unknown outcome
    # that tracking reconciles (TRK-7), and is never sent a second time
    _assert_one_fallback(db, provider, mid, sends=0)
    assert db.get(f"{mid}:api-fallback").send_state == "in_flight"


def test_crash_after_the_fallback_is_sent_before_the_intent_is_marked(
    clock: FakeClock, db: Store
) -> None:
    provider, env, mid = _failover_setup(clock, db)
    real = db.finish_intent

    def die(*args: Any) -> Any:
        raise Crash

    db.finish_intent = die  # type: ignore[method-assign]
    with pytest.raises(Crash):
        run(env, db)
    db.finish_intent = real  # type: ignore[method-assign]
    assert len(provider.fallbacks()) == 1 and db.intent(mid).state == "sending"
    clock.advance(301)
    run(env, db)
    _assert_one_fallback(db, provider, mid)
    assert db.intent(mid).error is None  # finished from the fallback's own journal record


def test_a_pass_claims_in_batches_and_checks_each_record_once(clock: FakeClock, db: Store) -> None:
    from kmsg_cli.core import track

    provider = FakeProvider()
    env = make_env(clock, db, provider)
    for i in range(5):
        db.begin_attempts([(message(clock, i), "mock")], clock.now_ms())
    db.conn.execute(
        "UPDATE kmsg_delivery_tracking SET send_state = 'accepted', provider_message_id = 'p'"
    )
    clock.advance(10 * 60 + 1)
    batch, track.CLAIM_BATCH = track.CLAIM_BATCH, 2
    try:
        summary = run(env, db, everything=True)
    finally:
        track.CLAIM_BATCH = batch
    assert summary.claimed == 5 and summary.checked == 5  # three batches, none checked twice
    assert len(provider.queries) == 5


def test_an_error_stops_the_pass_and_gives_back_the_batch_claimed_ahead(
    clock: FakeClock, db: Store
) -> None:
    from kmsg_cli.core import track

    provider = FakeProvider()
    env = make_env(clock, db, provider)
    for i in range(5):
        db.begin_attempts([(message(clock, i), "mock")], clock.now_ms())
    db.conn.execute(
        "UPDATE kmsg_delivery_tracking SET send_state = 'accepted', provider_message_id = 'p'"
    )
    clock.advance(10 * 60 + 1)
    provider.status_error = AuthError("bad key", provider_id="mock")
    batch, track.CLAIM_BATCH = track.CLAIM_BATCH, 2
    try:
        summary = run(env, db, everything=True)
    finally:
        track.CLAIM_BATCH = batch
    assert summary.claimed == 2 and summary.checked == 0  # stopped after the first batch
    assert [e.provider_id for e in summary.errors] == ["mock"]  # reported once
    assert count(db, "SELECT COUNT(*) FROM kmsg_delivery_tracking WHERE claimed_by IS NULL") == 5
    assert count(db, "SELECT COUNT(*) FROM kmsg_delivery_tracking WHERE attempt_count = 0") == 5
    provider.status_error = None
    assert run(env, db, everything=True).checked == 5  # all still due, none lost
