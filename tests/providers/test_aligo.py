"""Aligo adapter: form fields, send vs send_mass, Kakao code/info.mid, test mode, MMS, status."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs

import pytest
import respx

from kmsg_cli.core.models import MessageType, Status, StatusQuery
from kmsg_cli.errors import AuthError, InsufficientBalance, InvalidRequest, UnknownOutcome
from kmsg_cli.providers.aligo import build

from .conftest import NATIVE, SECRETS, aligo, alimtalk, all_secret_values, fixture, msg

SMS = "https://apis.aligo.in"
KAKAO = "https://kakaoapi.aligo.in"
KEY = SECRETS["aligo"]


def _form(request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def test_single_sms_form(deps, router: respx.MockRouter) -> None:
    route = router.post(f"{SMS}/send/").respond(200, json=fixture("aligo_sms_ok.json"))
    (r,) = aligo(deps).send([msg()])
    req = route.calls[0].request
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert _form(req) == {
        "key": KEY["api_key"],
        "user_id": KEY["user_id"],
        "sender": "0212345678",
        "msg_type": "SMS",
        "receiver": "01012345678",
        "msg": "hello",
    }
    assert (r.status, r.provider_message_id, r.group_id) == (
        Status.PENDING,
        "123456789",
        "sms:123456789",
    )


def test_test_mode_only_when_configured_cfg9(deps, router: respx.MockRouter) -> None:
    """CFG-9: testmode_yn is never sent unless test_mode is true."""
    route = router.post(f"{SMS}/send/").respond(200, json=fixture("aligo_sms_ok.json"))
    aligo(deps).send([msg()])
    aligo(deps, test_mode=True).send([msg()])
    assert "testmode_yn" not in _form(route.calls[0].request)
    assert _form(route.calls[1].request)["testmode_yn"] == "Y"


def test_batch_uses_send_mass_and_integer_result_code(deps, router: respx.MockRouter) -> None:
    route = router.post(f"{SMS}/send_mass/").respond(200, json=fixture("aligo_sms_ok_int.json"))
    lms = [
        msg(MessageType.LMS, mid="a", text="가" * 60, subject="공지"),
        msg(MessageType.LMS, mid="b", to="01022223333", text="나" * 60, subject="공지"),
    ]
    results = aligo(deps).send(lms)
    form = _form(route.calls[0].request)
    assert form["msg_type"] == "LMS" and form["title"] == "공지" and form["cnt"] == "2"
    assert (form["rec_1"], form["rec_2"]) == ("01012345678", "01022223333")
    assert form["msg_2"] == "나" * 60
    assert [r.provider_message_id for r in results] == ["123456790", "123456790"]


@pytest.mark.parametrize("tz", ["UTC", "America/Los_Angeles"])
def test_schedule_fields_in_seoul(tz, monkeypatch) -> None:
    monkeypatch.setenv("TZ", tz)
    time.tzset()
    try:
        at = 1_767_225_600_000  # 2026-01-01 09:00 KST
        sms = build._build_sms_request(
            [msg(scheduled_at=at)],
            base_url=SMS,
            creds=build.SmsCreds("k", "u"),
            sender="02",
            test_mode=False,
        )
        assert (sms.data or {})["rdate"] == "20260101" and (sms.data or {})["rtime"] == "0900"
        kakao = build._build_alimtalk_request(
            [alimtalk(scheduled_at=at)],
            base_url=KAKAO,
            creds=build.KakaoCreds("k", "u", "s"),
            sender="02",
            test_mode=False,
        )
        assert (kakao.data or {})["senddate"] == "20260101090000"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_alimtalk_rendered_text_and_info_mid(deps, router: respx.MockRouter) -> None:
    route = router.post(f"{KAKAO}/akv10/alimtalk/send/").respond(
        200, json=fixture("aligo_kakao_ok.json")
    )
    (r,) = aligo(deps).send([alimtalk()])
    form = _form(route.calls[0].request)
    assert form["apikey"] == KEY["api_key"] and form["userid"] == KEY["user_id"]
    assert form["senderkey"] == KEY["sender_key"] and form["tpl_code"] == "TPL1"
    assert form["message_1"] == "홍길동님 인증번호 1234" and form["receiver_1"] == "01012345678"
    assert form["failover"] == "N" and "testMode" not in form and "token" not in form
    assert (r.status, r.provider_message_id, r.group_id) == (
        Status.PENDING,
        "445566",
        "kakao:445566",
    )


def test_alimtalk_native_failover_fields_fo13() -> None:
    req = build._build_alimtalk_request(
        [alimtalk(**NATIVE)],
        base_url=KAKAO,
        creds=build.KakaoCreds("k", "u", "s", "tok"),
        sender="02",
        test_mode=True,
    )
    data = req.data or {}
    assert data["failover"] == "Y" and data["fmessage_1"] == "대체 문자"
    assert data["fsubject_1"] == "제목" and data["token"] == "tok" and data["testMode"] == "Y"


@pytest.mark.parametrize(
    ("body", "cls"),
    [
        ("aligo_kakao_auth.json", AuthError),
        ("aligo_kakao_balance.json", InsufficientBalance),
        ({"code": -99, "message": "수신자 정보가 없습니다"}, InvalidRequest),
        ({"code": -101, "message": "x"}, AuthError),
        ({"code": 77}, UnknownOutcome),
        ({"result_code": "1", "msg_id": "1"}, UnknownOutcome),
    ],
)
def test_kakao_codes(body, cls) -> None:
    """A Kakao success is code 0 — a result_code body is not success."""
    doc = fixture(body) if isinstance(body, str) else body
    with pytest.raises(cls):
        build._parse_alimtalk_response(doc, [alimtalk()], "aligo")


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (-101, AuthError),
        ("-100", AuthError),
        (-102, InsufficientBalance),
        (-201, InsufficientBalance),
        (-103, InvalidRequest),
        (-999, InvalidRequest),
        (None, UnknownOutcome),
    ],
)
def test_sms_codes(code, cls) -> None:
    with pytest.raises(cls):
        build._parse_sms_response({"result_code": code, "message": "x"}, [msg()], "aligo")


def test_mms_multipart_with_file_part(deps, router: respx.MockRouter, tmp_path) -> None:
    image = tmp_path / "pic.jpg"
    image.write_bytes(b"\xff\xd8IMAGEBYTES")
    route = router.post(f"{SMS}/send/").respond(200, json=fixture("aligo_sms_ok.json"))
    aligo(deps).send([msg(MessageType.MMS, image=str(image), subject="사진")])
    req = route.calls[0].request
    assert req.headers["Content-Type"].startswith("multipart/form-data")
    assert b'name="image"; filename="pic.jpg"' in req.content and b"IMAGEBYTES" in req.content
    assert b'name="msg_type"\r\n\r\nMMS' in req.content


def test_status_keeps_raw_code_unrecognized(deps, router: respx.MockRouter) -> None:
    """No verified vocabulary -> status None (keep polling), raw rslt kept
    (docs/providers.md#aligo-delivery-status)."""
    route = router.post(f"{KAKAO}/akv10/history/detail/").respond(
        200, json=fixture("aligo_kakao_history.json")
    )
    q = StatusQuery("m1", "445566", "01012345678", MessageType.ALIMTALK, 1_767_225_600_000)
    (r,) = aligo(deps).status([q])
    assert _form(route.calls[0].request)["mid"] == "445566"
    assert r.status is None and r.code == "0" and r.at == 1_767_225_603_000


def test_sms_status_and_remain_and_cancel(deps, router: respx.MockRouter) -> None:
    router.post(f"{SMS}/sms_list/").respond(200, json={"result_code": 1, "list": []})
    router.post(f"{SMS}/remain/").respond(200, json=fixture("aligo_remain.json"))
    sms_cancel = router.post(f"{SMS}/cancel/").respond(200, json={"result_code": 1})
    kakao_cancel = router.post(f"{KAKAO}/akv10/cancel/").respond(200, json={"code": 0})
    p = aligo(deps)
    q = StatusQuery("m1", "123", "01012345678", MessageType.SMS, 1_767_225_600_000)
    assert p.status([q])[0].status is None
    bal = p.balance()
    assert (bal.amount, bal.unit, bal.detail["LMS_CNT"]) == (2412.0, "messages", 820)
    p.cancel("sms:123")
    p.cancel("kakao:456")
    assert _form(sms_cancel.calls[0].request)["mid"] == "123"
    assert _form(kakao_cancel.calls[0].request)["mid"] == "456"


def test_preview_masks_form_secrets(deps) -> None:
    docs = aligo(deps).preview([alimtalk(), msg(mid="m2")])
    text = json.dumps(docs, ensure_ascii=False)
    assert docs[0]["body"]["apikey"] == "****" and docs[1]["body"]["key"] == "****"
    assert not any(s in text for s in all_secret_values())


def test_alimtalk_without_text_is_never_sent_with_an_empty_body(deps, router) -> None:
    """Issue 13: a message that reached Aligo without its rendered template text (a reroute from
    another provider) is refused per row; nothing goes out with an empty ``message_N``."""
    route = router.post(f"{KAKAO}/akv10/alimtalk/send/").respond(
        json={"code": 0, "message": "ok", "info": {"mid": "1"}}
    )
    (r,) = aligo(deps).send([msg(MessageType.ALIMTALK, text="", template_id="TPL1")])
    assert r.status is Status.FAILED and r.error_class == "invalid"
    assert "template text" in (r.error or "") and not route.called
