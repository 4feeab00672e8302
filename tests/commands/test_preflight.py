"""`kmsg providers doctor --alimtalk`: the preflight of one AlimTalk send, one line per check,
exit 0 only when every check passes (docs/providers.md#the-alimtalk-preflight)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import respx

from bench.fake_solapi import FakeSolapi
from tests.conftest import (
    ALIGO_KAKAO_URL,
    ALIGO_SMS_URL,
    FakeClock,
    Kmsg,
    solapi_server,
    write_aligo_config,
    write_solapi_config,
)

KEY, SECRET = "PREKEY0001", "PRESECRET0001"


SENDER = "0215885678"


def _config(home: Path, base_url: str, **config: Any) -> None:
    write_solapi_config(home, base_url, KEY, SECRET, sender=SENDER, **config)


@pytest.fixture
def solapi(clock: FakeClock, kmsg_home: Path) -> Iterator[FakeSolapi]:
    extra = "[prices]\nALIMTALK = 8\n"
    with solapi_server(kmsg_home, clock, KEY, SECRET, sender=SENDER, extra=extra) as server:
        server.add_template("ORDER", "#{name}님, 주문 #{no} 접수")
        server.add_template("NEW", "hello #{x}", status="INSPECTING")
        server.add_sender(SENDER)
        yield server


def checks(doc: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    body = doc.get("preflight") or doc["error"]["details"]["preflight"]
    return {c["check"]: c for c in body["checks"]}


def test_every_check_passes_and_says_what_it_saw(kmsg: Kmsg, solapi: FakeSolapi) -> None:
    result = kmsg(
        "providers", "doctor", "--alimtalk", "ORDER", "--count", "1000",
        "--var", "name=김철수", "--var", "no=42",
    )  # fmt: skip
    assert result.exit_code == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "AlimTalk ORDER via sol, 1000 recipient(s):"
    assert lines[1:] == [
        "  channel: ok, registered at SOLAPI as @kmsgtest",
        "  template: ok, 'ORDER' is approved",
        "  variables: ok, every one given: #{name}, #{no}",
        "  sender: ok, 0215885678 is registered and active",
        "  balance: ok, 100,000 KRW covers the estimated 1000 × 8 = 8,000 KRW",
    ]
    assert KEY not in result.stdout and "KA01PF1" not in result.stdout


def test_without_vars_it_lists_what_the_template_needs(kmsg: Kmsg, solapi: FakeSolapi) -> None:
    code, doc = kmsg.json("providers", "doctor", "--alimtalk", "ORDER")
    assert code == 0, doc
    assert checks(doc)["variables"]["detail"] == "needs #{name}, #{no}"


def test_each_failure_is_named_with_a_next_step_and_the_exit_code_of_the_first(
    kmsg: Kmsg, solapi: FakeSolapi
) -> None:
    result = kmsg(
        "providers", "doctor", "--alimtalk", "NEW", "--count", "20000", "--from", "01099998888",
    )  # fmt: skip
    assert result.exit_code == 65
    out = result.stdout
    assert "template: FAILED\n    reason: template 'NEW' is inspecting (INSPECTING)" in out
    assert "next: `kmsg templates request NEW` if it was never submitted" in out
    assert "sender: FAILED\n    reason: sender 01099998888 is not registered" in out
    assert "balance: FAILED\n    reason: the balance is 100,000 KRW, less than the estimated" in out
    assert "channel: ok" in out and "variables: ok, needs #{x}" in out


def test_a_missing_variable_and_an_unknown_one_fail(kmsg: Kmsg, solapi: FakeSolapi) -> None:
    code, doc = kmsg.json("providers", "doctor", "--alimtalk", "ORDER", "--var", "name=a")
    assert code == 65
    assert checks(doc)["variables"]["reason"].startswith("no value for #{no}")
    code, doc = kmsg.json(
        "providers", "doctor", "--alimtalk", "ORDER", "--var", "name=a", "--var", "no=1",
        "--var", "nmae=x",
    )  # fmt: skip
    assert code == 65 and "no variable 'nmae'" in checks(doc)["variables"]["reason"]


def test_an_unregistered_template_fails(kmsg: Kmsg, solapi: FakeSolapi) -> None:
    code, doc = kmsg.json("providers", "doctor", "--alimtalk", "NOPE")
    assert code == 65
    assert "not registered with provider 'sol'" in checks(doc)["template"]["reason"]


def test_a_channel_the_provider_does_not_know_fails_with_78(
    kmsg: Kmsg, solapi: FakeSolapi, kmsg_home: Path
) -> None:
    _config(kmsg_home, solapi.base_url, pf_id="KA01OTHER")
    code, doc = kmsg.json("providers", "doctor", "--alimtalk", "ORDER")
    assert code == 78
    failed = checks(doc)["channel"]
    assert "SOLAPI does not know kakao_pf_id" in failed["reason"]
    assert "KA01OTHER" not in str(doc)


def test_a_missing_channel_key_fails_the_preflight_and_warns_in_doctor(
    kmsg: Kmsg, solapi: FakeSolapi, kmsg_home: Path
) -> None:
    _config(kmsg_home, solapi.base_url, pf_id="")
    code, doc = kmsg.json("providers", "doctor", "--alimtalk", "ORDER")
    assert code == 78
    assert checks(doc)["channel"]["next"] == "add kakao_pf_id under [providers.sol]"
    code, doc = kmsg.json("providers", "doctor")
    assert code == 0
    (sol,) = doc["providers"]
    assert "no kakao_pf_id: no Kakao channel, AlimTalk cannot be sent" in sol["warnings"]


def test_the_mock_passes_with_its_seeded_template(kmsg: Kmsg) -> None:
    code, doc = kmsg.json("providers", "doctor", "--alimtalk", "MOCK_TPL_SEED", "--var", "name=a")
    assert code == 0, doc
    assert checks(doc)["channel"]["detail"] == "mock (mock) needs no Kakao channel key"


# ---- Aligo: the channel by its sender key, no sender list, a balance in messages ---------------

KAKAO = ALIGO_KAKAO_URL
SMS = ALIGO_SMS_URL


@pytest.fixture
def aligo(kmsg_home: Path) -> Iterator[respx.MockRouter]:
    write_aligo_config(kmsg_home, sender="0215885678")
    with respx.mock(assert_all_called=False) as router:
        item = {"templtCode": "T1", "templtName": "t", "templtContent": "hi", "inspStatus": "APR"}
        router.post(f"{KAKAO}/akv10/template/list/").respond(
            json={"code": 0, "message": "ok", "list": [item]}
        )
        router.post(f"{SMS}/remain/").respond(
            json={"result_code": 1, "message": "", "SMS_CNT": 500, "LMS_CNT": 100, "MMS_CNT": 50}
        )
        yield router


def test_aligo_channel_missing_from_its_profile_list_fails(
    kmsg: Kmsg, aligo: respx.MockRouter
) -> None:
    profiles = aligo.post(f"{KAKAO}/akv10/profile/list/").respond(
        json={"code": 0, "message": "ok", "list": []}
    )
    code, doc = kmsg.json("providers", "doctor", "--alimtalk", "T1")
    assert code == 78, doc
    assert "Aligo lists no channel for sender_key" in checks(doc)["channel"]["reason"]
    assert profiles.calls[0].request.content.decode().count("senderkey=ALSENDER") == 1
    found = checks(doc)
    assert found["sender"]["ok"] and "publishes no sender list" in found["sender"]["detail"]
    assert found["balance"]["detail"] == "500 messages left (not in KRW: the cost is not compared)"


def test_aligo_all_pass_with_a_registered_channel(kmsg: Kmsg, aligo: respx.MockRouter) -> None:
    aligo.post(f"{KAKAO}/akv10/profile/list/").respond(
        json={"code": 0, "message": "ok", "list": [{"senderKey": "ALSENDER", "uuid": "@shop"}]}
    )
    code, doc = kmsg.json("providers", "doctor", "--alimtalk", "T1")
    assert code == 0, doc
    assert checks(doc)["channel"]["detail"] == "registered at Aligo as @shop"


def test_the_example_sender_of_the_config_template_fails(
    kmsg: Kmsg, solapi: FakeSolapi, kmsg_home: Path
) -> None:
    text = (kmsg_home / "config.toml").read_text().replace("0215885678", "0212345678")
    (kmsg_home / "config.toml").write_text(text)
    code, doc = kmsg.json("providers", "doctor", "--alimtalk", "ORDER")
    assert code == 78
    assert checks(doc)["sender"]["reason"] == (
        "sender 0212345678 is the example number of the config template"
    )
