"""SOLAPI against bench/fake_solapi.py on a real 127.0.0.1 socket: send, status, reconciliation
(``received``) and the fake's own paging and crash gate, which the crash tests rely on."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import pytest

from bench.fake_solapi import DUPLICATE_CODE, FAIL_CODE, FakeSolapi
from kmsg_cli.core.models import MessageType, SendResult, Status, StatusQuery
from kmsg_cli.errors import AuthError, UnknownOutcome
from kmsg_cli.providers.solapi import build, lookup

from .conftest import NOW_MS, SECRETS, FakeClock, msg, solapi


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeSolapi]:
    keys = SECRETS["solapi"]
    with FakeSolapi(keys["api_key"], keys["api_secret"], now_ms=clock.now_ms) as server:
        yield server


def test_send_then_status_over_a_real_socket(fake, deps) -> None:
    p = solapi(deps, base_url=fake.base_url)
    results = p.send([msg(mid="a"), msg(mid="b", to="01022223333")])
    assert [r.status for r in results] == [Status.PENDING, Status.PENDING]
    assert len({r.group_id for r in results}) == 1 and results[0].group_id.startswith("G4V")
    queries = [
        StatusQuery(r.message_id, r.provider_message_id, "010", MessageType.SMS, 0) for r in results
    ]
    reports = p.status(queries)
    assert [r.status for r in reports] == [Status.DELIVERED, Status.DELIVERED]
    assert len(set(fake.salts)) == len(fake.salts) == 2
    assert fake.received_ids() == Counter({"a": 1, "b": 1}) and fake.requests == 2


def test_wrong_secret_is_refused(fake, deps) -> None:
    with pytest.raises(AuthError) as info:
        solapi(deps, base_url=fake.base_url, api_secret="wrong").send([msg()])
    assert info.value.vendor_code == "SignatureDoesNotMatch" and not fake.received_ids()


def test_received_pages_by_start_key_within_the_creation_window(
    fake, deps, clock, monkeypatch
) -> None:
    p = solapi(deps, base_url=fake.base_url)
    p.send([msg(mid="old")])
    clock.t += 3_600_000  # an hour later: "old" falls before the window
    since = clock.now_ms()
    batch = [msg(mid=f"m{i}", to=f"0101234000{i}") for i in range(4)]
    results = p.send([*batch, msg(mid="bad", to="01012349999")])
    assert results[-1].status is Status.FAILED and results[-1].code == FAIL_CODE
    monkeypatch.setattr(lookup, "LIST_LIMIT", 2)
    before = fake.requests
    ids = ["old", "m0", "m1", "m2", "m3", "bad", "never"]
    found = p.received([msg(mid=i) for i in ids], since)
    assert fake.requests - before == 3  # five rows in the window, two per page
    assert set(found) == {"m0", "m1", "m2", "m3", "bad"}
    assert found["bad"].status is Status.FAILED and found["bad"].error_class == "invalid"
    assert all(found[f"m{i}"] == _accepted(results[i]) for i in range(4))
    assert fake.received_ids() == Counter({"old": 1, "m0": 1, "m1": 1, "m2": 1, "m3": 1})


def _accepted(sent: SendResult) -> SendResult:
    """What reconciliation should say about a message the send answer called accepted."""
    return SendResult(
        sent.message_id,
        Status.PENDING,
        sent.provider_message_id,
        sent.group_id,
        code="4000",  # the fake delivers at once; the send answer said 2000
    )


@pytest.mark.parametrize("record", [True, False])
def test_gate_holds_the_next_send_then_hangs_up(fake, deps, record) -> None:
    """The crash-test gate: the request is held until release() and never answered; with
    record=True the provider has its messages, with record=False they never arrived."""
    p = solapi(deps, base_url=fake.base_url)
    p.send([msg(mid="m1")])
    fake.pause_after(1, record=record)
    outcome: list[object] = []

    def send() -> None:
        try:
            outcome.append(p.send([msg(mid="m2"), msg(mid="m3", to="01022223333")]))
        except UnknownOutcome as err:
            outcome.append(err)

    worker = threading.Thread(target=send, daemon=True)
    worker.start()
    assert fake.paused.wait(timeout=10)
    assert fake.received_ids() == Counter(["m1", "m2", "m3"] if record else ["m1"])
    fake.release()
    worker.join(timeout=10)
    assert len(outcome) == 1 and isinstance(outcome[0], UnknownOutcome)
    found = p.received([msg(mid=i) for i in ("m1", "m2", "m3")], NOW_MS)
    assert set(found) == ({"m1", "m2", "m3"} if record else {"m1"})
    assert all(r.accepted and r.provider_message_id.startswith("M4V") for r in found.values())
    p.send([msg(mid="m4")])  # the gate is spent: the next send is answered
    assert fake.received_ids()["m4"] == 1


@pytest.mark.parametrize("offset_min", [-10, 10])
def test_received_finds_messages_by_solapi_own_clock(deps, clock, offset_min) -> None:
    """SOLAPI's clock 10 minutes off ours (within its 15-minute signature window): the messages
    carry SOLAPI's dateCreated and are found all the same; the offset is learnt from Date."""
    keys = SECRETS["solapi"]
    offset = offset_min * 60_000
    with FakeSolapi(
        keys["api_key"], keys["api_secret"], now_ms=clock.now_ms, clock_offset_ms=offset
    ) as fake:
        p = solapi(deps, base_url=fake.base_url)
        since = clock.now_ms()
        p.send([msg(mid="a"), msg(mid="b", to="01022223333")])
        assert p.clock_offset_ms == offset
        fresh = solapi(deps, base_url=fake.base_url)  # a rerun: no offset known yet
        found = fresh.received([msg(mid=i) for i in ("a", "b", "never")], since)
        assert set(found) == {"a", "b"}
        assert fake.received_ids() == Counter({"a": 1, "b": 1})


def test_a_signature_dated_beyond_fifteen_minutes_is_refused(deps, clock) -> None:
    keys = SECRETS["solapi"]
    with FakeSolapi(
        keys["api_key"], keys["api_secret"], now_ms=clock.now_ms, clock_offset_ms=-16 * 60_000
    ) as fake:
        p = solapi(deps, base_url=fake.base_url)
        with pytest.raises(AuthError) as info:
            p.send([msg()])
        assert info.value.vendor_code == "RequestTimeTooSkewed" and not fake.received_ids()
        assert p.clock_offset_ms == -16 * 60_000  # the refusal's Date still says how far off


def _post_send(fake: FakeSolapi, deps, body: dict) -> dict:
    auth = build.SolapiAuth(
        SECRETS["solapi"]["api_key"], SECRETS["solapi"]["api_secret"], deps.clock
    )
    url = f"{fake.base_url}/messages/v4/send-many/detail"
    return deps.http().post(url, json=body, auth=auth).json()


@pytest.mark.parametrize("allow", [None, False, True])
def test_the_fake_refuses_a_repeated_recipient_unless_duplicates_are_allowed(
    fake, deps, allow
) -> None:
    """As SOLAPI does (1026): the second message to one number in one request is refused per row,
    unless the request's top-level ``allowDuplicates`` is true."""
    one = {"to": "01012345678", "from": "0212345678", "type": "SMS", "autoTypeDetect": False}
    body: dict = {
        "messages": [
            {**one, "text": "첫째", "customFields": {"kmsgId": "a"}},
            {**one, "text": "둘째", "customFields": {"kmsgId": "b"}},
        ],
        "showMessageList": True,
    }
    if allow is not None:
        body["allowDuplicates"] = allow
    doc = _post_send(fake, deps, body)
    if allow:
        assert doc["failedMessageList"] == [] and len(doc["messageList"]) == 2
        assert fake.received_ids() == Counter({"a": 1, "b": 1})
    else:
        (refused,) = doc["failedMessageList"]
        assert refused["statusCode"] == DUPLICATE_CODE
        assert refused["customFields"] == {"kmsgId": "b"}
        assert fake.received_ids() == Counter({"a": 1})


def test_one_recipient_twice_with_two_texts_is_sent_as_two_messages(fake, deps) -> None:
    """Issue 13: two logical messages to one number in one call both go out (allowDuplicates)."""
    p = solapi(deps, base_url=fake.base_url)
    same = "01012345678"
    results = p.send(
        [
            msg(mid="a", to=same, text="주문 1 발송"),
            msg(mid="b", to=same, text="주문 2 발송"),
            msg(mid="c", to="01022223333", text="주문 3 발송"),
        ]
    )
    assert [r.status for r in results] == [Status.PENDING] * 3
    assert len({r.provider_message_id for r in results}) == 3
    assert fake.received_ids() == Counter({"a": 1, "b": 1, "c": 1})
    assert fake.recipients() == Counter({same: 2, "01022223333": 1})


def test_distinct_recipients_leave_allow_duplicates_unset() -> None:
    req = build._build_send_request(
        [msg(mid="a"), msg(mid="b", to="01022223333")],
        base_url="http://x",
        default_from=None,
        pf_id=None,
        image_ids={},
        auth=None,
    )
    assert "allowDuplicates" not in req.json
    twice = build._build_send_request(
        [msg(mid="a"), msg(mid="b", text="other")],
        base_url="http://x",
        default_from=None,
        pf_id=None,
        image_ids={},
        auth=None,
    )
    assert twice.json["allowDuplicates"] is True
