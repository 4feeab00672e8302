"""Text rules: CP949 byte counting, #{var} rendering, EUC-KR encodability.

The rules: docs/providers.md#byte-counting and docs/providers.md#alimtalk-templates.

One byte-count function for send, bulk, dry-run and failover (BYTE-8).
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Mapping

from kmsg_cli.errors import InputError

SMS_MAX_BYTES = 90
LMS_MAX_BYTES = 2000
SUBJECT_MAX_BYTES = 40
ALIMTALK_MAX_CHARS = 1000

# A placeholder is ``#{name}`` (AlimTalk's form; spaces inside the braces ignored) or ``{name}``
# (the CSV column form), in every text of `send` and `send-bulk` alike: docs/templates.md. A bare
# ``{name}`` needs a name of letters, digits, ``_``, and inner spaces, dots or dashes, so JSON and
# other braces in a text (``{"a": 1}``, ``{}``, ``{{name}}``, ``{ x}``) stay text.
_PLACEHOLDER = re.compile(r"#\{([^{}]*)\}|(?<![#{])\{(\w[\w .\-]*)\}(?!\})")


def normalize_text(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def valid_utf8(text: str) -> bool:
    return _SURROGATE.search(text) is None


def check_utf8(text: str, what: str) -> None:
    """Refuse text that is not valid UTF-8. Python hands invalid bytes in argv and stdin on as
    lone surrogates (surrogateescape): sent on, they are mojibake to the recipient or an
    encoding error deep in the journal, so they stop here with one line naming the field."""
    bad = _SURROGATE.search(text)  # the only characters UTF-8 cannot encode
    if bad is not None:
        raise InputError(
            f"{what} is not valid UTF-8 (character {bad.start() + 1} is {_undecoded(bad.group())})",
            hint="save or pass the text as UTF-8",
        )


def _undecoded(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape's stand-in for the byte it could not decode
        return f"the byte {code - 0xDC00:#04x}"
    return f"a lone surrogate U+{code:04X}"


def byte_length(text: str) -> int:
    """CP949 bytes (Hangul 2, ASCII 1). A character CP949 cannot encode (emoji) counts 2 bytes:
    providers either reject it or substitute, and we never want to underestimate an SMS."""
    text = normalize_text(text)
    try:
        return len(text.encode("cp949"))  # the common case, in one call
    except UnicodeEncodeError:
        pass
    total = 0
    for chunk in _split_encodable(text):
        try:
            total += len(chunk.encode("cp949"))
        except UnicodeEncodeError:
            total += 2 * len(chunk)
    return total


def _split_encodable(text: str) -> list[str]:
    try:
        text.encode("cp949")
        return [text]
    except UnicodeEncodeError:
        return list(text)


def unencodable(text: str) -> list[str]:
    """Characters EUC-KR cannot carry (emoji, CP949-only syllables such as "똠"), in order, once each.

    Python's ``euc-kr`` codec writes a CP949-only syllable as an 8-byte KS X 1001 make-up
    sequence instead of failing, which no provider accepts as text: such a character is found by
    its EUC-KR bytes differing from its CP949 bytes (CP949 extends EUC-KR, so every character
    EUC-KR has takes the same bytes in both)."""
    try:
        if len(text.encode("euc-kr")) == len(text.encode("cp949")):  # the common case
            return []
    except UnicodeEncodeError:
        pass
    bad: list[str] = []
    for ch in text:
        if ch == "\n" or ch in bad:
            continue
        try:
            if len(ch.encode("euc-kr")) == len(ch.encode("cp949")):
                continue
        except UnicodeEncodeError:
            pass
        bad.append(ch)
    return bad


@functools.lru_cache(maxsize=256)  # a campaign renders one template for every row
def compile_template(template: str) -> tuple[str, ...]:
    """``template`` cut at its placeholders: literal, name, literal, ..., literal (names
    stripped), so rendering is one join."""
    split = _PLACEHOLDER.split(template)  # literal, #{name}, {name}, literal, ...
    pieces = [split[0]]
    for i in range(1, len(split), 3):
        hashed, bare = split[i], split[i + 1]
        pieces += [(hashed if hashed is not None else bare).strip(), split[i + 2]]
    return tuple(pieces)


def placeholders(template: str) -> tuple[str, ...]:
    """The names of the placeholders in ``template``, in order (both forms)."""
    return compile_template(template)[1::2]


def unused(given: Iterable[str], *templates: str | None) -> list[str]:
    """Variables ``given`` that no template uses, each with a did-you-mean when one is close:
    a --var nobody reads is almost always a typo, and sending without it would be wrong."""
    used = list(dict.fromkeys(n for t in templates if t for n in placeholders(t)))
    problems = []
    for name in given:
        if name.strip() in used:
            continue
        close = difflib.get_close_matches(name.strip(), used, n=1, cutoff=0.5)
        if close:
            problems.append(f"--var {name} is not used by the text; did you mean {close[0]}?")
        elif used:
            problems.append(
                f"--var {name} is not used by the text (its placeholders: {', '.join(used)})"
            )
        else:
            problems.append(f"--var {name} is not used: the text has no placeholders")
    return problems


def check_unused(given: Iterable[str], *templates: str | None) -> None:
    problems = unused(given, *templates)
    if problems:
        raise InputError(
            "; ".join(problems),
            hint="placeholders are #{name} or {name}; drop the --var or use it in the text",
        )


def render(template: str, variables: Mapping[str, str], *, what: str = "text") -> str:
    """Replace ``#{name}`` and ``{name}`` (spaces inside the braces ignored). A missing variable
    is an InputError naming it: a placeholder is never sent as it was typed."""
    pieces = compile_template(template)
    if len(pieces) == 1:
        return template
    values = {key.strip(): value for key, value in variables.items()}
    missing = [name for name in pieces[1::2] if name not in values]
    if missing:
        names = ", ".join(dict.fromkeys(missing))
        raise InputError(
            f"{what} uses {{{missing[0]}}} but no value was given for: {names}",
            hint="pass --var NAME=VALUE",
        )
    parts = list(pieces)
    parts[1::2] = [values[name] for name in pieces[1::2]]
    return "".join(parts)
