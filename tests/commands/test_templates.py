"""`kmsg templates` and `kmsg senders` on the wire of every provider, the cache `sync` fills, and
sends checked offline against it (docs/providers.md#templates-and-senders)."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

from bench.fake_solapi import FakeSolapi
from kmsg_cli.store.migrations import MIGRATIONS
from tests.conftest import (
    ALIGO_KAKAO_URL,
    FakeClock,
    Kmsg,
    aligo_form,
    solapi_server,
    write_aligo_config,
)

KEY, SECRET = "TPLKEY0001", "TPLSECRET0001"
TO = "01012345678"


def journaled(home: Path) -> int:
    if not (home / "kmsg.db").exists():
        return 0
    conn = sqlite3.connect(home / "kmsg.db")
    try:
        return int(conn.execute("SELECT count(*) FROM kmsg_delivery_tracking").fetchone()[0])
    finally:
        conn.close()


# ---- the mock ---------------------------------------------------------------------------------


def test_mock_lists_and_shows_its_seeded_template(kmsg: Kmsg) -> None:
    code, doc = kmsg.json("templates", "list")
    assert code == 0
    (seed,) = doc["templates"]
    assert seed["provider"] == "mock" and seed["code"] == "MOCK_TPL_SEED"
    assert seed["status"] == "approved" and seed["variables"] == ["name"]
    shown = kmsg("templates", "show", "MOCK_TPL_SEED")
    assert shown.exit_code == 0 and "Hello #{name}" in shown.stdout
    missing = kmsg("templates", "show", "NOPE")
    assert missing.exit_code == 65 and "no template 'NOPE'" in missing.stderr


def test_mock_alimtalk_on_another_template_is_refused_before_it_is_journaled(
    kmsg: Kmsg, kmsg_home: Path
) -> None:
    result = kmsg("send", "--to", TO, "--template-id", "T", "--var", "name=Kim")
    assert result.exit_code == 65
    assert "template 'T' is not registered with provider 'mock'" in result.stderr
    assert journaled(kmsg_home) == 0


def test_senders_of_a_provider_that_cannot_list_them_is_a_config_error(kmsg: Kmsg) -> None:
    result = kmsg("senders", "list", "--provider", "mock")
    assert result.exit_code == 78 and "cannot list its sender numbers" in result.stderr


def test_unknown_status_filter_is_refused(kmsg: Kmsg) -> None:
    result = kmsg("templates", "list", "--status", "ok")
    assert result.exit_code == 65 and "unknown status 'ok'" in result.stderr


# ---- SOLAPI, on the fake server -----------------------------------------------------------------


@pytest.fixture
def solapi(clock: FakeClock, kmsg_home: Path) -> Iterator[FakeSolapi]:
    with solapi_server(kmsg_home, clock, KEY, SECRET) as server:
        yield server


def test_solapi_templates_list_follows_next_key_across_pages(
    kmsg: Kmsg, solapi: FakeSolapi
) -> None:
    for i in range(150):  # more than one page of 100
        solapi.add_template(f"T{i:03d}", f"#{{name}}님 {i}")
    solapi.add_template("WAIT", "#{name}님 #{code}", status="INSPECTING")
    code, doc = kmsg.json("templates", "list")
    assert code == 0, doc
    assert len(doc["templates"]) == 151
    wait = doc["templates"][-1]
    assert wait["code"] == "WAIT" and wait["status"] == "inspecting"
    assert wait["raw_status"] == "INSPECTING" and wait["variables"] == ["name", "code"]
    code, doc = kmsg.json("templates", "list", "--status", "inspecting")
    assert [t["code"] for t in doc["templates"]] == ["WAIT"]
    tsv = kmsg("templates", "list", "--status", "inspecting", "--format", "tsv")
    assert tsv.stdout == "sol\tWAIT\tWAIT\tinspecting\tname code\n"


def test_solapi_senders_list_shows_each_number_and_whether_it_may_send(
    kmsg: Kmsg, solapi: FakeSolapi
) -> None:
    solapi.add_sender("0212345678")
    solapi.add_sender("0311234567", status="PENDING")
    code, doc = kmsg.json("senders", "list")
    assert code == 0, doc
    assert doc["senders"] == [
        {"provider": "sol", "number": "0212345678", "active": True, "status": "ACTIVE"},
        {"provider": "sol", "number": "0311234567", "active": False, "status": "PENDING"},
    ]


def test_sync_caches_templates_and_senders_and_sends_check_offline_from_the_cache(
    kmsg: Kmsg, solapi: FakeSolapi, kmsg_home: Path
) -> None:
    solapi.add_template("OK1", "#{name}님, 주문이 접수되었습니다")
    solapi.add_template("WAIT", "#{name}님", status="INSPECTING")
    solapi.add_sender("0212345678")
    code, doc = kmsg.json("templates", "sync")
    assert code == 0, doc
    assert doc["synced"] == [{"provider": "sol", "templates": 2, "approved": 1, "senders": 1}]
    solapi.templates.clear()  # the provider forgets them: only the cache can answer now
    before = solapi.requests
    code, doc = kmsg.json("send", "--to", TO, "--template-id", "OK1", "--var", "name=Kim")
    assert code == 0, doc
    assert solapi.requests == before + 1  # the send alone: no template lookup
    refused = kmsg("send", "--to", TO, "--template-id", "WAIT", "--var", "name=Kim")
    assert refused.exit_code == 65
    assert "template 'WAIT' on 'sol' is inspecting (INSPECTING), not approved" in refused.stderr
    assert journaled(kmsg_home) == 1
    code, doc = kmsg.json("templates", "list", "--cached")
    assert [t["code"] for t in doc["templates"]] == ["OK1", "WAIT"]
    code, doc = kmsg.json("senders", "list", "--cached")
    assert [s["number"] for s in doc["senders"]] == ["0212345678"]
    # a second sync replaces the cache: a template deleted at the provider goes
    kmsg("templates", "sync")
    code, doc = kmsg.json("templates", "list", "--cached")
    assert doc["templates"] == []


def test_solapi_send_without_a_cache_looks_the_template_up_once(
    kmsg: Kmsg, solapi: FakeSolapi
) -> None:
    solapi.add_template("OK1", "#{name}님, 주문이 접수되었습니다")
    code, doc = kmsg.json(
        "send", "--to", f"{TO},01012345679", "--template-id", "OK1", "--var", "name=Kim"
    )
    assert code == 0, doc
    assert solapi.requests == 2  # one template lookup for both recipients, one send
    assert [m["text"] for m in solapi.stored()] == [None, None]  # SOLAPI renders it itself


# ---- IWINV, with respx --------------------------------------------------------------------------

AT = "https://at.example.test"


@pytest.fixture
def iwinv(kmsg_home: Path) -> Iterator[respx.MockRouter]:
    (kmsg_home / "config.toml").write_text(
        f'[providers.iw]\ntype = "iwinv"\napi_key = "IWKEY"\nbase_url = "{AT}"\n'
        'sender_number = "0212345678"\n'
    )
    (kmsg_home / "config.toml").chmod(0o600)
    with respx.mock(assert_all_called=False) as router:
        yield router


def _iwinv_item(code: str, status: str = "Y") -> dict[str, object]:
    return {
        "templateCode": code,
        "templateName": f"name {code}",
        "templateContent": "#{name}님 #{code} 안내",
        "templateStatus": status,
        "buttons": [{"type": "WL", "name": "보기", "linkMo": "https://x.kr/#{idx}"}],
    }


def test_iwinv_templates_list_pages_with_string_numbers(
    kmsg: Kmsg, iwinv: respx.MockRouter
) -> None:
    first = {"code": 200, "list": [_iwinv_item(f"T{i}") for i in range(1000)]}
    second = {"code": 200, "list": [_iwinv_item("LAST", "R")]}
    route = iwinv.post(f"{AT}/api/template/").mock(
        side_effect=[httpx.Response(200, json=first), httpx.Response(200, json=second)]
    )
    code, doc = kmsg.json("templates", "list")
    assert code == 0, doc
    bodies = [json.loads(call.request.content) for call in route.calls]
    assert bodies == [
        {"pageNum": "1", "pageSize": "1000"},
        {"pageNum": "2", "pageSize": "1000"},
    ]
    assert route.calls[0].request.headers["AUTH"] == "SVdLRVk="  # base64("IWKEY")
    last = doc["templates"][-1]
    assert len(doc["templates"]) == 1001
    assert last["code"] == "LAST" and last["status"] == "rejected"
    assert last["variables"] == ["name", "code", "idx"]  # body, then button links
    assert last["buttons"][0]["link_mo"] == "https://x.kr/#{idx}"


def test_iwinv_templates_show_asks_for_one_code(kmsg: Kmsg, iwinv: respx.MockRouter) -> None:
    route = iwinv.post(f"{AT}/api/template/").respond(
        json={"code": 200, "list": [_iwinv_item("TPL9", "I")]}
    )
    code, doc = kmsg.json("templates", "show", "TPL9")
    assert code == 0, doc
    assert json.loads(route.calls[0].request.content)["templateCode"] == "TPL9"
    assert doc["templates"][0]["status"] == "inspecting"


def test_iwinv_error_code_on_the_template_list_is_reported(
    kmsg: Kmsg, iwinv: respx.MockRouter
) -> None:
    iwinv.post(f"{AT}/api/template/").respond(json={"code": 206, "message": "IP"})
    result = kmsg("templates", "list")
    assert result.exit_code == 77 and "register" in result.stderr


# ---- Aligo, with respx --------------------------------------------------------------------------

KAKAO = ALIGO_KAKAO_URL
# the approved text as Aligo holds it: CRLF, a blank line, a spaced placeholder, a trailing space
TEMPLATE = "[배송 안내]\r\n#{name}님, 주문하신 상품이 출발했습니다.\r\n\r\n운송장: #{ invoice } \n감사합니다."


@pytest.fixture
def aligo(kmsg_home: Path) -> Iterator[respx.MockRouter]:
    write_aligo_config(kmsg_home, sender_field="sender")
    with respx.mock(assert_all_called=False) as router:
        yield router


def _aligo_list(router: respx.MockRouter) -> respx.Route:
    item = {
        "templtCode": "SHIP1",
        "templtName": "배송",
        "templtContent": TEMPLATE,
        "inspStatus": "APR",
        "status": "A",
        "buttons": [{"name": "조회", "linkType": "WL", "linkMo": "https://x.kr"}],
    }
    return router.post(f"{KAKAO}/akv10/template/list/").respond(
        json={"code": 0, "message": "ok", "list": [item]}
    )


def test_aligo_templates_list_sends_the_kakao_credentials(
    kmsg: Kmsg, aligo: respx.MockRouter
) -> None:
    route = _aligo_list(aligo)
    code, doc = kmsg.json("templates", "list")
    assert code == 0, doc
    form = aligo_form(route.calls[0].request)
    assert form == {"apikey": "ALKEY", "userid": "aluser", "senderkey": "ALSENDER"}
    (t,) = doc["templates"]
    assert t["body"] == TEMPLATE and t["variables"] == ["name", "invoice"]
    assert t["status"] == "approved" and t["buttons"][0]["type"] == "WL"
    assert "ALKEY" not in json.dumps(doc)


def test_aligo_templates_error_code_is_reported(kmsg: Kmsg, aligo: respx.MockRouter) -> None:
    aligo.post(f"{KAKAO}/akv10/template/list/").respond(
        json={"code": -99, "message": "인증오류입니다."}
    )
    assert kmsg("templates", "list").exit_code == 77


def test_aligo_alimtalk_campaign_renders_each_message_from_the_template_byte_for_byte(
    kmsg: Kmsg, aligo: respx.MockRouter, tmp_path: Path
) -> None:
    lookup = _aligo_list(aligo)
    send = aligo.post(f"{KAKAO}/akv10/alimtalk/send/").respond(
        json={"code": 0, "message": "ok", "info": {"type": "AT", "mid": "777"}}
    )
    rows = [("김철수", "01020000011", "A1"), ("이영희", "01020000021", "B22\n2")]
    data = tmp_path / "ship.csv"
    data.write_text(
        "name,phone,invoice\n" + "".join(f'{n},{p},"{i}"\n' for n, p, i in rows), encoding="utf-8"
    )
    result = kmsg("send-bulk", str(data), "--template-id", "SHIP1", "--yes")
    assert result.exit_code == 0, result.output
    assert lookup.call_count == 1  # once for the campaign, not once a row
    (call,) = send.calls
    form = aligo_form(call.request)
    for n, (name, number, invoice) in enumerate(rows, start=1):
        expected = re.sub(r"#\{\s*invoice\s*\}", invoice, TEMPLATE.replace("#{name}", name))
        assert form[f"receiver_{n}"] == number
        assert form[f"message_{n}"].encode("utf-8") == expected.encode("utf-8")
    assert "\r\n\r\n" in form["message_1"] and form["tpl_code"] == "SHIP1"


def test_aligo_campaign_row_missing_a_variable_is_invalid_and_nothing_is_sent(
    kmsg: Kmsg, aligo: respx.MockRouter, tmp_path: Path, kmsg_home: Path
) -> None:
    _aligo_list(aligo)
    send = aligo.post(f"{KAKAO}/akv10/alimtalk/send/").respond(json={"code": 0, "info": {}})
    data = tmp_path / "ship.csv"
    data.write_text("name,phone\n김철수,01020000011\n", encoding="utf-8")
    code, doc = kmsg.json("send-bulk", str(data), "--template-id", "SHIP1", "--dry-run")
    assert code == 65, doc
    assert "needs #{invoice}" in json.dumps(doc, ensure_ascii=False)
    code, doc = kmsg.json("send-bulk", str(data), "--template-id", "SHIP1", "--yes")
    assert code == 1 and doc["invalid"] == 1, doc
    assert not send.called and journaled(kmsg_home) == 0


# ---- the migration ------------------------------------------------------------------------------


def test_migration_006_is_portable_sql() -> None:
    """Another backend runs the same migration: TEXT and BIGINT columns, nothing SQLite-only."""
    sql = dict(MIGRATIONS)["006_templates_senders"]
    types = set(re.findall(r'^\s*"\w+" (\w+)', sql, flags=re.MULTILINE))
    assert types == {"TEXT", "BIGINT"}
    for word in ("INTEGER", "AUTOINCREMENT", "WITHOUT ROWID", "JSON_", "OR IGNORE", "STRICT"):
        assert word not in sql.upper()


# ---- senders checked against the cached registered list -----------------------------------------

OWN = "0311234567"  # the configured default sender in these tests


@pytest.fixture
def solapi_own(clock: FakeClock, kmsg_home: Path) -> Iterator[FakeSolapi]:
    with solapi_server(kmsg_home, clock, KEY, SECRET, sender=OWN) as server:
        yield server


def test_senders_unknown_until_synced_check_nothing(kmsg: Kmsg, solapi_own: FakeSolapi) -> None:
    code, doc = kmsg.json("send", "--to", TO, "--text", "hi", "--from", "0317776666")
    assert code == 0, doc


def test_from_and_the_default_sender_are_checked_against_the_synced_list(
    kmsg: Kmsg, solapi_own: FakeSolapi, kmsg_home: Path
) -> None:
    solapi_own.add_sender(OWN)
    solapi_own.add_sender("0319998888", status="PENDING")
    assert kmsg("templates", "sync").exit_code == 0
    code, doc = kmsg.json("send", "--to", TO, "--text", "hi")  # the default sender: registered
    assert code == 0, doc
    unknown = kmsg("send", "--to", TO, "--text", "hi", "--from", "031-777-6666")
    assert unknown.exit_code == 65
    assert "sender 0317776666 is not registered with provider 'sol'" in unknown.stderr
    assert "발신번호 사전등록" in unknown.stderr and "kmsg templates sync" in unknown.stderr
    pending = kmsg("send", "--to", TO, "--text", "hi", "--from", "0319998888")
    assert pending.exit_code == 65 and "is PENDING at provider 'sol', not active" in pending.stderr
    assert journaled(kmsg_home) == 1
    # the provider's registration changes; after the next sync the default sender is refused
    solapi_own.senders.clear()
    solapi_own.add_sender("0319998888")
    kmsg("templates", "sync")
    refused = kmsg("send", "--to", TO, "--text", "hi")
    assert refused.exit_code == 65 and f"sender {OWN} is not registered" in refused.stderr
    assert journaled(kmsg_home) == 1
    # a campaign checks its sender the same way, every row, before anything is journaled
    rows = kmsg_home / "rows.csv"
    rows.write_text(f"phone,name\n{TO},김\n", encoding="utf-8")
    bulk = kmsg("send-bulk", str(rows), "--text", "{name}님", "--yes")
    assert bulk.exit_code == 1 and f"sender {OWN} is not registered" in bulk.stderr, bulk.output
    assert journaled(kmsg_home) == 1


def test_doctor_warns_about_an_unregistered_sender_and_unapproved_templates(
    kmsg: Kmsg, solapi_own: FakeSolapi
) -> None:
    solapi_own.add_sender("0319998888")
    solapi_own.add_template("OK1", "#{name}")
    solapi_own.add_template("WAIT", "#{name}", status="INSPECTING")
    solapi_own.add_template("NO", "#{name}", status="REJECTED")
    code, doc = kmsg.json("providers", "doctor")
    assert code == 0 and doc["providers"][0]["warnings"] == []  # nothing synced: nothing known
    kmsg("templates", "sync")
    code, doc = kmsg.json("providers", "doctor")
    assert code == 0, doc
    assert doc["providers"][0]["warnings"] == [
        f"default sender {OWN} is not registered with provider 'sol' (as of `kmsg templates sync`)",
        "template NO is rejected (REJECTED): not sendable",
        "template WAIT is inspecting (INSPECTING): not sendable",
    ]


def test_doctor_warns_about_the_placeholder_sender(kmsg: Kmsg, solapi: FakeSolapi) -> None:
    code, doc = kmsg.json("providers", "doctor")
    assert code == 0, doc
    (warning,) = doc["providers"][0]["warnings"]
    assert "default sender 0212345678 is the example number of the config template" in warning
