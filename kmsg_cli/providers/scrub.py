"""Provider text made safe to show: secrets and phone numbers masked, markup dropped, length
capped; for error messages (``scrub``) and for ``-vv`` bodies (``mask_body``)
(docs/output.md#verbose-output)."""

from __future__ import annotations

import re

MASK = "****"
CREDENTIAL = re.compile(r"auth|key|secret|token|signature|password", re.IGNORECASE)  # a header
BODY_LOG_LIMIT = 4000

_PHONE = re.compile(r"(?<!\d)(\+?\d[\d\- ]{6,}\d)(?!\d)")
_TAGS = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


# Korean mobile and landline numbers, with or without dashes or +82: masked in logged bodies,
# where long digit runs are often ids or times that must stay readable
_KR_PHONE = re.compile(r"(?<![\d])(?:\+?82-?|0)\d{1,2}-?\d{3,4}-?\d{4}(?!\d)")


def mask_body(text: str, secrets: set[str] | frozenset[str] = frozenset()) -> str:
    """A request or response body for ``-vv``: secrets and phone numbers masked, length capped."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    text = _KR_PHONE.sub(lambda m: MASK + re.sub(r"\D", "", m.group())[-4:], text)
    return text if len(text) <= BODY_LOG_LIMIT else text[:BODY_LOG_LIMIT] + "…"


def _mask_phone(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(1))
    return MASK + digits[-4:] if len(digits) >= 8 else match.group(1)


def scrub(text: object, secrets: set[str] | frozenset[str] = frozenset(), limit: int = 120) -> str:
    """A provider text made safe for errors and logs: no markup, secrets, full numbers; short."""
    out = _SPACE.sub(" ", _TAGS.sub(" ", str(text))).strip()
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            out = out.replace(secret, MASK)
    out = _PHONE.sub(_mask_phone, out)
    return out if len(out) <= limit else out[: limit - 1] + "…"
