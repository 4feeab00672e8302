"""IWINV vendor code tables (docs/providers.md#iwinv-result-codes). Map codes only through them.

HTTP 200 answers carry the vendor code in the body (AlimTalk ``code``, SMS ``resultCode``); the
HTTP status is never read as a vendor code (NET-7)."""

from __future__ import annotations

from typing import Any

from kmsg_cli.core.models import Status
from kmsg_cli.errors import AuthError, ProviderError
from kmsg_cli.providers.base import IP_HINT, as_str, error_for, int_code
from kmsg_cli.providers.http_outcomes import no_auto_retry
from kmsg_cli.providers.scrub import scrub

ALIMTALK_OK = 200
SMS_OK = 0
IP_CODES_ALIMTALK = frozenset({206})
IP_CODES_SMS = frozenset({15, 206})
# body code -> kmsg class; None: "unknown_outcome" on a send, "unavailable" on a read
_ALIMTALK = {
    201: "auth",
    206: "auth",
    401: "auth",
    403: "auth",
    404: "template_not_found",
    501: "template_not_found",
    519: "insufficient_balance",
    429: "rate_limited",
    505: "invalid",
    508: "invalid",
    540: "invalid",
} | {code: "invalid" for code in range(502, 518)}
_SMS = {
    14: "auth",
    15: "auth",
    202: "auth",
    206: "auth",
    13: "invalid",
    21: "invalid",
    22: "invalid",
    23: "invalid",
    31: "invalid",
    32: "invalid",
    41: "invalid",
    42: "invalid",
    43: "invalid",
    44: "invalid",
    50: "insufficient_balance",
    11: "unavailable",
    12: "unavailable",
    33: "unavailable",
}
SMS_RETRY_LATER = frozenset({12})  # "plan recharge in progress, retry later": the only auto-retry
SENSITIVE = frozenset({540})  # the message echoes the banned word (PII-19)

# delivery status (docs/providers.md#iwinv-delivery-status); the pending lists are class-level
# so an operator can extend them
SMS_DELIVERED = frozenset({"06", "1000"})
SMS_PENDING = frozenset({"00", "01"})
ALIMTALK_PENDING: frozenset[str] = frozenset()


def _error(
    cls_name: str | None,
    code: int | None,
    text: object,
    *,
    send: bool,
    provider_id: str,
    ip_codes: frozenset[int],
    label: str,
) -> ProviderError:
    unclassified = cls_name is None
    if cls_name is None:
        cls_name = "unknown_outcome" if send else "unavailable"
    detail = "" if code in SENSITIVE or not text else f": {scrub(text, limit=80)}"
    suffix = " (the message may have been accepted)" if cls_name == "unknown_outcome" else ""
    message = f"{provider_id}: {label} {code}{detail}{suffix}"
    err = error_for(
        cls_name,
        message,
        provider_id=provider_id,
        http_status=200,
        vendor_code=as_str(code) or None,
    )
    if isinstance(err, AuthError) and code in ip_codes:
        err.message = f"{provider_id}: caller IP address not registered ({label} {code})"
        err.args = (err.message,)
        err.hint = IP_HINT
    return no_auto_retry(err) if unclassified else err


def alimtalk_error(
    code: int | None, text: object, *, send: bool, provider_id: str
) -> ProviderError:
    cls_name = _ALIMTALK.get(code) if code is not None else None
    return _error(
        cls_name,
        code,
        text,
        send=send,
        provider_id=provider_id,
        ip_codes=IP_CODES_ALIMTALK,
        label="code",
    )


def sms_error(code: int | None, text: object, *, send: bool, provider_id: str) -> ProviderError:
    cls_name = _SMS.get(code) if code is not None else None
    if code == 1:
        cls_name = None  # "message not sent": ambiguous on a send [unverified]
    err = _error(
        cls_name,
        code,
        text,
        send=send,
        provider_id=provider_id,
        ip_codes=IP_CODES_SMS,
        label="resultCode",
    )
    if cls_name == "unavailable" and code not in SMS_RETRY_LATER:
        no_auto_retry(err)
    return err


def body_code(body: Any, key: str) -> tuple[int | None, object]:
    """(code, message) from a JSON object, or from a bare-number body such as ``501``."""
    if isinstance(body, dict):
        return int_code(body.get(key)), body.get("message")
    return int_code(body), None


def alimtalk_item_status(item: dict[str, Any], pending: frozenset[str]) -> Status | None:
    """AlimTalk history (docs/providers.md#iwinv-delivery-status): OK / 성공 -> DELIVERED;
    a pending code or no result yet -> PENDING; another code once a result exists -> FAILED
    [unverified heuristic]; else unrecognized."""
    code = as_str(item.get("statusCode")).strip()
    name = as_str(item.get("statusCodeName"))
    if code.upper() == "OK" or "성공" in name:
        return Status.DELIVERED
    if code in pending or (not code and not name):
        return Status.PENDING
    if item.get("sendDate") or item.get("receiveDate"):
        return Status.FAILED
    return None


def sms_item_status(item: dict[str, Any], pending: frozenset[str]) -> Status:
    """SMS history (docs/providers.md#iwinv-delivery-status): 06 / 1000 / 전송 성공 -> DELIVERED;
    00 / 01 / 대기 / 처리중 or no status yet -> PENDING (keep polling, not UNKNOWN); any other
    code -> FAILED [unverified heuristic]."""
    code = as_str(item.get("sendStatusCode")).strip()
    text = as_str(item.get("sendStatusMsg") or item.get("sendStatus"))
    if code in SMS_DELIVERED or "전송 성공" in text:
        return Status.DELIVERED
    if code in pending or "대기" in text or "처리중" in text or (not code and not text):
        return Status.PENDING
    return Status.FAILED
