"""SOLAPI adapter: auth, request shapes, per-row mapping, status table, balance, cancel, preview,
reconciliation (`received`)."""

from __future__ import annotations

import json
import re

import httpx
import pytest
import respx

from kmsg_cli.core.models import MessageType, Status, StatusQuery
from kmsg_cli.errors import AuthError, ConfigError, Unavailable, UnknownOutcome
from kmsg_cli.providers.kst import iso_utc
from kmsg_cli.providers.solapi.build import (
    _build_send_request,
    _parse_send_response,
    normalize_status,
    sign,
)
from kmsg_cli.providers.solapi.lookup import (
    _build_received_request,
    _build_status_request,
    _parse_received_page,
    _parse_status_response,
)

from .conftest import NATIVE, SECRETS, alimtalk, all_secret_values, fixture, msg, solapi

BASE = "https://api.solapi.com"
SEND = f"{BASE}/messages/v4/send-many/detail"
AUTH_RE = re.compile(
    r"^HMAC-SHA256 apiKey=(\S+), date=(\S+), salt=([0-9A-Za-z]{12,64}), signature=([0-9a-f]{64})$"
)


def _auth_parts(request: httpx.Request) -> tuple[str, str, str, str]:
    match = AUTH_RE.match(request.headers["Authorization"])
    assert match, request.headers["Authorization"]
    key, date, salt, signature = match.groups()
    return key, date, salt, signature


def test_signature_recomputed_from_date_and_salt(deps, router: respx.MockRouter) -> None:
    route = router.post(SEND).respond(200, json=fixture("solapi_send_ok.json"))
    solapi(deps).send([msg(mid="m1"), msg(mid="m2", to="01022223333")])
    key, date, salt, signature = _auth_parts(route.calls[0].request)
    assert key == SECRETS["solapi"]["api_key"]
    assert signature == sign(SECRETS["solapi"]["api_secret"], date, salt)
    assert route.calls[0].request.headers["Content-Type"] == "application/json"


def test_retry_after_503_uses_a_fresh_salt(deps, clock, router: respx.MockRouter) -> None:
    """NET-14: a signature may not be reused; 503 then 200 -> two attempts, two salts."""
    route = router.post(SEND)
    route.side_effect = [
        httpx.Response(503),
        httpx.Response(200, json=fixture("solapi_send_ok.json")),
    ]
    results = solapi(deps).send([msg(mid="m1"), msg(mid="m2", to="01022223333")])
    assert [r.status for r in results] == [Status.PENDING, Status.PENDING]
    salts = [_auth_parts(c.request)[2] for c in route.calls]
    assert len(salts) == 2 and salts[0] != salts[1]
    assert len(clock.sleeps) == 1


def test_sms_lms_request_shape(deps, router: respx.MockRouter) -> None:
    route = router.post(SEND).respond(200, json=fixture("solapi_send_ok.json"))
    lms = msg(MessageType.LMS, mid="m2", to="01022223333", text="긴 글" * 50, subject="제목")
    solapi(deps).send([msg(mid="m1"), lms])
    body = json.loads(route.calls[0].request.content)
    assert body["showMessageList"] is True and "scheduledDate" not in body
    sms, long = body["messages"]
    assert sms == {
        "to": "01012345678",
        "type": "SMS",
        "autoTypeDetect": False,
        "from": "0212345678",
        "customFields": {"kmsgId": "m1"},
        "text": "hello",
    }
    assert long["type"] == "LMS" and long["subject"] == "제목"
    assert long["customFields"] == {"kmsgId": "m2"}


@pytest.mark.parametrize(("mode", "disable"), [(None, True), ("api", True), ("native", False)])
def test_alimtalk_kakao_options_disable_sms_always_explicit(mode, disable) -> None:
    """FO-5 / FO-13: disableSms is always on the wire; only native failover leaves it false, and
    the fallback text never goes into the ATA ``text``."""
    extra = NATIVE if mode == "native" else {"failover_mode": mode}
    req = _build_send_request(
        [alimtalk(**extra)], base_url=BASE, default_from=None, pf_id="PF1", image_ids={}, auth=None
    )
    (doc,) = req.json["messages"]
    assert doc["type"] == "ATA" and "text" not in doc and "subject" not in doc
    assert doc["kakaoOptions"] == {
        "pfId": "PF1",
        "templateId": "TPL1",
        "variables": {"#{name}": "홍길동", "#{code}": "1234"},
        "disableSms": disable,
    }


def test_scheduled_date_iso_with_offset() -> None:
    req = _build_send_request(
        [msg(scheduled_at=1_767_225_600_000)],
        base_url=BASE,
        default_from=None,
        pf_id=None,
        image_ids={},
        auth=None,
    )
    assert req.json["scheduledDate"] == "2026-01-01T09:00:00+09:00"


def test_schedules_split_into_separate_calls(deps, router: respx.MockRouter) -> None:
    route = router.post(SEND).respond(200, json=fixture("solapi_send_ok.json"))
    p = solapi(deps)
    p.send([msg(mid="m1", scheduled_at=1_767_300_000_000), msg(mid="m2")])
    assert route.call_count == 2


def test_partial_batch_maps_rows_by_custom_fields() -> None:
    """NET-8: a partly failed group is per-row results, not a whole-call error."""
    m1, m2 = msg(mid="m1"), msg(mid="m2", to="01099998888")
    ok, bad = _parse_send_response(fixture("solapi_send_partial.json"), [m1, m2])
    assert ok.status is Status.PENDING and ok.provider_message_id.startswith("M4V")
    assert ok.group_id == "G4V20260101090000PARTIALXXXXXXXX"
    assert bad.status is Status.FAILED and bad.code == "1062" and bad.error_class == "invalid"
    assert "01099998888" not in (bad.error or "")


def test_all_failed_batch_is_rows_not_retryable_error() -> None:
    (row,) = _parse_send_response(fixture("solapi_send_failed_1062.json"), [msg()])
    assert row.status is Status.FAILED and row.code == "1062" and row.error_class == "invalid"


def test_send_without_group_info_is_unknown_outcome() -> None:
    with pytest.raises(UnknownOutcome):
        _parse_send_response({"hello": 1}, [msg()])


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("2000", Status.PENDING),
        ("3000", Status.SENT),
        ("4000", Status.DELIVERED),
        ("3104", Status.FAILED),
        ("3107", Status.FAILED),
        ("1062", Status.FAILED),
        ("3059", Status.FAILED),
        ("TEST1000", None),
        ("", None),
        ("5000", None),
        (4000, Status.DELIVERED),
    ],
)
def test_status_table_trk21(code, expected) -> None:
    """TRK-21: 3104/3107 must be FAILED (k-msg's escaped regex made them UNKNOWN)."""
    assert normalize_status(code) is expected


def _q(mid: str, pmid: str, **kw) -> StatusQuery:
    return StatusQuery(mid, pmid, "01012345678", MessageType.SMS, 1_767_225_600_000, **kw)


def test_status_many_by_message_ids(deps, router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/messages/v4/list").respond(200, json=fixture("solapi_list.json"))
    ids = list(fixture("solapi_list.json")["messageList"])
    queries = [_q(f"q{i}", pmid) for i, pmid in enumerate(ids)]
    reports = solapi(deps).status(queries)
    assert route.call_count == 1
    assert route.calls[0].request.url.params.get_list("messageIds") == [
        q.provider_message_id for q in queries
    ]
    assert [r.status for r in reports] == [
        Status.PENDING,
        Status.SENT,
        Status.DELIVERED,
        Status.FAILED,
        Status.FAILED,
        None,
    ]
    assert reports[2].at == 1_767_225_609_000  # dateReceived
    assert reports[5].code == "TEST1000"


def test_status_one_and_reconcile_by_group(deps, router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/messages/v4/list").respond(200, json=fixture("solapi_list.json"))
    p = solapi(deps)
    (one,) = p.status([_q("x", "M4V0000000000000000000000000004000")])
    assert one.status is Status.DELIVERED
    assert route.calls[0].request.url.params["messageId"] == "M4V0000000000000000000000000004000"
    (rec,) = p.status([_q("q2000", "", group_id="G1")])  # unknown outcome: no message id kept
    assert rec.status is Status.PENDING
    assert route.calls[1].request.url.params["groupId"] == "G1"


def test_status_unmatched_is_unrecognized() -> None:
    (r,) = _parse_status_response({"messageList": {}}, [_q("a", "M4Vnope")])
    assert r.status is None


def test_balance_cancel_check(deps, router: respx.MockRouter) -> None:
    router.get(f"{BASE}/cash/v1/balance").respond(200, json=fixture("solapi_balance.json"))
    cancel = router.delete(f"{BASE}/messages/v4/groups/G4V1/schedule").respond(200, json={})
    p = solapi(deps)
    bal = p.balance()
    assert (bal.amount, bal.unit, bal.detail["point"]) == (12345.6, "KRW", 100)
    p.check()
    p.cancel("G4V1")
    assert cancel.called and AUTH_RE.match(cancel.calls[0].request.headers["Authorization"])


def test_group_id_kept_for_cancel_send16(deps, router: respx.MockRouter) -> None:
    """SEND-16: the groupId is the only handle to cancel a scheduled SOLAPI send."""
    router.post(SEND).respond(200, json=fixture("solapi_send_ok.json"))
    (r,) = solapi(deps).send([msg(mid="m1", scheduled_at=1_767_300_000_000)])
    assert r.group_id == "G4V20260101090000ABCDEFGHIJKLMNO" and r.status is Status.PENDING


def test_skewed_clock_is_auth_with_hint(deps, router: respx.MockRouter) -> None:
    router.post(SEND).respond(403, json={"errorCode": "RequestTimeTooSkewed", "errorMessage": "x"})
    with pytest.raises(AuthError) as info:
        solapi(deps).send([msg()])
    assert info.value.vendor_code == "RequestTimeTooSkewed" and info.value.http_status == 403
    assert "clock" in (info.value.hint or "")


def test_mms_uploads_then_sends_image_id(deps, router: respx.MockRouter, tmp_path) -> None:
    image = tmp_path / "a.jpg"
    image.write_bytes(b"\xff\xd8jpeg")
    upload = router.post(f"{BASE}/storage/v1/files").respond(200, json={"fileId": "ST01FILE"})
    send = router.post(SEND).respond(200, json=fixture("solapi_send_ok.json"))
    solapi(deps).send([msg(MessageType.MMS, image=str(image), subject="사진")])
    up = json.loads(upload.calls[0].request.content)
    assert up["type"] == "MMS" and up["name"] == "a.jpg" and up["file"] == "/9hqcGVn"
    assert json.loads(send.calls[0].request.content)["messages"][0]["imageId"] == "ST01FILE"


def test_preview_masks_every_secret(deps) -> None:
    docs = solapi(deps).preview([alimtalk(), msg(mid="m2")])
    text = json.dumps(docs, ensure_ascii=False)
    assert docs[0]["headers"]["Authorization"] == "****"
    assert docs[0]["body"]["messages"][0]["kakaoOptions"]["pfId"] == "****"
    assert not any(s in text for s in all_secret_values())


def test_secrets_resolved_lazily(deps, monkeypatch) -> None:
    """CFG-1: an env: reference is read only when a request is made, and names its key."""
    p = solapi(deps, api_key="env:KMSG_TEST_SOLAPI_KEY")
    monkeypatch.delenv("KMSG_TEST_SOLAPI_KEY", raising=False)
    with pytest.raises(ConfigError, match="providers.solapi.api_key"):
        p.balance()


def test_base_url_override_cfg10(deps, router: respx.MockRouter) -> None:
    """CFG-10: base_url is honoured (k-msg's SOLAPI ignored it)."""
    route = router.get("http://127.0.0.1:9/cash/v1/balance").respond(200, json={"balance": 1})
    solapi(deps, base_url="http://127.0.0.1:9").balance()
    assert route.called


LIST = f"{BASE}/messages/v4/list"
SINCE = 1_767_225_000_000


def _row(mid: str, own: str, code: str) -> dict:
    return {
        "messageId": mid,
        "groupId": "G4V1",
        "statusCode": code,
        "customFields": {"kmsgId": own},
    }


def test_received_reads_every_page_and_absent_means_never_created(
    deps, router: respx.MockRouter
) -> None:
    pages = {
        None: {
            "nextKey": "M4V3",
            "messageList": {
                "M4V1": _row("M4V1", "a", "3000"),
                "M4V2": _row("M4V2", "other", "4000"),
            },
        },
        "M4V3": {"nextKey": None, "messageList": {"M4V3": _row("M4V3", "b", "1062")}},
    }
    behind = {"Date": "Wed, 31 Dec 2025 23:50:00 GMT"}  # SOLAPI 10 minutes behind our clock
    route = router.get(LIST).mock(
        side_effect=lambda req: httpx.Response(
            200, json=pages[req.url.params.get("startKey")], headers=behind
        )
    )
    p = solapi(deps)
    found = p.received([msg(mid="a"), msg(mid="b"), msg(mid="c")], SINCE)
    assert set(found) == {"a", "b"}  # "c" was in no page: it never reached SOLAPI
    a, b = found["a"], found["b"]
    assert (a.status, a.provider_message_id, a.group_id) == (Status.SENT, "M4V1", "G4V1")
    assert b.status is Status.FAILED and b.code == "1062" and b.error_class == "invalid"
    first, second = (dict(c.request.url.params) for c in route.calls)
    # 15 minutes of SOLAPI's signature window plus one of slack, the same on every page even
    # though the first page's Date taught us the offset
    start = iso_utc(SINCE - 16 * 60_000)
    assert first == {"dateType": "CREATED", "startDate": start, "limit": "500"}
    assert second == first | {"startKey": "M4V3"}
    assert p.clock_offset_ms == -600_000


@pytest.mark.parametrize(
    ("offset", "start"), [(None, -16), (0, -16), (-600_000, -26), (600_000, -16)]
)
def test_search_windows_widen_by_a_known_offset_never_narrow(offset, start) -> None:
    """A clock fixed between the send and the search must not cut the window: the offset measured
    now only ever adds to the 16 minutes, on the side it points to."""
    req = _build_received_request(SINCE, base_url=BASE, auth=None, offset_ms=offset)
    assert req.params and req.params["startDate"] == iso_utc(SINCE + start * 60_000)
    q = StatusQuery("m1", "", "01012345678", MessageType.SMS, SINCE)
    req = _build_status_request([q], base_url=BASE, auth=None, offset_ms=offset)
    assert req.params and req.params["startDate"] == iso_utc(SINCE + start * 60_000)
    assert "endDate" not in req.params  # open-ended: "now" on SOLAPI's own clock


def test_every_response_date_updates_the_clock_offset_even_errors(
    deps, router: respx.MockRouter
) -> None:
    balance = f"{BASE}/cash/v1/balance"
    p = solapi(deps)
    assert p.clock_offset_ms is None  # nothing seen yet
    router.get(balance).respond(200, json={"balance": 1}, headers={"Date": "garbage"})
    p.balance()
    assert p.clock_offset_ms is None
    ahead = {"Date": "Thu, 01 Jan 2026 00:01:30 GMT"}  # NOW_MS + 90 s
    router.get(balance).respond(403, json={"errorCode": "InvalidAPIKey"}, headers=ahead)
    with pytest.raises(AuthError):
        p.balance()
    assert p.clock_offset_ms == 90_000
    router.get(balance).respond(200, json={"balance": 1})  # no Date: the last offset stays
    p.balance()
    assert p.clock_offset_ms == 90_000


def test_received_stops_paging_once_all_are_found(deps, router: respx.MockRouter) -> None:
    page = {"nextKey": "M4V9", "messageList": {"M4V1": _row("M4V1", "a", "2000")}}
    route = router.get(LIST).respond(200, json=page)
    assert solapi(deps).received([msg(mid="a")], SINCE)["a"].status is Status.PENDING
    assert route.call_count == 1
    assert solapi(deps).received([], SINCE) == {} and route.call_count == 1


def test_received_auth_failure_raises(deps, router: respx.MockRouter) -> None:
    router.get(LIST).respond(403, json={"errorCode": "InvalidAPIKey", "errorMessage": "no"})
    with pytest.raises(AuthError):
        solapi(deps).received([msg(mid="a")], SINCE)


def test_received_answer_without_a_list_is_no_proof_of_absence() -> None:
    with pytest.raises(Unavailable):
        _parse_received_page({"nextKey": None}, {"a"})


def test_received_paging_that_repeats_a_key_raises(deps, router: respx.MockRouter) -> None:
    router.get(LIST).respond(200, json={"nextKey": "M4V1", "messageList": {}})
    with pytest.raises(Unavailable, match="paging"):
        solapi(deps).received([msg(mid="a")], SINCE)
