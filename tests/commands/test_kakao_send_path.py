"""Issue 13's send-path bugs, on the wire: the fallback text SOLAPI's native failover cannot carry,
and the Aligo AlimTalk body (docs/providers.md#native-failover-switches,
docs/providers.md#aligo-sending)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import respx

from bench.fake_solapi import FakeSolapi
from tests.conftest import (
    ALIGO_KAKAO_URL,
    FakeClock,
    Kmsg,
    aligo_form,
    solapi_server,
    write_aligo_config,
)

KEY, SECRET = "KAKAOKEY0001", "KAKAOSECRET0001"
TO = "01012345678"


def failover_modes(home: Path) -> list[tuple[str, str | None]]:
    conn = sqlite3.connect(home / "kmsg.db")
    try:
        return conn.execute('SELECT "type", "failover_mode" FROM kmsg_delivery_tracking').fetchall()
    finally:
        conn.close()


# ---- SOLAPI: --fallback-text ----------------------------------------------------------------


@pytest.fixture
def fake(clock: FakeClock, kmsg_home: Path) -> Iterator[FakeSolapi]:
    with solapi_server(kmsg_home, clock, KEY, SECRET) as server:
        server.add_template("TPL1", "#{name}님, 주문이 접수되었습니다")
        yield server


ALIMTALK = ("send", "--to", TO, "--template-id", "TPL1", "--var", "name=김철수", "--failover")


def test_solapi_fallback_text_other_than_the_alimtalk_text_fails_over_through_the_api(
    kmsg: Kmsg, fake: FakeSolapi, kmsg_home: Path
) -> None:
    """SOLAPI's native failover would resend the AlimTalk's own text, not --fallback-text: so the
    AlimTalk goes with disableSms=true and kmsg sends the fallback itself (API failover)."""
    code, doc = kmsg.json(*ALIMTALK, "--fallback-text", "#{name}님, 주문 접수 (문자)")
    assert code == 0, doc
    (stored,) = fake.stored()
    assert stored["type"] == "ATA" and stored["text"] is None
    assert stored["kakaoOptions"] == {
        "pfId": "KA01PF1",
        "templateId": "TPL1",
        "variables": {"#{name}": "김철수"},
        "disableSms": True,
    }
    assert failover_modes(kmsg_home) == [("ALIMTALK", "api")]


def test_solapi_fallback_text_equal_to_the_alimtalk_text_fails_over_natively(
    kmsg: Kmsg, fake: FakeSolapi, kmsg_home: Path
) -> None:
    """When the fallback is the rendered AlimTalk text itself, SOLAPI's own resend is exactly it;
    the AlimTalk text is known from the registered template, with or without --text."""
    text = "#{name}님, 주문이 접수되었습니다"
    code, doc = kmsg.json(*ALIMTALK, "--text", text, "--fallback-text", text)
    assert code == 0, doc
    other = tuple("01012345679" if a == TO else a for a in ALIMTALK)
    code, doc = kmsg.json(*other, "--fallback-text", text)
    assert code == 0, doc
    assert [s["kakaoOptions"]["disableSms"] for s in fake.stored()] == [False, False]
    assert failover_modes(kmsg_home) == [("ALIMTALK", "native")] * 2


@pytest.mark.parametrize(
    "extra",
    [
        ("--fallback-subject", "안내"),  # SOLAPI's resend of the AlimTalk has no subject of ours
        ("--fallback-channel", "lms"),  # nor a channel of ours
    ],
)
def test_solapi_fallback_with_its_own_subject_or_channel_fails_over_through_the_api(
    kmsg: Kmsg, fake: FakeSolapi, kmsg_home: Path, extra: tuple[str, str]
) -> None:
    text = "#{name}님, 주문이 접수되었습니다"
    code, doc = kmsg.json(*ALIMTALK, "--text", text, "--fallback-text", text, *extra)
    assert code == 0, doc
    assert fake.stored()[0]["kakaoOptions"]["disableSms"] is True
    assert failover_modes(kmsg_home) == [("ALIMTALK", "api")]


# ---- Aligo: the AlimTalk body ---------------------------------------------------------------

KAKAO = ALIGO_KAKAO_URL


@pytest.fixture
def aligo(kmsg_home: Path) -> Iterator[respx.MockRouter]:
    write_aligo_config(kmsg_home, sender_field="sender")
    with respx.mock(assert_all_called=False) as router:
        yield router


# the approved text exactly as Aligo holds it, CRLF line breaks and a spaced placeholder included
TEMPLATE = (
    "[주문 접수]\r\n#{name}님, 주문이 접수되었습니다.\r\n\r\n주문번호: #{ order }\n감사합니다."
)
RENDERED = "[주문 접수]\r\n김철수님, 주문이 접수되었습니다.\r\n\r\n주문번호: 100\n감사합니다."
VARS = ("--var", "name=김철수", "--var", "order=100")


def _template_list(router: respx.MockRouter, status: str = "APR") -> respx.Route:
    item = {"templtCode": "TPL1", "templtName": "주문", "templtContent": TEMPLATE}
    return router.post(f"{KAKAO}/akv10/template/list/").respond(
        json={"code": 0, "message": "ok", "list": [item | {"inspStatus": status, "status": "A"}]}
    )


def _send_route(router: respx.MockRouter) -> respx.Route:
    return router.post(f"{KAKAO}/akv10/alimtalk/send/").respond(
        json={"code": 0, "message": "ok", "info": {"type": "AT", "mid": "4455"}}
    )


def test_aligo_alimtalk_message_is_the_registered_template_rendered_byte_for_byte(
    kmsg: Kmsg, aligo: respx.MockRouter
) -> None:
    """No --text: kmsg fetches the template and renders it, line breaks as Aligo holds them."""
    lookup, route = _template_list(aligo), _send_route(aligo)
    result = kmsg(
        "send", "--to", TO, "--template-id", "TPL1", *VARS,
        "--failover", "--fallback-text", "#{name}님 주문 #{order} 접수",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert aligo_form(lookup.calls[0].request)["tpl_code"] == "TPL1"
    form = aligo_form(route.calls[0].request)
    assert form["message_1"].encode() == RENDERED.encode()
    assert form["tpl_code"] == "TPL1" and form["receiver_1"] == TO
    assert form["failover"] == "Y" and form["fmessage_1"] == "김철수님 주문 100 접수"


def test_aligo_alimtalk_text_other_than_the_template_is_refused(
    kmsg: Kmsg, aligo: respx.MockRouter, kmsg_home: Path
) -> None:
    _template_list(aligo)
    route = _send_route(aligo)
    result = kmsg("send", "--to", TO, "--template-id", "TPL1", "--text", "#{name}님", *VARS)
    assert result.exit_code == 65, result.output
    assert "differs from the registered template 'TPL1'" in result.stderr
    assert not route.called
    assert not (kmsg_home / "kmsg.db").exists() or failover_modes(kmsg_home) == []


def test_aligo_alimtalk_missing_or_unknown_variable_is_refused_naming_it(
    kmsg: Kmsg, aligo: respx.MockRouter, kmsg_home: Path
) -> None:
    _template_list(aligo)
    route = _send_route(aligo)
    missing = kmsg("send", "--to", TO, "--template-id", "TPL1", "--var", "name=김철수")
    assert missing.exit_code == 65 and "needs #{order}" in missing.stderr
    unknown = kmsg("send", "--to", TO, "--template-id", "TPL1", *VARS, "--var", "ordr=1")
    assert unknown.exit_code == 65 and "has no variable 'ordr'" in unknown.stderr
    assert "its variables: name, order" in unknown.stderr
    assert not route.called
    assert not (kmsg_home / "kmsg.db").exists() or failover_modes(kmsg_home) == []


def test_aligo_alimtalk_on_a_template_in_inspection_is_refused_with_its_status(
    kmsg: Kmsg, aligo: respx.MockRouter, kmsg_home: Path
) -> None:
    _template_list(aligo, status="REQ")
    route = _send_route(aligo)
    result = kmsg("send", "--to", TO, "--template-id", "TPL1", *VARS)
    assert result.exit_code == 65
    assert "is inspecting (REQ), not approved" in result.stderr
    assert not route.called
    assert not (kmsg_home / "kmsg.db").exists() or failover_modes(kmsg_home) == []


def test_aligo_alimtalk_on_an_unregistered_template_is_refused(
    kmsg: Kmsg, aligo: respx.MockRouter
) -> None:
    aligo.post(f"{KAKAO}/akv10/template/list/").respond(json={"code": 0, "list": []})
    route = _send_route(aligo)
    result = kmsg("send", "--to", TO, "--template-id", "NOPE", *VARS)
    assert result.exit_code == 65
    assert "template 'NOPE' is not registered with provider 'al'" in result.stderr
    assert not route.called


def test_dry_run_shows_the_rendered_body(kmsg: Kmsg, aligo: respx.MockRouter) -> None:
    _template_list(aligo)
    route = _send_route(aligo)
    code, doc = kmsg.json("send", "--to", TO, "--template-id", "TPL1", *VARS, "--dry-run")
    assert code == 0, doc
    assert doc["messages"][0]["text"] == RENDERED
    assert doc["requests"][0]["body"]["message_1"] == RENDERED
    assert not route.called
