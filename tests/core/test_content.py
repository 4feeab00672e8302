"""CP949 byte counting and type inference on the rendered text (BYTE-1..6)."""

from __future__ import annotations

import pytest

from kmsg_cli.core import content
from kmsg_cli.core.compose import Draft, compose
from kmsg_cli.core.models import MessageType
from kmsg_cli.errors import InputError

HANGUL_45 = "가" * 45
HANGUL_46 = "가" * 46


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", 5),
        (HANGUL_45, 90),
        (HANGUL_46, 92),
        ("안녕 hi", 7),
        ("a\r\nb", 3),  # CRLF counts as one newline
        ("똠", 2),  # CP949-only syllable: 2 bytes
        ("😀", 2),  # not encodable: counted conservatively, never as 1
    ],
)
def test_byte_length_is_cp949(text: str, expected: int) -> None:
    assert content.byte_length(text) == expected


def _type(text: str, **kw: object) -> MessageType:
    return compose(Draft(text=text, **kw), "01012345678", "id").message.type  # type: ignore[arg-type]


def test_exactly_90_bytes_stays_sms() -> None:
    assert _type("a" * 90) is MessageType.SMS
    assert _type(HANGUL_45) is MessageType.SMS


def test_91_bytes_and_46_syllables_become_lms() -> None:
    assert _type("a" * 91) is MessageType.LMS
    assert _type(HANGUL_46) is MessageType.LMS


def test_explicit_sms_over_90_bytes_is_refused() -> None:
    with pytest.raises(InputError, match="92 bytes"):
        _type(HANGUL_46, type="SMS")


def test_template_variables_change_the_type() -> None:
    # BYTE-2: the 7-byte placeholder renders to 100 characters
    assert _type("code #{code}", variables={"code": "x" * 100}) is MessageType.LMS
    assert _type("code #{code}", variables={"code": "1234"}) is MessageType.SMS


def test_over_2000_bytes_is_refused() -> None:
    with pytest.raises(InputError, match="2000"):
        _type("가" * 1001)


def test_subject_implies_lms_and_is_limited_to_40_bytes() -> None:
    assert _type("hi", subject="제목") is MessageType.LMS
    with pytest.raises(InputError, match="subject is 42 bytes"):
        _type("hi", subject="가" * 21)
    with pytest.raises(InputError, match="no subject"):
        _type("hi", subject="t", type="SMS")


def test_emoji_warns_and_strict_refuses() -> None:
    composed = compose(Draft(text="hi 😀"), "01012345678", "id")
    assert any("EUC-KR" in w for w in composed.warnings)
    with pytest.raises(InputError, match="strict"):
        compose(Draft(text="hi 😀", strict=True), "01012345678", "id")


@pytest.mark.parametrize("text", ["똠방각하 🙂", "뷁 안녕"])
def test_cp949_only_syllables_warn_and_strict_refuses(text: str) -> None:
    """EUC-KR has 2,350 syllables; "똠" and "뷁" are CP949 additions a provider rejects as text
    outside EUC-KR. Python's euc-kr codec would write them as make-up sequences, not fail."""
    composed = compose(Draft(text=text), "01012345678", "id")
    note = next(w for w in composed.warnings if "EUC-KR" in w)
    assert text[0] in note and "한" not in note and "안" not in note
    with pytest.raises(InputError, match=f"cannot carry \\({text[0]}.*\\): --strict refuses them$"):
        compose(Draft(text=text, strict=True), "01012345678", "id")
    assert content.unencodable("한글 ok\n") == []
    assert content.byte_length(text[0]) == 2


def test_missing_variable_names_it_and_keys_are_trimmed() -> None:
    with pytest.raises(InputError, match="name"):
        content.render("Hello #{name}", {})
    assert content.render("Hello #{ name }", {" name ": "Kim"}) == "Hello Kim"


def test_type_is_case_insensitive_and_unknown_is_listed() -> None:
    assert _type("hi", type="lms") is MessageType.LMS
    with pytest.raises(InputError, match="SMS, LMS"):
        _type("hi", type="fax")


def test_inference_keeps_every_other_field() -> None:
    # SEND-1: inferring the type must not drop scheduled_at, metadata, key, ...
    draft = Draft(
        text="가" * 50,
        scheduled_at=123,
        idempotency_key="k",
        metadata={"a": "b"},
        sender="0212345678",
    )
    m = compose(draft, "+82 10-1234-5678", "id").message
    assert (m.type, m.scheduled_at, m.idempotency_key, m.metadata, m.sender, m.to) == (
        MessageType.LMS,
        123,
        "k",
        {"a": "b"},
        "0212345678",
        "01012345678",
    )


def test_mms_needs_an_image_and_image_makes_mms() -> None:
    assert (
        compose(Draft(text="hi", image="a.jpg"), "01012345678", "id").message.type
        is MessageType.MMS
    )
    with pytest.raises(InputError, match="image"):
        _type("hi", type="MMS")


def test_alimtalk_needs_template_and_failover_needs_text() -> None:
    from kmsg_cli.core.models import Failover

    with pytest.raises(InputError, match="template"):
        _type("hi", type="ALIMTALK")
    with pytest.raises(InputError, match="fallback"):
        compose(Draft(template_id="T", failover=Failover(True)), "01012345678", "id")
