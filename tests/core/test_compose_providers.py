"""Which failover path a provider type gets, and what it refuses, before anything is journaled
(docs/providers.md#native-failover-switches)."""

from __future__ import annotations

import pytest

from kmsg_cli.core.compose import Draft, check_for_provider, compose, failover_mode
from kmsg_cli.core.models import Failover, Message
from kmsg_cli.errors import InputError

TEXT = "#{name}님, 주문이 접수되었습니다"


def alimtalk(text: str | None, fallback: str | None = TEXT, **fo: str) -> Message:
    failover = Failover(True, text=fallback, **fo) if fallback else None
    draft = Draft(template_id="T1", text=text, variables={"name": "김"}, failover=failover)
    return compose(draft, "01012345678", "m1").message


@pytest.mark.parametrize(
    ("kind", "native", "text", "expected"),
    [
        ("solapi", True, None, "api"),  # SOLAPI resends the AlimTalk text, not ours
        ("solapi", True, "다른 본문 #{name}", "api"),
        ("solapi", True, TEXT, "native"),  # the fallback is the AlimTalk text itself
        ("iwinv", True, None, "native"),  # resendContent carries the fallback text
        ("aligo", True, TEXT, "native"),  # fmessage_N carries it
        ("mock", False, TEXT, "api"),
        ("", False, None, "api"),
    ],
)
def test_failover_mode_by_provider_type(kind, native, text, expected) -> None:
    assert failover_mode(alimtalk(text), kind, native) == expected


def test_no_failover_no_mode() -> None:
    assert failover_mode(alimtalk(TEXT, fallback=None), "solapi", True) is None


def test_an_aligo_alimtalk_without_text_is_refused_with_a_hint() -> None:
    with pytest.raises(InputError) as info:
        check_for_provider(alimtalk(None, fallback=None), "aligo")
    assert info.value.exit_code == 65 and "--text" in (info.value.hint or "")
    check_for_provider(alimtalk(TEXT, fallback=None), "aligo")
    check_for_provider(alimtalk(None, fallback=None), "solapi")  # SOLAPI renders the template
