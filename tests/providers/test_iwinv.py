"""IWINV adapter: headers, templateParam order, resend fields, KST dates, vendor codes, status."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest
import respx

from kmsg_cli.core.models import Failover, MessageType, Status, StatusQuery
from kmsg_cli.errors import (
    AuthError,
    InsufficientBalance,
    InvalidRequest,
    RateLimited,
    TemplateNotFound,
    Unavailable,
    UnknownOutcome,
)
from kmsg_cli.providers.iwinv import build, codes

from .conftest import NATIVE, SECRETS, alimtalk, all_secret_values, fixture, iwinv, msg

AT = "https://alimtalk.bizservice.iwinv.kr"
SMS = "https://sms.bizservice.iwinv.kr"
KEY = SECRETS["iwinv"]


def _mock_template(router: respx.MockRouter) -> respx.Route:
    return router.post(f"{AT}/api/template/").respond(200, json=fixture("iwinv_template.json"))


def test_alimtalk_auth_header_and_template_order(deps, router: respx.MockRouter) -> None:
    """templateParam follows the template's order, not the caller's dict."""
    tpl = _mock_template(router)
    send = router.post(f"{AT}/api/v2/send/").respond(200, json=fixture("iwinv_alimtalk_ok.json"))
    m = alimtalk(variables={"idx": "77", "name": "홍길동", "code": "1234"})
    (r,) = iwinv(deps).send([m])
    req = send.calls[0].request
    assert req.headers["AUTH"] == base64.b64encode(KEY["api_key"].encode()).decode()
    assert json.loads(tpl.calls[0].request.content)["templateCode"] == "TPL1"
    body = json.loads(req.content)
    assert body["list"] == [{"phone": "01012345678", "templateParam": ["1234", "홍길동", "77"]}]
    assert body["reserve"] == "N" and body["reSend"] == "N"
    assert "resendType" not in body and "resendContent" not in body
    assert (r.status, r.provider_message_id, r.group_id) == (Status.PENDING, "987654", "987654")


def test_template_fetched_once_per_run(deps, router: respx.MockRouter) -> None:
    tpl = _mock_template(router)
    router.post(f"{AT}/api/v2/send/").respond(200, json=fixture("iwinv_alimtalk_ok.json"))
    v = {"idx": "1", "name": "a", "code": "b"}
    iwinv(deps).send([alimtalk("m1", variables=v), alimtalk("m2", variables=v)])
    assert tpl.call_count == 1


def test_missing_variable_is_invalid_before_send(deps, router: respx.MockRouter) -> None:
    _mock_template(router)
    send = router.post(f"{AT}/api/v2/send/")
    (r,) = iwinv(deps).send([alimtalk(variables={"name": "x"})])
    assert r.status is Status.FAILED and r.error_class == "invalid" and not send.called


def test_resend_fields_native_failover_fo13() -> None:
    """FO-13: reSend=Y only for native failover; resendType N iff our own content is given."""
    own = build._resend_fields(alimtalk(**NATIVE), "0212345678")
    assert own == {
        "reSend": "Y",
        "resendCallback": "0212345678",
        "resendType": "N",
        "resendContent": "대체 문자",
        "resendTitle": "제목",
    }
    same = build._resend_fields(
        alimtalk(failover_mode="native", failover=Failover(True)), "0212345678"
    )
    assert same == {"reSend": "Y", "resendCallback": "0212345678", "resendType": "Y"}
    assert build._resend_fields(alimtalk(failover_mode="api"), "0212345678") == {"reSend": "N"}
    assert build._resend_fields(alimtalk(), "0212345678") == {"reSend": "N"}


@pytest.fixture
def foreign_tz(request, monkeypatch):
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("foreign_tz", ["UTC", "America/Los_Angeles"], indirect=True)
def test_dates_in_seoul_whatever_the_host_tz(foreign_tz) -> None:
    """KST wire dates with a fixed clock under a non-KST host TZ."""
    at = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    req = build._build_alimtalk_request(
        alimtalk(scheduled_at=at), base_url=AT, auth="x", params=[], sender=None
    )
    assert req.json["reserve"] == "Y" and req.json["sendDate"] == "2026-01-01 09:00:00"
    sms = build._build_sms_request([msg(scheduled_at=at)], base_url=SMS, secret="x", sender=None)
    assert sms.json["date"] == "2026-01-01 09:00:00"
    q = StatusQuery("m", "12345", "01012345678", MessageType.SMS, at - 10 * 3_600_000)
    hist = build._build_sms_history_request(q, base_url=SMS, secret="x", company_id="c", now_ms=at)
    assert (hist.json["startDate"], hist.json["endDate"]) == ("2025-12-31", "2026-01-01")


def test_sms_request_shape_and_numeric_request_no(deps, router: respx.MockRouter) -> None:
    route = router.post(f"{SMS}/api/v2/send/").respond(200, json=fixture("iwinv_sms_ok.json"))
    results = iwinv(deps).send([msg(mid="a"), msg(mid="b", to="01022223333")])
    req = route.calls[0].request
    assert (
        req.headers["secret"]
        == base64.b64encode(f"{KEY['sms_api_key']}&{KEY['sms_auth_key']}".encode()).decode()
    )
    assert json.loads(req.content) == {
        "version": "1.0",
        "from": "0212345678",
        "to": ["01012345678", "01022223333"],
        "text": "hello",
        "msgType": "SMS",
    }
    assert [r.provider_message_id for r in results] == ["12345", "12345"]


def test_lms_title(deps, router: respx.MockRouter) -> None:
    route = router.post(f"{SMS}/api/v2/send/").respond(200, json=fixture("iwinv_sms_ok.json"))
    iwinv(deps).send([msg(MessageType.LMS, text="x" * 200, subject="공지")])
    body = json.loads(route.calls[0].request.content)
    assert body["msgType"] == "LMS" and body["title"] == "공지"


def test_mms_is_multipart_with_image(deps, router: respx.MockRouter, tmp_path) -> None:
    image = tmp_path / "p.jpg"
    image.write_bytes(b"\xff\xd8\xffJPEGDATA")
    route = router.post(f"{SMS}/api/v2/send/").respond(200, json=fixture("iwinv_sms_ok.json"))
    iwinv(deps).send([msg(MessageType.MMS, image=str(image), subject="사진")])
    req = route.calls[0].request
    assert req.headers["Content-Type"].startswith("multipart/form-data")
    content = req.content
    assert b'name="image"; filename="p.jpg"' in content and b"JPEGDATA" in content
    assert b'name="msgType"' in content and b"MMS" in content


@pytest.mark.parametrize(
    ("body", "cls"),
    [
        ({"code": 201}, AuthError),
        ({"code": 501}, TemplateNotFound),
        (501, TemplateNotFound),
        ({"code": 404}, TemplateNotFound),
        ({"code": 505}, InvalidRequest),
        ({"code": 508}, InvalidRequest),
        ({"code": 519}, InsufficientBalance),
        ({"code": 518}, UnknownOutcome),
        ({"code": 599}, UnknownOutcome),
    ],
)
def test_alimtalk_vendor_codes(body, cls) -> None:
    with pytest.raises(cls) as info:
        build._parse_alimtalk_response(body, alimtalk(), "iwinv")
    assert info.value.http_status == 200  # the HTTP status is never the vendor code (NET-7)


def test_ip_not_registered_is_auth_with_hint(deps, router: respx.MockRouter) -> None:
    router.post(f"{SMS}/api/v2/send/").respond(200, json={"resultCode": 15, "message": "IP"})
    with pytest.raises(AuthError) as info:
        iwinv(deps).send([msg()])
    assert "IP" in (info.value.hint or "") and info.value.vendor_code == "15"
    with pytest.raises(AuthError) as at:
        build._parse_alimtalk_response(fixture("iwinv_alimtalk_ip.json"), alimtalk(), "iwinv")
    assert "IWINV console" in (at.value.hint or "") and at.value.vendor_code == "206"


def test_banned_word_not_echoed_pii19() -> None:
    with pytest.raises(InvalidRequest) as info:
        build._parse_alimtalk_response({"code": 540, "message": "금칙어: 대출"}, alimtalk(), "iw")
    assert "대출" not in str(info.value)


def test_sms_try_later_retried_but_not_in_service_not(deps, clock, router) -> None:
    """IWINV SMS 12 is an explicit "try later"; 11 is unavailable without retry."""
    route = router.post(f"{SMS}/api/v2/send/")
    route.side_effect = [
        httpx.Response(200, json={"resultCode": 12}),
        httpx.Response(200, json=fixture("iwinv_sms_ok.json")),
    ]
    assert iwinv(deps).send([msg()])[0].status is Status.PENDING
    assert route.call_count == 2 and len(clock.sleeps) == 1
    route.side_effect = [httpx.Response(200, json={"resultCode": 11})]
    with pytest.raises(Unavailable):
        iwinv(deps).send([msg()])
    assert route.call_count == 3


def test_body_429_is_rate_limited() -> None:
    with pytest.raises(RateLimited):
        build._parse_alimtalk_response({"code": 429}, alimtalk(), "iwinv")


def test_html_502_on_send_is_unknown_not_invalid_net7(deps, router: respx.MockRouter) -> None:
    route = router.post(f"{SMS}/api/v2/send/").respond(502, html="<html><h1>502 Bad Gateway</h1>")
    with pytest.raises(UnknownOutcome) as info:
        iwinv(deps).send([msg()])
    assert info.value.http_status == 502 and info.value.vendor_code is None
    assert route.call_count == 1


def test_alimtalk_status_by_seq_no(deps, router: respx.MockRouter) -> None:
    route = router.post(f"{AT}/api/history/").respond(
        200, json=fixture("iwinv_alimtalk_history.json")
    )
    q = StatusQuery("m1", "987654", "01012345678", MessageType.ALIMTALK, 1_767_225_600_000)
    (r,) = iwinv(deps).status([q])
    assert json.loads(route.calls[0].request.content)["seqNo"] == "987654"
    assert r.status is Status.DELIVERED and r.code == "OK"
    assert r.at == 1_767_225_604_000  # receiveDate 09:00:04 KST


def test_alimtalk_status_without_seq_no_trk7(deps, router: respx.MockRouter) -> None:
    """TRK-7: no seqNo came back -> look up by recipient + time window, closest requestDate."""
    route = router.post(f"{AT}/api/history/").respond(
        200, json=fixture("iwinv_alimtalk_history.json")
    )
    q = StatusQuery("m1", "", "01012345678", MessageType.ALIMTALK, 1_767_222_600_000)  # 08:10 KST
    (r,) = iwinv(deps).status([q])
    body = json.loads(route.calls[0].request.content)
    assert body["phone"] == "01012345678" and "seqNo" not in body
    # 08:10 less 16 minutes (any skew IWINV could have, it checks none) to "now" 09:00 plus 16
    assert (body["startDate"], body["endDate"]) == ("2026-01-01 07:54:00", "2026-01-01 09:16:00")
    assert r.status is Status.FAILED and r.code == "K105"
    assert "카카오" in (r.message or "") and "미사용" in (r.message or "")  # not-a-Kakao-user rule


def test_alimtalk_lookup_uses_iwinv_clock_once_a_response_showed_it(
    deps, router: respx.MockRouter
) -> None:
    """IWINV's clock 50 minutes behind ours (it refuses no skew): the window reaches back by the
    offset and the closest requestDate is the one closest to when IWINV's clock said we asked."""
    behind = {"Date": "Wed, 31 Dec 2025 23:10:00 GMT"}  # NOW_MS (09:00 KST) - 50 min
    router.post(f"{AT}/api/charge/").respond(200, json={"code": 200, "charge": 1}, headers=behind)
    route = router.post(f"{AT}/api/history/").respond(
        200, json=fixture("iwinv_alimtalk_history.json")
    )
    p = iwinv(deps)
    p.balance()
    assert p.clock_offset_ms == -50 * 60_000
    q = StatusQuery("m1", "", "01012345678", MessageType.ALIMTALK, 1_767_225_600_000)  # 09:00
    (r,) = p.status([q])
    body = json.loads(route.calls[0].request.content)
    assert (body["startDate"], body["endDate"]) == ("2026-01-01 07:54:00", "2026-01-01 09:16:00")
    assert r.code == "K105"  # requested 08:10 by IWINV's clock, not the 09:00:01 row


def test_sms_history_days_cover_a_skew_across_midnight() -> None:
    at = 1_767_194_400_000  # 2026-01-01 00:20 KST; sent at 00:10 by our clock
    q = StatusQuery("m", "12345", "01012345678", MessageType.SMS, at - 600_000)
    hist = build._build_sms_history_request(q, base_url=SMS, secret="x", company_id="c", now_ms=at)
    assert (hist.json["startDate"], hist.json["endDate"]) == ("2025-12-31", "2026-01-01")
    old = StatusQuery("m", "12345", "01012345678", MessageType.SMS, at - 200 * build.DAY_MS)
    hist = build._build_sms_history_request(
        old, base_url=SMS, secret="x", company_id="c", now_ms=at, offset_ms=3_600_000
    )
    assert (hist.json["startDate"], hist.json["endDate"]) == ("2025-06-15", "2025-09-12")  # 89 d


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"statusCode": "OK"}, Status.DELIVERED),
        ({"statusCodeName": "발송 성공"}, Status.DELIVERED),
        ({}, Status.PENDING),
        ({"statusCode": "E1", "sendDate": "2026-01-01 09:00:00"}, Status.FAILED),
        ({"statusCode": "E1"}, None),
    ],
)
def test_alimtalk_item_table(item, expected) -> None:
    assert codes.alimtalk_item_status(item, frozenset()) is expected


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"sendStatusCode": "06"}, Status.DELIVERED),
        ({"sendStatusCode": "1000"}, Status.DELIVERED),
        ({"sendStatusMsg": "전송 성공"}, Status.DELIVERED),
        ({"sendStatusCode": "00"}, Status.PENDING),
        ({"sendStatusMsg": "처리중"}, Status.PENDING),
        ({}, Status.PENDING),
        ({"sendStatusCode": "07"}, Status.FAILED),
    ],
)
def test_sms_item_table(item, expected) -> None:
    assert codes.sms_item_status(item, codes.SMS_PENDING) is expected


def test_sms_status_by_request_no_and_phone(deps, router: respx.MockRouter) -> None:
    route = router.post(f"{SMS}/api/history/").respond(200, json=fixture("iwinv_sms_history.json"))
    q1 = StatusQuery("a", "12345", "01012345678", MessageType.SMS, 1_767_225_600_000)
    q2 = StatusQuery("b", "12345", "01099998888", MessageType.SMS, 1_767_225_600_000)
    r1, r2 = iwinv(deps).status([q1, q2])
    assert json.loads(route.calls[0].request.content)["companyid"] == "org1"
    assert (r1.status, r2.status, r2.code) == (Status.DELIVERED, Status.FAILED, "07")


def test_balance_cancel(deps, router: respx.MockRouter) -> None:
    router.post(f"{AT}/api/charge/").respond(
        200, json={"code": 200, "message": "ok", "charge": 5000}
    )
    cancel = router.post(f"{AT}/api/cancel/").respond(200, json={"code": 200, "message": "ok"})
    p = iwinv(deps)
    assert p.balance().amount == 5000.0
    p.cancel("987654")
    assert json.loads(cancel.calls[0].request.content) == {"seqNo": "987654"}


def test_sms_only_balance(deps, router: respx.MockRouter) -> None:
    route = router.post(f"{SMS}/api/charge/").respond(200, json={"code": 0, "charge": 12})
    assert iwinv(deps, api_key=None).balance().amount == 12.0
    assert json.loads(route.calls[0].request.content) == {"version": "1.0"}


def test_preview_masks_headers(deps) -> None:
    docs = iwinv(deps).preview([alimtalk(), msg(mid="m2")])
    text = json.dumps(docs, ensure_ascii=False)
    assert docs[1]["headers"]["AUTH"] == "****" and docs[2]["headers"]["secret"] == "****"
    assert not any(s in text for s in all_secret_values())
