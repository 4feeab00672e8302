"""`kmsg templates create|update|delete|request` on each provider's wire: SOLAPI on the fake
server, IWINV and Aligo with respx (docs/providers.md#template-administration)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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

KEY, SECRET = "ADMKEY0001", "ADMSECRET0001"
TOML = """name = "가입 환영"
body = \"\"\"#{name}님, 가입을 환영합니다.
쿠폰: #{coupon}\"\"\"
category = "004001"

[[buttons]]
name = "쿠폰 보기"
type = "WL"
link_mo = "https://x.kr/c/#{coupon}"
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "welcome.toml"
    path.write_text(TOML, encoding="utf-8")
    return path


@pytest.fixture
def solapi(clock: FakeClock, kmsg_home: Path) -> Iterator[FakeSolapi]:
    with solapi_server(kmsg_home, clock, KEY, SECRET) as server:
        yield server


# ---- SOLAPI ---------------------------------------------------------------------------------


def test_solapi_create_then_request_inspection_then_it_lists_as_inspecting(
    kmsg: Kmsg, solapi: FakeSolapi, spec: Path
) -> None:
    code, doc = kmsg.json("templates", "create", "--file", str(spec))
    assert code == 0, doc
    made = doc["code"]
    assert doc["status"] == "registered" and made.startswith("KA01TP")
    (row,) = solapi.templates
    assert row["channelId"] == "KA01PF1" and row["categoryCode"] == "004001"
    assert row["content"] == "#{name}님, 가입을 환영합니다.\n쿠폰: #{coupon}"
    assert row["buttons"] == [
        {"buttonName": "쿠폰 보기", "buttonType": "WL", "linkMo": "https://x.kr/c/#{coupon}"}
    ]
    code, doc = kmsg.json("templates", "request", made)
    assert code == 0 and doc["status"] == "inspecting", doc
    code, doc = kmsg.json("templates", "show", made)
    assert doc["templates"][0]["variables"] == ["name", "coupon"]
    # SOLAPI changes nothing in inspection: the refusal is reported with the provider's reason
    result = kmsg("templates", "update", made, "--file", str(spec))
    assert result.exit_code == 65 and "InvalidStatus" in result.stderr


def test_solapi_update_and_delete_a_pending_template(
    kmsg: Kmsg, solapi: FakeSolapi, spec: Path
) -> None:
    solapi.add_template("KA01TPOLD", "old #{x}", status="REJECTED")
    code, doc = kmsg.json("templates", "update", "KA01TPOLD", "--file", str(spec))
    assert code == 0 and doc["status"] == "registered", doc
    assert solapi.templates[0]["name"] == "가입 환영"
    result = kmsg("templates", "delete", "KA01TPOLD")
    assert result.exit_code == 0 and "template KA01TPOLD deleted" in result.stdout
    assert solapi.templates == []


def test_solapi_dry_run_prints_each_request_and_sends_nothing(
    kmsg: Kmsg, solapi: FakeSolapi, spec: Path
) -> None:
    before = solapi.requests
    code, doc = kmsg.json("templates", "create", "--file", str(spec), "--dry-run")
    assert code == 0, doc
    req = doc["request"]
    assert (req["method"], req["url"]) == ("POST", f"{solapi.base_url}/kakao/v2/templates")
    assert req["headers"]["Authorization"] == "****"
    assert req["body"]["name"] == "가입 환영" and req["body"]["channelId"] != "KA01PF1"  # masked
    wanted = {
        "update": ("PUT", "/kakao/v2/templates/T1"),
        "delete": ("DELETE", "/kakao/v2/templates/T1"),
        "request": ("PUT", "/kakao/v2/templates/T1/inspection"),
    }
    for op, (method, path) in wanted.items():
        extra = ("--file", str(spec)) if op == "update" else ()
        code, doc = kmsg.json("templates", op, "T1", *extra, "--dry-run")
        assert code == 0, doc
        assert (doc["request"]["method"], doc["request"]["url"]) == (
            method,
            solapi.base_url + path,
        )
    text = kmsg("templates", "delete", "T1", "--dry-run")
    assert "dry run: nothing sent to sol" in text.stdout and KEY not in text.stdout
    assert solapi.requests == before and solapi.templates == []


def test_a_synced_cache_follows_a_delete(kmsg: Kmsg, solapi: FakeSolapi) -> None:
    solapi.add_template("KA01TPGONE", "bye #{x}", status="PENDING")
    assert kmsg("templates", "sync").exit_code == 0
    assert kmsg("templates", "delete", "KA01TPGONE").exit_code == 0
    code, doc = kmsg.json("templates", "list", "--cached")
    assert code == 0 and doc["templates"] == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\n', "body is required"),
        ('name = "x"\nbody = "b"\ncolour = "red"\n', "unknown key 'colour'"),
        ('name = "x"\nbody = "b"\n[[buttons]]\nname = "go"\n', "button 1 needs a name and a type"),
        ("name = ", "not valid TOML"),
    ],
)
def test_a_bad_template_file_is_refused_naming_the_problem(
    kmsg: Kmsg, solapi: FakeSolapi, tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "t.toml"
    path.write_text(text)
    result = kmsg("templates", "create", "--file", str(path))
    assert result.exit_code == 65 and message in result.stderr, result.stderr
    assert solapi.requests == 0


def test_a_missing_template_file_is_exit_66(kmsg: Kmsg, solapi: FakeSolapi) -> None:
    result = kmsg("templates", "create", "--file", "/nonexistent/t.json")
    assert result.exit_code == 66


def test_providers_list_says_which_template_changes_each_can_make(
    kmsg: Kmsg, solapi: FakeSolapi
) -> None:
    code, doc = kmsg.json("providers", "list")
    assert code == 0
    assert doc["providers"][0]["template_admin"] == ["create", "delete", "request", "update"]


def test_the_mock_cannot_change_templates(kmsg: Kmsg) -> None:
    result = kmsg("templates", "delete", "MOCK_TPL_SEED")
    assert result.exit_code == 78 and "no configured provider can delete templates" in result.stderr


# ---- IWINV ----------------------------------------------------------------------------------

AT = "https://at.example.test"


@pytest.fixture
def iwinv(kmsg_home: Path) -> Iterator[respx.MockRouter]:
    (kmsg_home / "config.toml").write_text(
        f'[providers.iw]\ntype = "iwinv"\napi_key = "IWKEY"\nbase_url = "{AT}"\n'
        'default_from = "0212345678"\n'
    )
    (kmsg_home / "config.toml").chmod(0o600)
    with respx.mock(assert_all_called=False) as router:
        yield router


def test_iwinv_create_update_delete_on_its_template_endpoints(
    kmsg: Kmsg, iwinv: respx.MockRouter, tmp_path: Path
) -> None:
    path = tmp_path / "t.json"
    spec = {
        "name": "배송",
        "body": "#{name}님 출발",
        "buttons": [
            {"name": "조회", "type": "WL", "link_mo": "https://x.kr", "link_pc": "https://x.kr"}
        ],
    }
    path.write_text(json.dumps(spec, ensure_ascii=False))
    add = iwinv.post(f"{AT}/api/template/add/").respond(
        json={"code": 200, "message": "ok", "templateCode": "IW0001"}
    )
    modify = iwinv.post(f"{AT}/api/template/modify/").respond(json={"code": 200, "message": "ok"})
    remove = iwinv.post(f"{AT}/api/template/delete/").respond(json={"code": 200, "message": "ok"})
    code, doc = kmsg.json("templates", "create", "--file", str(path))
    assert code == 0 and doc["code"] == "IW0001", doc
    button = {"type": "WL", "name": "조회", "linkMo": "https://x.kr", "linkPc": "https://x.kr"}
    sent = json.loads(add.calls[0].request.content)
    assert sent == {
        "templateName": "배송",
        "templateContent": "#{name}님 출발",
        "buttons": [button],
    }
    assert add.calls[0].request.headers["AUTH"] == "SVdLRVk="
    assert kmsg("templates", "update", "IW0001", "--file", str(path)).exit_code == 0
    assert json.loads(modify.calls[0].request.content)["templateCode"] == "IW0001"
    assert kmsg("templates", "delete", "IW0001").exit_code == 0
    assert json.loads(remove.calls[0].request.content) == {"templateCode": "IW0001"}


def test_iwinv_dry_run_masks_the_auth_header(
    kmsg: Kmsg, iwinv: respx.MockRouter, spec: Path
) -> None:
    code, doc = kmsg.json("templates", "update", "IW0001", "--file", str(spec), "--dry-run")
    assert code == 0, doc
    req = doc["request"]
    assert req["url"] == f"{AT}/api/template/modify/" and req["headers"]["AUTH"] == "****"
    assert req["body"]["templateCode"] == "IW0001" and req["body"]["templateName"] == "가입 환영"
    assert "SVdLRVk=" not in json.dumps(doc) and not iwinv.calls


def test_iwinv_has_no_inspection_call(kmsg: Kmsg, iwinv: respx.MockRouter) -> None:
    result = kmsg("templates", "request", "IW0001", "--provider", "iw")
    assert result.exit_code == 78
    assert "cannot request a template's inspection" in result.stderr
    assert not iwinv.calls


def test_iwinv_refusal_code_is_reported(kmsg: Kmsg, iwinv: respx.MockRouter) -> None:
    iwinv.post(f"{AT}/api/template/delete/").respond(json={"code": 404, "message": "no template"})
    result = kmsg("templates", "delete", "NOPE")
    assert result.exit_code == 65 and "no template" in result.stderr


# ---- Aligo ----------------------------------------------------------------------------------

KAKAO = ALIGO_KAKAO_URL


@pytest.fixture
def aligo(kmsg_home: Path) -> Iterator[respx.MockRouter]:
    write_aligo_config(kmsg_home)
    with respx.mock(assert_all_called=False) as router:
        yield router


def test_aligo_create_update_delete_request_on_its_form_endpoints(
    kmsg: Kmsg, aligo: respx.MockRouter, spec: Path
) -> None:
    ok = {"code": 0, "message": "성공"}
    add = aligo.post(f"{KAKAO}/akv10/template/add/").respond(
        json=ok | {"data": {"templtCode": "TG_0001", "inspStatus": "REG"}}
    )
    modify = aligo.post(f"{KAKAO}/akv10/template/modify/").respond(json=ok)
    remove = aligo.post(f"{KAKAO}/akv10/template/del/").respond(json=ok)
    inspect = aligo.post(f"{KAKAO}/akv10/template/request/").respond(json=ok)
    code, doc = kmsg.json("templates", "create", "--file", str(spec))
    assert code == 0 and doc["code"] == "TG_0001" and doc["status"] == "registered", doc
    form = aligo_form(add.calls[0].request)
    assert (form["apikey"], form["userid"], form["senderkey"]) == ("ALKEY", "aluser", "ALSENDER")
    assert form["tpl_name"] == "가입 환영"
    assert form["tpl_content"] == "#{name}님, 가입을 환영합니다.\n쿠폰: #{coupon}"
    assert json.loads(form["tpl_button"]) == {
        "button": [{"name": "쿠폰 보기", "linkType": "WL", "linkMo": "https://x.kr/c/#{coupon}"}]
    }
    assert kmsg("templates", "update", "TG_0001", "--file", str(spec)).exit_code == 0
    assert aligo_form(modify.calls[0].request)["tpl_code"] == "TG_0001"
    assert kmsg("templates", "request", "TG_0001").exit_code == 0
    assert aligo_form(inspect.calls[0].request)["tpl_code"] == "TG_0001"
    assert kmsg("templates", "delete", "TG_0001").exit_code == 0
    assert aligo_form(remove.calls[0].request)["tpl_code"] == "TG_0001"


def test_aligo_dry_run_masks_the_credentials(kmsg: Kmsg, aligo: respx.MockRouter) -> None:
    code, doc = kmsg.json("templates", "request", "TG_0001", "--dry-run")
    assert code == 0, doc
    body = doc["request"]["body"]
    assert body["tpl_code"] == "TG_0001" and "ALKEY" not in json.dumps(doc)
    assert not aligo.calls


def test_aligo_refusal_is_reported(kmsg: Kmsg, aligo: respx.MockRouter) -> None:
    aligo.post(f"{KAKAO}/akv10/template/del/").respond(
        json={"code": 509, "message": "수정/삭제할 수 없는 템플릿"}
    )
    result = kmsg("templates", "delete", "TG_0001")
    assert result.exit_code == 65 and "삭제할 수 없는" in result.stderr, result.stderr


def test_a_failed_cache_refresh_after_a_change_warns_and_still_reports_the_change(
    kmsg: Kmsg, solapi: FakeSolapi, kmsg_home: Path
) -> None:
    solapi.add_template("KA01TPX", "x #{x}", status="PENDING")
    assert kmsg("templates", "sync").exit_code == 0
    original = solapi.handle

    def refuse_lists(method: str, target: str, authorization: str, body: bytes) -> Any:
        if method == "GET" and target.startswith("/kakao/v2/templates"):
            return 403, {"errorCode": "InvalidAPIKey", "errorMessage": "no"}
        return original(method, target, authorization, body)

    solapi.handle = refuse_lists  # type: ignore[method-assign]
    result = kmsg("templates", "delete", "KA01TPX")
    assert result.exit_code == 0, result.stderr
    assert "template KA01TPX deleted" in result.stdout
    assert "the template cache was not refreshed" in result.stderr
    assert solapi.templates == []


def test_a_lost_answer_to_a_create_is_an_unknown_outcome_never_retried(
    kmsg: Kmsg, solapi: FakeSolapi, spec: Path
) -> None:
    original = solapi.handle
    calls: list[str] = []

    def lose_creates(method: str, target: str, authorization: str, body: bytes) -> Any:
        if method == "POST" and target.startswith("/kakao/v2/templates"):
            calls.append(target)
            original(method, target, authorization, body)  # made, but the answer is a 500
            return 500, {"errorCode": "InternalError", "errorMessage": "oops"}
        return original(method, target, authorization, body)

    solapi.handle = lose_creates  # type: ignore[method-assign]
    result = kmsg("templates", "create", "--file", str(spec))
    assert result.exit_code == 75, result.stderr
    assert "see `kmsg templates list` before running this again" in result.stderr
    assert len(calls) == 1 and len(solapi.templates) == 1
