"""Korean phone numbers: one normalizer for storing, querying and display.

The rules: docs/providers.md#phone-numbers and docs/providers.md#sender-numbers.

Hand-written rather than the ``phonenumbers`` package on purpose: kmsg needs a narrower rule than
"valid number" (SMS recipients must be mobiles; senders may be landlines or 15xx representative
numbers), and these rules are short and spelled out by the providers.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from kmsg_cli.errors import InputError

_SEPARATORS = re.compile(r"[\s\-.()]")
# re.ASCII: a bare \d also matches Arabic-Indic and other scripts' digits, which would pass as a
# number yet go on the wire as they are and never match the opt-out list
_MOBILE = re.compile(r"^(010\d{8}|01[16789]\d{7,8})$", re.ASCII)  # 010 is always 11 digits
_REPRESENTATIVE = re.compile(r"^1[5-9]\d{6}$", re.ASCII)  # 1544-xxxx, 1588-xxxx, ...
_LANDLINE = re.compile(
    r"^0(2\d{7,8}|[3-6][1-5]\d{7,8}|70\d{8}|50\d{8,9}|80\d{7,8}|30\d{8,9})$", re.ASCII
)
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")


def normalize(raw: str) -> str:
    """Digits only, with a +82 / 82 country prefix turned back into the leading 0.

    NFKC first: fullwidth digits and separators (what a Korean IME types) become the ASCII
    number they look like, so they are the same number for the opt-out list and duplicate checks.
    """
    text = unicodedata.normalize("NFKC", raw).strip()
    if text.startswith("+82") or text.startswith("82") and len(_digits(text)) >= 11:
        text = text.removeprefix("+").removeprefix("82").strip()
        text = text.removeprefix("(0)")
        text = _SEPARATORS.sub("", text)
        if not text.startswith("0"):
            text = "0" + text
    return _SEPARATORS.sub("", text)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def recipient(raw: str, *, typed: bool = False) -> str:
    """A normalized Korean mobile number, or InputError naming the bad value: masked (it may
    come from a file whose errors are shared), or as the user ``typed`` it on the command line,
    so the typo can be found (docs/output.md#phone-numbers)."""
    number = normalize(raw)
    if not _MOBILE.match(number):
        raise InputError(
            f"invalid recipient {repr(raw.strip()) if typed else _shown(raw)}: "
            + _problem(number, "expected a Korean mobile number like 010-1234-5678")
        )
    return number


@functools.lru_cache(maxsize=64)  # a provider's default sender is checked for every message
def sender(raw: str) -> str:
    """A normalized sender (calling) number: mobile, landline with area code, or 15xx-xxxx. The
    sender's own number is never masked, in an error neither."""
    number = normalize(raw)
    if not (_MOBILE.match(number) or _LANDLINE.match(number) or _REPRESENTATIVE.match(number)):
        raise InputError(
            f"invalid sender number {raw.strip()!r}: "
            + _problem(
                number,
                "use a registered mobile, landline (with area code, e.g. 02-1234-5678) "
                "or representative number (e.g. 1588-1234)",
            )
        )
    return number


def _problem(number: str, expected: str) -> str:
    # digits of another script look right to the user: say what is wrong with them
    other = _OTHER_DIGIT.search(number)
    if other:
        return f"use the digits 0-9 ({other.group()!r} is a digit of another script)"
    return expected


def mask(number: str) -> str:
    """``01012345678`` -> ``010-****-5678``; short or odd values keep only their last 2 digits."""
    if len(number) >= 10 and number.isdigit():
        return f"{number[:3]}-****-{number[-4:]}"
    return "*" * max(len(number) - 2, 1) + number[-2:] if len(number) > 4 else "***"


def _shown(raw: str) -> str:
    # enough to find the typo, never a whole valid-looking number (in any width or script)
    raw = unicodedata.normalize("NFKC", raw).strip()
    if not raw:
        return "''"
    if len(_digits(raw)) >= 10:
        return repr(mask(_digits(raw)))
    return repr(raw[:20])
