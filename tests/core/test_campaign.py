"""The bulk loop against a real Store and a counting provider: every row sent once, whatever stops
it; chunks bounded and paced; rows a dead run left in flight settled through the provider."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from kmsg_cli.core import campaign, service
from kmsg_cli.core.compose import Draft
from kmsg_cli.core.models import SendResult, Status
from kmsg_cli.core.settle import Settled
from kmsg_cli.errors import InputError, UnknownOutcome
from tests.conftest import FakeClock
from tests.trackkit import Crash, FakeProvider, make_env, open_db

JOB = "camp-1"
RUNS = itertools.count()  # each call of items() below is another run


def items(env, n: int, *, start: int = 1) -> Iterator[campaign.Item]:
    run_id = f"run-{next(RUNS)}"
    for row in range(start, start + n):
        to = f"010{row:08d}"
        planned = service.plan_one(Draft(text=f"hello {row}"), to, env)
        yield row, to, campaign.prepare(planned, JOB, row, run_id)


def run(env, rows, **kw) -> tuple[bool, list[campaign.RowResult]]:
    seen: list[campaign.RowResult] = []
    stopped = campaign.send_rows(
        rows, env, emit=seen.extend, stop=kw.pop("stop", lambda: False), **kw
    )
    return stopped, seen


def die_in_first_call(env, provider, rows: int, took: int = 0) -> list[str]:
    """Run a campaign whose process dies inside its first provider call, after the provider took
    the first ``took`` messages of it; returns their ids."""
    got: list[str] = []

    def die(messages) -> None:
        got.extend(m.message_id for m in messages[:took])
        provider.before_send = None
        raise Crash()

    provider.before_send = die
    with pytest.raises(Crash):
        run(env, items(env, rows), concurrency=1)
    return got


@pytest.fixture
def setup(tmp_path: Path, clock: FakeClock):
    store = open_db(tmp_path / "k.db", clock)
    provider = FakeProvider()
    provider.max_batch = 100
    env = campaign.locked(make_env(clock, store, provider))
    yield env, provider, store
    store.close()


def test_every_row_once_in_chunks_with_concurrency(setup) -> None:
    env, provider, _ = setup
    sizes: list[int] = []
    provider.before_send = lambda ms: sizes.append(len(ms))
    stopped, results = run(env, items(env, 1050), concurrency=3)
    assert not stopped
    assert Counter(r.state for r in results) == {"accepted": 1050}
    assert sorted(r.row for r in results) == list(range(1, 1051))
    assert Counter(m.to for m in provider.sent).most_common(1)[0][1] == 1
    assert max(sizes) == 100 and sum(sizes) == 1050  # the provider's batch limit, not one call each


def test_stopping_between_chunks_then_rerunning_sends_the_rest_once(setup) -> None:
    env, provider, _ = setup
    emitted: list[campaign.RowResult] = []
    stopped = campaign.send_rows(
        items(env, 500), env, emit=emitted.extend, stop=lambda: len(emitted) >= 200, concurrency=1
    )
    assert stopped and len(provider.sent) == 200  # nothing starts once asked to stop
    _, again = run(env, items(env, 500))
    states = Counter(r.state for r in again)
    assert states["already_sent"] == len(emitted) and states["accepted"] == 500 - len(emitted)
    assert sorted(m.to for m in provider.sent) == sorted(f"010{r:08d}" for r in range(1, 501))


def settled(s: Settled) -> tuple[int, int, int]:
    return s.found, s.lost, s.unknown


def test_a_crash_mid_call_never_resends_on_rerun(setup) -> None:
    env, provider, _ = setup
    die_in_first_call(env, provider, 150)
    provider.received_answer = None  # this provider cannot tell what it got: at most once
    assert settled(campaign.reconcile(JOB, env)) == (0, 0, 100)
    _, again = run(env, items(env, 150))
    states = Counter(r.state for r in again)
    assert states == {"unknown": 100, "accepted": 50}
    assert len(provider.sent) == 50


def test_rows_a_dead_run_left_in_flight_are_settled_through_the_provider(
    setup, clock: FakeClock
) -> None:
    env, provider, store = setup
    got = die_in_first_call(env, provider, 100, took=30)
    provider.received_answer = {
        mid: SendResult(mid, Status.SENT, provider_message_id=f"p-{mid}") for mid in got
    }
    assert settled(campaign.reconcile(JOB, env)) == (0, 0, 100)  # too recent to ask about
    clock.advance(61)  # no provider is still working on the dead run's request
    assert settled(campaign.reconcile(JOB, env)) == (30, 70, 0)
    _, again = run(env, items(env, 100))
    assert Counter(r.state for r in again) == {"already_sent": 30, "accepted": 70}
    assert len(provider.sent) == 70  # only the lost ones, exactly once
    assert {store.get(mid).send_state for mid in got} == {"accepted"}


def test_rejected_rows_are_retried_on_rerun_accepted_ones_are_not(setup) -> None:
    env, provider, _ = setup
    provider.reject = {"01000000002"}
    _, first = run(env, items(env, 3))
    assert Counter(r.state for r in first) == {"accepted": 2, "failed": 1}
    provider.reject = set()
    _, second = run(env, items(env, 3))
    assert Counter(r.state for r in second) == {"already_sent": 2, "accepted": 1}
    assert Counter(m.to for m in provider.sent)["01000000002"] == 2  # one rejected, one accepted


def test_an_unknown_outcome_is_not_failed_by_assumption(setup) -> None:
    env, provider, _ = setup

    def timeout(_messages) -> None:
        raise UnknownOutcome("read timeout after the request left", provider_id="mock")

    provider.before_send = timeout
    _, results = run(env, items(env, 5))
    assert {r.state for r in results} == {"unknown"}


def test_identical_rows_go_out_once_and_invalid_rows_are_reported(setup) -> None:
    env, provider, _ = setup
    twin = service.plan_one(Draft(text="same"), "01011112222", env)

    def rows() -> Iterator[campaign.Item]:
        yield 1, "01011112222", campaign.prepare(twin, JOB, 1, "r1")
        yield 2, "x", InputError("invalid recipient")
        yield 3, "01011112222", campaign.prepare(twin, JOB, 3, "r1")

    _, results = run(env, rows())
    assert sorted((r.row, r.state) for r in results) == [
        (1, "accepted"),
        (2, "invalid"),
        (3, "duplicate"),
    ]
    assert len(provider.sent) == 1


def test_rate_paces_chunks_on_the_clock(setup, clock: FakeClock) -> None:
    env, provider, _ = setup
    sizes: list[int] = []
    provider.before_send = lambda ms: sizes.append(len(ms))
    run(env, items(env, 50), rate=10, concurrency=1)
    assert max(sizes) == 10
    assert sum(clock.slept) == pytest.approx(4.0)  # 5 chunks of 10 at 10/s: 4 waits of 1 s


def test_a_lost_row_the_provider_rejected_at_registration_is_retried(
    setup, clock: FakeClock
) -> None:
    env, provider, store = setup
    got = die_in_first_call(env, provider, 3, took=2)
    provider.received_answer = {
        got[0]: SendResult(got[0], Status.SENT, provider_message_id="p-0"),
        got[1]: SendResult(got[1], Status.FAILED, code="1011", error_class="invalid"),
    }
    clock.advance(61)
    assert settled(campaign.reconcile(JOB, env)) == (2, 1, 0)
    assert store.get(got[1]).send_state == "rejected"
    _, again = run(env, items(env, 3))
    assert Counter(r.state for r in again) == {"already_sent": 1, "accepted": 2}
