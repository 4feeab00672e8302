from __future__ import annotations

import pytest

from kmsg_cli.core import phone
from kmsg_cli.errors import InputError


@pytest.mark.parametrize(
    "raw",
    [
        "01012345678",
        "010-1234-5678",
        "010 1234 5678",
        "+82 10-1234-5678",
        "+821012345678",
        "82 10 1234 5678",
        "+82 (0)10 1234 5678",
        "(010) 1234.5678",
    ],
)
def test_recipient_forms_normalize(raw: str) -> None:
    assert phone.recipient(raw) == "01012345678"


def test_legacy_ten_digit_mobile() -> None:
    assert phone.recipient("011-123-4567") == "0111234567"


@pytest.mark.parametrize(
    "raw", ["123", "", "0212345678", "15881234", "010-1234-567", "010123456789", "abc", "--text"]
)
def test_bad_recipients_are_refused(raw: str) -> None:
    with pytest.raises(InputError, match="invalid recipient"):
        phone.recipient(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("02-1234-5678", "0212345678"),
        ("031-123-4567", "0311234567"),
        ("1588-1234", "15881234"),
        ("010-1234-5678", "01012345678"),
        ("070-1234-5678", "07012345678"),
    ],
)
def test_senders(raw: str, expected: str) -> None:
    assert phone.sender(raw) == expected


@pytest.mark.parametrize("raw", ["112", "1234", "09912345678"])
def test_bad_senders(raw: str) -> None:
    with pytest.raises(InputError, match="invalid sender"):
        phone.sender(raw)


def test_mask_and_error_never_echo_a_whole_number() -> None:
    assert phone.mask("01012345678") == "010-****-5678"
    with pytest.raises(InputError) as err:
        phone.recipient("0212345678")
    assert "0212345678" not in err.value.message


@pytest.mark.parametrize(
    "raw", ["010１２３４５６７８", "０１０－１２３４－５６７８", "＋８２ １０ １２３４ ５６７８"]
)
def test_fullwidth_digits_are_the_same_ascii_number(raw: str) -> None:
    assert phone.recipient(raw) == "01012345678"
    assert phone.normalize(raw) == "01012345678"


@pytest.mark.parametrize("raw", ["٠١٠١٢٣٤٥٦٧٨", "010١٢٣٤٥٦٧٨", "۰۱۰۱۲۳۴۵۶۷۸", "०१०१२३४५६७८"])
def test_digits_of_other_scripts_are_refused_though_isdigit_says_yes(raw: str) -> None:
    with pytest.raises(InputError, match="use the digits 0-9"):
        phone.recipient(raw)
    with pytest.raises(InputError, match="use the digits 0-9"):
        phone.sender(raw)
