"""The --button syntax and the button limits (docs/providers.md#buttons)."""

from __future__ import annotations

import pytest

from kmsg_cli.core import buttons
from kmsg_cli.core.models import Button, MessageType
from kmsg_cli.errors import InputError


def test_compact_and_json_forms_give_the_same_buttons() -> None:
    compact = buttons.parse(
        [
            "WL:주문 보기:https://m.example.com/o?id=1,https://www.example.com/o | AL:앱:ex://a,ex://i"
        ]
    )
    as_json = buttons.parse(
        [
            '[{"type": "wl", "name": "주문 보기", "linkMo": "https://m.example.com/o?id=1",'
            ' "linkPc": "https://www.example.com/o"},'
            ' {"buttonType": "AL", "buttonName": "앱", "linkAndroid": "ex://a", "link_ios": "ex://i"}]'
        ]
    )
    expected = (
        Button("주문 보기", "WL", "https://m.example.com/o?id=1", "https://www.example.com/o"),
        Button("앱", "AL", link_and="ex://a", link_ios="ex://i"),
    )
    assert compact == as_json == expected
    assert buttons.parse(["ac:채널 추가", "", "BK:문의"]) == (
        Button("채널 추가", "AC"),
        Button("문의", "BK"),
    )


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("주문 보기", "expected TYPE:NAME[:LINKS]"),
        ("WL:보기", "WL:NAME:MOBILE_URL[,PC_URL]"),
        ("AL:앱:ex://a", "AL:NAME:ANDROID_URI,IOS_URI"),
        ("BK:문의:https://x.kr", "BK:NAME (no links)"),
        ('{"type": "WL", "url": "x"}', "button key 'url' is unknown"),
        ('{"type": "WL", "name": 3}', "must be text"),
        ("[1]", "must be a JSON object"),
        ("{nope", "not valid JSON"),
    ],
)
def test_malformed_buttons_name_the_problem(spec: str, words: str) -> None:
    with pytest.raises(InputError, match=None) as info:
        buttons.parse([spec])
    assert words in info.value.message


def test_limits_depend_on_the_message_type() -> None:
    ds = (Button("배송 조회", "DS"),)
    buttons.check(ds, MessageType.ALIMTALK)
    with pytest.raises(InputError, match="BRAND button type"):
        buttons.check(ds, MessageType.BRAND)
    with pytest.raises(InputError, match="limit is 100"):
        buttons.check(
            (Button("보기", "WL", "https://m.example.com/" + "a" * 80),), MessageType.BRAND
        )
    buttons.check((Button("", "AC"),), MessageType.BRAND)  # Kakao names an add-channel button
    with pytest.raises(InputError, match="needs a name"):
        buttons.check((Button("", "BK"),), MessageType.BRAND)


def test_a_rows_key_changes_with_its_buttons_only_for_brand_messages() -> None:
    """Keys of rows without buttons (and AlimTalk rows, whose buttons are the template's) stay
    what earlier runs wrote, so a rerun never sends them again."""
    import hashlib
    import json

    from kmsg_cli.core import bulk
    from kmsg_cli.core.models import Message

    sms = Message("m1", MessageType.SMS, "01012345678", "0212345678", "안녕", variables={"a": "1"})
    old = json.dumps(
        ["01012345678", "SMS", "0212345678", "안녕", None, None, [["a", "1"]]], ensure_ascii=False
    )
    assert bulk.row_key("j", sms) == f"bulk:j:{hashlib.sha256(old.encode()).hexdigest()[:32]}"
    brand = Message("m2", MessageType.BRAND, "01012345678", None, "신상품")
    with_button = Message(
        "m3", MessageType.BRAND, "01012345678", None, "신상품", buttons=(Button("문의", "BK"),)
    )
    assert bulk.row_key("j", brand) != bulk.row_key("j", with_button)
