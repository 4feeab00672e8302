"""Shared test kit: a fake clock that never sleeps, the real pooled client under respx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from kmsg_cli.config import ProviderConfig
from kmsg_cli.config_schema import provider_table
from kmsg_cli.core.models import Failover, Message, MessageType
from kmsg_cli.providers.aligo.provider import AligoProvider
from kmsg_cli.providers.http_client import make_client
from kmsg_cli.providers.iwinv.provider import IwinvProvider
from kmsg_cli.providers.plugin import Deps
from kmsg_cli.providers.solapi.provider import SolapiProvider

FIXTURES = Path(__file__).parent / "fixtures"
NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z = 09:00 KST
SECRETS = {
    "solapi": {
        "api_key": "SOLKEY1234abcd",
        "api_secret": "SOLSECRETzyxw9876",
        "kakao_pf_id": "KA01PF0000000",
    },
    "iwinv": {
        "api_key": "IWKEYalimtalk55",
        "sms_api_key": "IWSMSKEY66",
        "sms_auth_key": "IWSMSAUTH77",
    },
    "aligo": {"api_key": "ALKEYsecret88", "user_id": "aligouser99", "sender_key": "ALSENDERKEY00"},
}


class FakeClock:
    """``now_ms`` is fixed until ``sleep`` advances it; every sleep is recorded, none is real."""

    def __init__(self, now_ms: int = NOW_MS) -> None:
        self.t = now_ms
        self.sleeps: list[float] = []

    def now_ms(self) -> int:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += int(seconds * 1000)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def all_secret_values() -> list[str]:
    import base64

    values = [v for group in SECRETS.values() for v in group.values()]
    iw = SECRETS["iwinv"]
    values.append(base64.b64encode(iw["api_key"].encode()).decode())
    values.append(base64.b64encode(f"{iw['sms_api_key']}&{iw['sms_auth_key']}".encode()).decode())
    return values


def msg(
    type_: MessageType = MessageType.SMS,
    *,
    mid: str = "m1",
    to: str = "01012345678",
    text: str = "hello",
    **kw: Any,
) -> Message:
    kw.setdefault("sender", "0212345678")
    return Message(message_id=mid, type=type_, to=to, text=text, **kw)


def alimtalk(mid: str = "m1", to: str = "01012345678", **kw: Any) -> Message:
    kw.setdefault("template_id", "TPL1")
    kw.setdefault("variables", {"name": "홍길동", "code": "1234"})
    return msg(MessageType.ALIMTALK, mid=mid, to=to, text="홍길동님 인증번호 1234", **kw)


NATIVE = {"failover_mode": "native", "failover": Failover(True, text="대체 문자", subject="제목")}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    c = make_client()
    yield c
    c.close()


@pytest.fixture
def deps(clock: FakeClock, client: httpx.Client) -> Deps:
    return Deps(http=lambda: client, clock=clock)


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as r:
        yield r


def configured(kind: str, **table: Any) -> ProviderConfig:
    """A ``[providers.KIND]`` table as a config file gives it, checked by the type's own model."""
    return provider_table(kind, {"type": kind} | {k: v for k, v in table.items() if v is not None})


def solapi(deps: Deps, **kw: Any) -> SolapiProvider:
    cfg = configured("solapi", default_from="0212345678", **(SECRETS["solapi"] | kw))
    return SolapiProvider("solapi", cfg, deps)


def iwinv(deps: Deps, **kw: Any) -> IwinvProvider:
    base = SECRETS["iwinv"] | {"default_from": "0212345678", "sms_company_id": "org1"}
    return IwinvProvider("iwinv", configured("iwinv", **(base | kw)), deps)


def aligo(deps: Deps, **kw: Any) -> AligoProvider:
    base = SECRETS["aligo"] | {"default_from": "0212345678"}
    return AligoProvider("aligo", configured("aligo", **(base | kw)), deps)
