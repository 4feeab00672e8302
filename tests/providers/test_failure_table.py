"""ONE failure table run against every provider's send and status
(docs/providers.md#transport-rules).

NET-3/NET-4: a read timeout, 500 or unreadable 2xx on a send is UnknownOutcome after exactly ONE
request; NET-6: Retry-After in seconds and as an HTTP-date; NET-7: HTTP status and vendor code stay
apart; NET-8: a partly failed batch is per-row results; PII-19: no secret or full number in errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx

from kmsg_cli.core.models import Message, MessageType, Status, StatusQuery
from kmsg_cli.core.templates import Template
from kmsg_cli.errors import AuthError, ProviderError, RateLimited, Unavailable, UnknownOutcome
from kmsg_cli.providers.registry import Deps

from .conftest import (
    NOW_MS,
    SECRETS,
    aligo,
    alimtalk,
    all_secret_values,
    fixture,
    iwinv,
    msg,
    solapi,
)

PHONE = "01012345678"
IW_AT, IW_SMS = "https://alimtalk.bizservice.iwinv.kr", "https://sms.bizservice.iwinv.kr"
AL_SMS, AL_KAKAO = "https://apis.aligo.in", "https://kakaoapi.aligo.in"


def _template(code: str) -> Template:
    return Template(code, "t", "approved", "#{name}: #{code}")


def _iwinv_alimtalk(deps: Deps) -> Any:
    p = iwinv(deps)
    p._templates["TPL1"] = _template("TPL1")  # the template fetch is covered in test_iwinv
    return p


@dataclass
class Case:
    make: Callable[[Deps], Any]
    send: tuple[str, str]
    status: tuple[str, str]
    message: Message
    query: StatusQuery
    ok: Any
    row_error: Any  # a second call's answer that rejects only its own rows


def _q(type_: MessageType, pmid: str) -> StatusQuery:
    return StatusQuery("m1", pmid, PHONE, type_, NOW_MS)


CASES = {
    "solapi": Case(
        solapi,
        ("POST", "https://api.solapi.com/messages/v4/send-many/detail"),
        ("GET", "https://api.solapi.com/messages/v4/list"),
        msg(),
        _q(MessageType.SMS, "M4V1"),
        fixture("solapi_send_ok.json"),
        None,
    ),
    "iwinv-sms": Case(
        iwinv,
        ("POST", f"{IW_SMS}/api/v2/send/"),
        ("POST", f"{IW_SMS}/api/history/"),
        msg(),
        _q(MessageType.SMS, "12345"),
        fixture("iwinv_sms_ok.json"),
        {"resultCode": 13, "message": f"미등록 발신번호 {PHONE}"},
    ),
    "iwinv-alimtalk": Case(
        _iwinv_alimtalk,
        ("POST", f"{IW_AT}/api/v2/send/"),
        ("POST", f"{IW_AT}/api/history/"),
        alimtalk(),
        _q(MessageType.ALIMTALK, "987654"),
        fixture("iwinv_alimtalk_ok.json"),
        {"code": 508, "message": "templateParam required"},
    ),
    "aligo-sms": Case(
        aligo,
        ("POST", f"{AL_SMS}/send/"),
        ("POST", f"{AL_SMS}/sms_list/"),
        msg(),
        _q(MessageType.SMS, "123"),
        fixture("aligo_sms_ok.json"),
        {"result_code": -103, "message": "발신번호 오류"},
    ),
    "aligo-alimtalk": Case(
        aligo,
        ("POST", f"{AL_KAKAO}/akv10/alimtalk/send/"),
        ("POST", f"{AL_KAKAO}/akv10/history/detail/"),
        alimtalk(),
        _q(MessageType.ALIMTALK, "445566"),
        fixture("aligo_kakao_ok.json"),
        {"code": -99, "message": "템플릿 파라미터 오류"},
    ),
}


def _own_secrets(provider: str) -> list[str]:
    family = provider.split("-")[0]
    own = list(SECRETS[family].values())
    return own + (all_secret_values()[-2:] if family == "iwinv" else [])


def _echo(status: int) -> Callable[[str], httpx.Response]:
    """An error body echoing the provider's secrets and the recipient, as bodies can (PII-19)."""

    def make(provider: str) -> httpx.Response:
        text = f"bad credentials {' '.join(_own_secrets(provider))} for {PHONE} / +82 10-1234-5678"
        body = {"errorCode": "Denied", "errorMessage": text, "code": -1, "message": text}
        return httpx.Response(status, json=body)

    return make


def _http_date(seconds: int) -> str:
    return format_datetime(datetime.fromtimestamp(NOW_MS / 1000 + seconds, UTC), usegmt=True)


# name -> (response or exception, class on send, class on status, requests on send, on status)
SCENARIOS: dict[str, tuple[Any, type, type, int, int]] = {
    "401": (_echo(401), AuthError, AuthError, 1, 1),
    "403": (_echo(403), AuthError, AuthError, 1, 1),
    "429-seconds": (
        httpx.Response(429, headers={"Retry-After": "7"}),
        RateLimited,
        RateLimited,
        3,
        3,
    ),
    "429-http-date": (
        httpx.Response(429, headers={"Retry-After": _http_date(5)}),
        RateLimited,
        RateLimited,
        3,
        3,
    ),
    "500": (_echo(500), UnknownOutcome, Unavailable, 1, 1),
    "503": (httpx.Response(503), Unavailable, Unavailable, 3, 3),
    "html-error-page": (
        httpx.Response(502, html="<html><body><h1>502 Bad Gateway</h1></body></html>"),
        UnknownOutcome,
        Unavailable,
        1,
        1,
    ),
    "malformed-json": (
        httpx.Response(200, content=b'{"code": 0, "info": '),
        UnknownOutcome,
        Unavailable,
        1,
        1,
    ),
    "connect-timeout": (httpx.ConnectTimeout("connect timed out"), Unavailable, Unavailable, 3, 3),
    "connect-refused": (httpx.ConnectError("connection refused"), Unavailable, Unavailable, 3, 3),
    "read-timeout": (httpx.ReadTimeout("read timed out"), UnknownOutcome, Unavailable, 1, 1),
}


def _assert_clean(err: ProviderError) -> None:
    text = str(err) + json.dumps(err.to_dict(), ensure_ascii=False) + (err.hint or "")
    for secret in all_secret_values():
        assert secret not in text
    assert PHONE not in text and "10-1234-5678" not in text


def _route(
    router: respx.MockRouter, method_url: tuple[str, str], outcome: Any, provider: str
) -> respx.Route:
    route = router.route(method=method_url[0], url=method_url[1])
    if callable(outcome) and not isinstance(outcome, httpx.Response):
        outcome = outcome(provider)
    if isinstance(outcome, Exception):
        route.side_effect = outcome
    else:
        route.return_value = outcome
    return route


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("provider", list(CASES))
@pytest.mark.parametrize("operation", ["send", "status"])
def test_failure_table(provider, scenario, operation, deps, clock, router) -> None:
    case = CASES[provider]
    outcome, send_cls, status_cls, send_n, status_n = SCENARIOS[scenario]
    route = _route(router, getattr(case, operation), outcome, provider)
    p = case.make(deps)
    expected, requests = (send_cls, send_n) if operation == "send" else (status_cls, status_n)
    with pytest.raises(expected) as info:
        if operation == "send":
            p.send([case.message])
        else:
            p.status([case.query])
    assert type(info.value) is expected
    assert route.call_count == requests, "a send that may have been accepted is never retried"
    assert len(clock.sleeps) == requests - 1
    assert all(0 <= s <= 30 for s in clock.sleeps)
    if scenario == "429-seconds":
        assert clock.sleeps == [7.0, 7.0] and info.value.retry_after == 7.0
    if scenario == "429-http-date":
        assert clock.sleeps[0] == pytest.approx(5.0)
    statuses = {"401": 401, "403": 403, "500": 500, "503": 503, "html-error-page": 502}
    if scenario in statuses:  # NET-7: the HTTP status is kept, never turned into a vendor code
        assert info.value.http_status == statuses[scenario]
        assert info.value.vendor_code != str(statuses[scenario])
    _assert_clean(info.value)


@pytest.mark.parametrize("provider", list(CASES))
def test_503_then_success_retries_once(provider, deps, clock, router) -> None:
    case = CASES[provider]
    route = router.route(method=case.send[0], url=case.send[1])
    route.side_effect = [httpx.Response(503), httpx.Response(200, json=case.ok)]
    (r,) = case.make(deps).send([case.message])
    assert r.status is Status.PENDING and route.call_count == 2 and len(clock.sleeps) == 1


def _two(case: Case) -> list[Message]:
    first = case.message
    second = Message(
        **{
            **first.__dict__,
            "message_id": "m2",
            "to": "01099998888",
            "text": first.text + "!",
            "sender": "0299998888",
            "template_id": first.template_id and "TPL2",
        }
    )
    return [first, second]


@pytest.mark.parametrize("provider", list(CASES))
def test_partial_batch_failure(provider, deps, router) -> None:
    """NET-8: accepted rows stay accepted; only the rejected row is FAILED, with its own class."""
    case = CASES[provider]
    route = router.route(method=case.send[0], url=case.send[1])
    p = case.make(deps)
    if provider == "solapi":
        route.return_value = httpx.Response(200, json=fixture("solapi_send_partial.json"))
    else:
        if provider == "iwinv-alimtalk":
            p._templates["TPL2"] = _template("TPL2")
        route.side_effect = [
            httpx.Response(200, json=case.ok),
            httpx.Response(200, json=case.row_error),
        ]
    ok, bad = p.send(_two(case))
    assert ok.status is Status.PENDING and ok.accepted
    assert bad.status is Status.FAILED and bad.error_class == "invalid" and not bad.accepted
    assert "01099998888" not in (bad.error or "")


def test_unknown_outcome_mid_batch_keeps_accepted_rows(deps, router) -> None:
    """A later call's read timeout must not erase an earlier accepted call (rows, not a raise)."""
    route = router.post(f"{IW_SMS}/api/v2/send/")
    route.side_effect = [
        httpx.Response(200, json=fixture("iwinv_sms_ok.json")),
        httpx.ReadTimeout("read timed out"),
    ]
    ok, unknown = iwinv(deps).send(_two(CASES["iwinv-sms"]))
    assert ok.status is Status.PENDING and route.call_count == 2
    assert unknown.status is Status.UNKNOWN and unknown.error_class == "unknown_outcome"


@pytest.mark.parametrize("provider", list(CASES))
def test_preview_never_shows_secrets(provider, deps) -> None:
    docs = CASES[provider].make(deps).preview(_two(CASES[provider]))
    text = json.dumps(docs, ensure_ascii=False)
    assert docs and not any(s in text for s in all_secret_values())
