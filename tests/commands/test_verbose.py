"""-v and -vv against the fake SOLAPI server: the config file, the route, each HTTP call and each
retry decision on stderr, secrets and recipients masked; silent without -v, --json included."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

from bench.fake_solapi import FakeSolapi
from kmsg_cli.providers.http import Req, Transport
from tests.conftest import FakeClock, Kmsg, solapi_server

KEY, SECRET = "VERBOSEKEY01", "VERBOSESECRET01"
TO = "01012345678"
SEND = ("send", "--to", TO, "--text", "안녕하세요")


@pytest.fixture
def fake(clock: FakeClock, kmsg_home: Path) -> Iterator[FakeSolapi]:
    with solapi_server(kmsg_home, clock, KEY, SECRET, pf_id=None) as server:
        yield server


def no_secrets(text: str) -> None:
    assert KEY not in text and SECRET not in text
    assert TO not in text and "010-1234-5678" not in text
    assert "signature=" not in text


def test_v_shows_config_route_and_each_call(kmsg: Kmsg, fake: FakeSolapi, kmsg_home: Path) -> None:
    result = kmsg("-v", *SEND, "--json")
    assert result.exit_code == 0, result.stderr
    err = result.stderr
    assert f"config: {kmsg_home / 'config.toml'}" in err
    assert "route: 010-****-5678 SMS via sol (" in err
    assert re.search(
        r"http: sol POST /messages/v4/send-many/detail -> 200 in \d+ ms \(request id -\)", err
    )
    assert "http: request" not in err  # bodies only with -vv
    no_secrets(err)


def test_vv_adds_bodies_masked(kmsg: Kmsg, fake: FakeSolapi) -> None:
    result = kmsg(*SEND, "-vv")
    assert result.exit_code == 0, result.stderr
    err = result.stderr
    request = next(line for line in err.splitlines() if line.startswith("http: request"))
    assert '"Authorization": "****"' in request and "****5678" in request
    assert "안녕하세요" in request
    assert any(line.startswith("http: response") for line in err.splitlines())
    no_secrets(err)


def test_retry_decisions_are_shown(kmsg: Kmsg, fake: FakeSolapi, clock: FakeClock) -> None:
    fake.fail_next("503", "500")
    result = kmsg("-v", *SEND)
    assert result.exit_code == 75  # the 500 on a send: may have been accepted
    err = result.stderr
    assert re.search(
        r"retry: sol POST /messages/v4/send-many/detail: unavailable .*retry 2/3 in", err
    )
    assert "unknown_outcome" in err and "not retried: it may have been accepted" in err
    assert len(clock.slept) == 1  # slept on the injected clock once, between the two


@pytest.mark.parametrize("json_mode", [True, False])
def test_silent_without_v(kmsg: Kmsg, fake: FakeSolapi, json_mode: bool) -> None:
    result = kmsg(*SEND, *(["--json"] if json_mode else []))
    assert result.exit_code == 0
    assert "http:" not in result.stderr and "config:" not in result.stderr
    if json_mode:
        assert result.stderr == ""


@respx.mock
def test_the_provider_request_id_is_shown(caplog: pytest.LogCaptureFixture) -> None:
    respx.post("https://api.example/send").mock(
        return_value=httpx.Response(200, json={"ok": True}, headers={"X-Request-Id": "req-42"})
    )
    transport = Transport("p", lambda: httpx.Client(), FakeClock())
    with caplog.at_level("INFO", logger="kmsg.http"):
        transport.call(Req("POST", "https://api.example/send"), send=True, parse=lambda r: r)
    assert re.search(r"http: p POST /send -> 200 in \d+ ms \(request id req-42\)", caplog.text)


def test_v_shows_a_campaigns_routes(kmsg: Kmsg, fake: FakeSolapi, tmp_path: Path) -> None:
    data = tmp_path / "c.csv"
    data.write_text("phone\n01011112222\n01011113333\n", encoding="utf-8")
    result = kmsg("-v", "send-bulk", str(data), "--text", "hi", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "route: rows to send: 2 via sol" in result.stderr
    assert result.stderr.count("http: sol POST /messages/v4/send-many/detail -> 200") == 1
    no_secrets(result.stderr)
    assert "01011112222" not in result.stderr
