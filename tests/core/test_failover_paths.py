"""Failover that does what the flags say (issue 13 item 4): the fallback options alone ask for a
fallback, and a fallback no path can deliver is refused before anything is journaled
(docs/providers.md#native-failover-switches)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from kmsg_cli.core import service
from kmsg_cli.core.compose import Draft
from kmsg_cli.core.models import Failover, MessageType
from kmsg_cli.core.track_rules import detects_not_kakao
from kmsg_cli.errors import ConfigError
from tests.conftest import FakeClock
from tests.trackkit import FakeProvider, make_env, open_db

DRAFT = Draft(
    template_id="T1",
    text="Kim님, 주문이 접수되었습니다",
    failover=Failover(True, "Kim님, 주문 접수 (문자)"),
)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((False, None, None, None), None),
        ((True, None, None, None), Failover(True)),
        ((False, "문자", None, None), Failover(True, "문자")),
        ((False, None, "제목", None), Failover(True, None, "제목")),
        ((False, None, None, "lms"), Failover(True, None, None, "lms")),
    ],
)
def test_any_fallback_option_asks_for_the_fallback(args, expected) -> None:
    assert Failover.asked(*args) == expected


def test_which_provider_types_can_ever_report_not_a_kakaotalk_user() -> None:
    assert detects_not_kakao("solapi") and detects_not_kakao("iwinv") and detects_not_kakao("mock")
    assert not detects_not_kakao("aligo")  # no verified code yet
    assert not detects_not_kakao("demo")  # a plugin type kmsg has no rule for
    assert detects_not_kakao("aligo", {"aligo": ["K103"]})
    assert detects_not_kakao("demo", {"kakao1": ["X9"]}, "kakao1")  # keyed by provider id


def test_a_fallback_no_path_can_deliver_is_refused(clock: FakeClock, tmp_path: Path) -> None:
    store = open_db(tmp_path / "k.db", clock)
    provider = FakeProvider("kakao1", "demo")  # no native failover, no not-a-Kakao-user rule
    env = replace(
        make_env(clock, store, provider), kinds={"kakao1": "demo"}, api_failover={"kakao1": False}
    )
    with pytest.raises(ConfigError) as info:
        service.plan(DRAFT, ["01012345678"], env)
    assert info.value.exit_code == 78
    assert "the fallback cannot take effect on provider 'kakao1' (demo)" in info.value.message
    assert "not_kakao_user_codes" in (info.value.hint or "")
    assert provider.sent == []
    # with a rule, kmsg fails over through the API
    env = replace(env, api_failover={"kakao1": True})
    (planned,) = service.plan(DRAFT, ["01012345678"], env)
    assert planned.message.failover_mode == "api"


def test_a_fallback_with_no_provider_for_sms_is_refused(clock: FakeClock, tmp_path: Path) -> None:
    store = open_db(tmp_path / "k.db", clock)
    provider = FakeProvider("kakao1", "mock")
    provider.types = frozenset({MessageType.ALIMTALK})
    env = replace(
        make_env(clock, store, provider), capabilities={"kakao1": frozenset({MessageType.ALIMTALK})}
    )
    with pytest.raises(ConfigError) as info:
        service.plan(DRAFT, ["01012345678"], env)
    assert info.value.message == "no provider can send SMS"
