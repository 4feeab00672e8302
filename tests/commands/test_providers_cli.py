"""The CLI through the real SOLAPI adapter: respx for shapes and failures, and a fake SOLAPI
server on a real 127.0.0.1 socket end to end. Secrets must appear in no output at all."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import respx

from bench.fake_solapi import FakeSolapi
from tests.conftest import FakeClock, Kmsg

KEY, SECRET = "SOLKEY1234abcd", "SOLSECRETzyxw9876"
BASE = "https://solapi.test"


@pytest.fixture
def solapi_config(
    write_config: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], Path]:
    monkeypatch.setenv("SOLAPI_API_KEY", KEY)
    monkeypatch.setenv("SOLAPI_API_SECRET", SECRET)

    def make(base_url: str = BASE) -> Path:
        return write_config(
            f'[providers.sol]\ntype = "solapi"\napi_key = "env:SOLAPI_API_KEY"\n'
            f'api_secret = "env:SOLAPI_API_SECRET"\ndefault_from = "0212345678"\nbase_url = "{base_url}"\n'
        )

    return make


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        yield mock


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        assert KEY not in text and SECRET not in text


def db_rows(home: Path) -> list[tuple]:
    conn = sqlite3.connect(home / "kmsg.db")
    try:
        return conn.execute(
            "SELECT status, send_state, provider_message_id FROM kmsg_delivery_tracking"
        ).fetchall()
    finally:
        conn.close()


def test_doctor_403_exits_77_with_a_next_line(
    router: respx.MockRouter, kmsg: Kmsg, solapi_config: Callable[[str], Path]
) -> None:
    solapi_config()
    router.get(f"{BASE}/cash/v1/balance").respond(
        403, json={"errorCode": "SignatureDoesNotMatch", "errorMessage": "bad signature"}
    )
    result = kmsg("providers", "doctor")
    assert result.exit_code == 77
    assert "sol: NOT READY" in result.stdout and "next: " in result.stdout
    code, doc = kmsg.json("providers", "doctor")
    assert code == 77 and doc["providers"][0]["next"]
    assert_no_secrets(result.output, json.dumps(doc))


def test_doctor_and_balance_ok(
    router: respx.MockRouter, kmsg: Kmsg, solapi_config: Callable[[str], Path]
) -> None:
    solapi_config()
    router.get(f"{BASE}/cash/v1/balance").respond(200, json={"balance": 12345.0, "point": 0})
    assert kmsg("providers", "doctor").exit_code == 0
    code, doc = kmsg.json("providers", "balance")
    assert code == 0 and doc["providers"][0]["amount"] == 12345.0


def test_send_through_solapi_records_ids_and_leaks_nothing(
    router: respx.MockRouter, kmsg: Kmsg, solapi_config: Callable[[str], Path], kmsg_home: Path
) -> None:
    solapi_config()
    route = router.post(f"{BASE}/messages/v4/send-many/detail").mock(
        side_effect=lambda request: httpx.Response(
            200,
            json={
                "groupInfo": {"groupId": "G4V1"},
                "failedMessageList": [],
                "messageList": [
                    {"messageId": "M4V1", "statusCode": "2000", "customFields": m["customFields"]}
                    for m in json.loads(request.content)["messages"]
                ],
            },
        )
    )
    code, doc = kmsg.json("send", "--to", "01012345678", "--text", "가" * 46)
    assert code == 0, doc
    sent = json.loads(route.calls[0].request.content)["messages"][0]
    assert (sent["type"], sent["to"], sent["from"]) == ("LMS", "01012345678", "0212345678")
    assert db_rows(kmsg_home) == [("PENDING", "accepted", "M4V1")]
    assert_no_secrets(json.dumps(doc))


def test_read_timeout_on_send_is_an_unknown_outcome_after_one_request(
    router: respx.MockRouter, kmsg: Kmsg, solapi_config: Callable[[str], Path], kmsg_home: Path
) -> None:
    solapi_config()
    route = router.post(f"{BASE}/messages/v4/send-many/detail").mock(
        side_effect=httpx.ReadTimeout("slow")
    )
    result = kmsg("send", "--to", "01012345678", "--text", "hi")
    assert result.exit_code == 75
    assert route.call_count == 1
    assert db_rows(kmsg_home) == [("PENDING", "unknown", "")]
    assert "UNKNOWN OUTCOME" in result.stdout


def test_dry_run_shows_the_request_with_secrets_masked(
    kmsg: Kmsg, solapi_config: Callable[[str], Path], kmsg_home: Path
) -> None:
    solapi_config()
    result = kmsg("send", "--to", "01012345678", "--text", "hi", "--dry-run")
    assert result.exit_code == 0
    assert "/messages/v4/send-many/detail" in result.stdout and "****" in result.stdout
    code, doc = kmsg.json("send", "--to", "01012345678", "--text", "hi", "--dry-run")
    assert code == 0 and doc["requests"]
    assert_no_secrets(result.output, json.dumps(doc))
    assert not (kmsg_home / "kmsg.db").exists() or db_rows(kmsg_home) == []


@pytest.fixture
def fake_solapi(clock: FakeClock) -> Iterator[FakeSolapi]:
    # on kmsg's clock: the fake refuses signatures dated more than 15 minutes from its own
    with FakeSolapi(KEY, SECRET, now_ms=clock.now_ms) as fake:
        yield fake


def test_cli_end_to_end_against_a_fake_solapi_server(
    kmsg: Kmsg, solapi_config: Callable[[str], Path], fake_solapi: FakeSolapi, kmsg_home: Path
) -> None:
    solapi_config(fake_solapi.base_url)
    code, doc = kmsg.json("send", "--to", "01012345678,01022223333", "--text", "hello")
    assert code == 0 and doc["accepted"] == 2
    rows = db_rows(kmsg_home)
    assert {r[1] for r in rows} == {"accepted"} and all(r[2].startswith("M4VFAKE") for r in rows)
    assert sorted(fake_solapi.received_ids().values()) == [1, 1]  # each row arrived exactly once
