"""`--fallback-text` takes effect on every path (issue 13 item 4): alone, without `--failover`, it
asks for the fallback; each provider carries it natively or kmsg fails over through the API; and
SOLAPI's own replacement SMS is tracked and shown (docs/providers.md#native-failover-switches)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import respx

from bench.fake_solapi import FakeSolapi
from tests.conftest import FakeClock, Kmsg, solapi_server

KEY, SECRET = "FBKEY0001", "FBSECRET0001"
TO = "01012345678"
BODY = "#{name}님, 주문이 접수되었습니다"


def modes(home: Path) -> list[tuple[str, str | None]]:
    conn = sqlite3.connect(home / "kmsg.db")
    try:
        return conn.execute('SELECT "type", "failover_mode" FROM kmsg_delivery_tracking').fetchall()
    finally:
        conn.close()


@pytest.fixture
def solapi(clock: FakeClock, kmsg_home: Path) -> Iterator[FakeSolapi]:
    with solapi_server(kmsg_home, clock, KEY, SECRET) as server:
        server.add_template("TPL1", BODY)
        yield server


SEND = ("send", "--to", TO, "--template-id", "TPL1", "--var", "name=김철수")


def test_fallback_text_alone_asks_for_the_fallback(
    kmsg: Kmsg, solapi: FakeSolapi, kmsg_home: Path
) -> None:
    """Before, without --failover the text was dropped and the AlimTalk went with no fallback."""
    code, doc = kmsg.json(*SEND, "--fallback-text", "#{name}님 주문 접수 (문자)")
    assert code == 0, doc
    (stored,) = solapi.stored()
    assert stored["kakaoOptions"]["disableSms"] is True
    assert modes(kmsg_home) == [("ALIMTALK", "api")]


def test_fallback_text_on_a_plain_sms_is_refused(kmsg: Kmsg, solapi: FakeSolapi) -> None:
    result = kmsg("send", "--to", TO, "--text", "hi", "--fallback-text", "x")
    assert result.exit_code == 65 and "applies to ALIMTALK only" in result.stderr
    assert solapi.stored() == []


def test_send_bulk_fallback_text_alone_asks_for_the_fallback(
    kmsg: Kmsg, solapi: FakeSolapi, kmsg_home: Path, tmp_path: Path
) -> None:
    csv = tmp_path / "r.csv"
    csv.write_text(f"to,name\n{TO},김철수\n")
    result = kmsg(
        "send-bulk", str(csv), "--template-id", "TPL1", "--fallback-text", "{name}님 (문자)",
        "--yes",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert modes(kmsg_home) == [("ALIMTALK", "api")]


def test_solapi_replacement_sms_is_tracked_and_shown(
    kmsg: Kmsg, solapi: FakeSolapi, kmsg_home: Path
) -> None:
    """Native failover (the fallback is the AlimTalk text): SOLAPI sends the SMS itself, and the
    message's status says so instead of passing for a delivered AlimTalk."""
    text = "김철수님, 주문이 접수되었습니다"
    code, doc = kmsg.json(*SEND, "--fallback-text", text)
    assert code == 0 and modes(kmsg_home) == [("ALIMTALK", "native")], doc
    solapi.kakao_fails(TO)
    kmsg.clock.advance(31)
    assert kmsg("track", "--once").exit_code == 0
    code, status = kmsg.json("status", doc["messages"][0]["message_id"])
    assert code == 0, status
    shown = json.dumps(status, ensure_ascii=False)
    assert "SOLAPI sent the replacement SMS/LMS" in shown
    human = kmsg("status", doc["messages"][0]["message_id"])
    assert "SOLAPI sent the replacement SMS/LMS" in human.stdout


# ---- IWINV and Aligo carry the fallback text natively ------------------------------------------


def _iwinv_config(home: Path, at: str) -> None:
    (home / "config.toml").write_text(
        f'[providers.iw]\ntype = "iwinv"\napi_key = "IWKEY"\nbase_url = "{at}"\n'
        'default_from = "0212345678"\n'
    )
    (home / "config.toml").chmod(0o600)


def test_iwinv_replacement_sms_result_is_tracked_and_shown(kmsg: Kmsg, kmsg_home: Path) -> None:
    """IWINV reports its own resend (resendStatus/resendStatusName) on the AlimTalk's history row:
    `kmsg status` shows it, and kmsg sends no fallback of its own (one path per message)."""
    at = "https://at.example.test"
    _iwinv_config(kmsg_home, at)
    item = {"templateCode": "T1", "templateName": "t", "templateContent": BODY}
    row = {
        "seqNo": 7,
        "phone": TO,
        "statusCode": "K105",
        "statusCodeName": "카카오톡 미사용자",
        "sendDate": "2026-01-01 09:00:03",
        "resendStatus": "Y",
        "resendStatusName": "SMS 발송 성공",
    }
    with respx.mock(assert_all_called=False) as router:
        router.post(f"{at}/api/template/").respond(
            json={"code": 200, "list": [item | {"templateStatus": "Y"}]}
        )
        send = router.post(f"{at}/api/v2/send/").respond(
            json={"code": 200, "message": "ok", "success": 1, "fail": 0, "seqNo": 7}
        )
        router.post(f"{at}/api/history/").respond(json={"code": 200, "list": [row]})
        code, doc = kmsg.json(
            "send", "--to", TO, "--template-id", "T1", "--var", "name=김", "--fallback-text", "문자 안내"
        )  # fmt: skip
        assert code == 0, doc
        kmsg.clock.advance(31)
        tracked = kmsg("track", "--once")
        assert "0 failed over" in tracked.stdout, tracked.stdout
        shown = kmsg("status", doc["messages"][0]["message_id"])
    assert "카카오톡 미사용자 (resend: SMS 발송 성공)" in shown.stdout
    assert len(send.calls) == 1


def test_iwinv_fallback_text_alone_goes_as_resend_content(kmsg: Kmsg, kmsg_home: Path) -> None:
    at = "https://at.example.test"
    _iwinv_config(kmsg_home, at)
    item = {"templateCode": "T1", "templateName": "t", "templateContent": BODY}
    with respx.mock(assert_all_called=False) as router:
        router.post(f"{at}/api/template/").respond(
            json={"code": 200, "list": [item | {"templateStatus": "Y"}]}
        )
        send = router.post(f"{at}/api/v2/send/").respond(
            json={"code": 200, "message": "ok", "success": 1, "fail": 0, "seqNo": 7}
        )
        code, doc = kmsg.json(
            "send", "--to", TO, "--template-id", "T1", "--var", "name=김", "--fallback-text", "문자 안내"
        )  # fmt: skip
    assert code == 0, doc
    body = json.loads(send.calls[0].request.content)
    assert (body["reSend"], body["resendType"], body["resendContent"]) == ("Y", "N", "문자 안내")
    assert modes(kmsg_home) == [("ALIMTALK", "native")]


def test_aligo_fallback_text_alone_goes_as_fmessage(kmsg: Kmsg, kmsg_home: Path) -> None:
    kakao = "https://kakao.example.test"
    (kmsg_home / "config.toml").write_text(
        '[providers.al]\ntype = "aligo"\napi_key = "ALKEY"\nuser_id = "aluser"\n'
        'sender_key = "ALSENDER"\ndefault_from = "0212345678"\n'
        f'base_url = "https://sms.example.test"\nkakao_base_url = "{kakao}"\n'
    )
    (kmsg_home / "config.toml").chmod(0o600)
    item = {"templtCode": "T1", "templtName": "t", "templtContent": BODY, "inspStatus": "APR"}
    with respx.mock(assert_all_called=False) as router:
        router.post(f"{kakao}/akv10/template/list/").respond(
            json={"code": 0, "message": "ok", "list": [item]}
        )
        send = router.post(f"{kakao}/akv10/alimtalk/send/").respond(
            json={"code": 0, "message": "ok", "info": {"type": "AT", "mid": 99}}
        )
        code, doc = kmsg.json(
            "send", "--to", TO, "--template-id", "T1", "--var", "name=김", "--fallback-text", "문자 안내"
        )  # fmt: skip
    assert code == 0, doc
    form = {k: v[0] for k, v in parse_qs(send.calls[0].request.content.decode()).items()}
    assert (form["failover"], form["fmessage_1"]) == ("Y", "문자 안내")
    assert modes(kmsg_home) == [("ALIMTALK", "native")]
