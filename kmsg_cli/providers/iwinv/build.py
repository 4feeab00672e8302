"""IWINV requests and responses as pure functions, tested on JSON fixtures.

Wire facts: docs/providers.md#iwinv."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from kmsg_cli.core.models import Message, MessageType, SendResult, Status, StatusQuery, StatusReport
from kmsg_cli.errors import InvalidRequest
from kmsg_cli.providers.base import as_str
from kmsg_cli.providers.http import Req, join_url
from kmsg_cli.providers.iwinv import codes
from kmsg_cli.providers.kst import kst, parse_kst
from kmsg_cli.providers.scrub import scrub
from kmsg_cli.providers.skew import IWINV_MARGIN_MS, window

ALIMTALK_URL = "https://alimtalk.bizservice.iwinv.kr"
SMS_URL = "https://sms.bizservice.iwinv.kr"
JSON = "application/json;charset=UTF-8"
DAY_MS = 86_400_000


def alimtalk_auth(api_key: str) -> str:
    """``AUTH: base64(apiKey)`` — plain base64 of the raw key, deterministic (NET-14)."""
    return base64.b64encode(api_key.encode()).decode()


def sms_secret(api_key: str, auth_key: str) -> str:
    return base64.b64encode(f"{api_key}&{auth_key}".encode()).decode()


def alimtalk_request(base_url: str, path: str, auth: str, body: dict[str, Any]) -> Req:
    """A JSON POST to the AlimTalk API, its AUTH header masked wherever the request is shown."""
    headers = {"AUTH": auth, "Content-Type": JSON}
    return Req(
        "POST", join_url(base_url, path), headers=headers, json=body, masked_headers=("AUTH",)
    )


def sms_request(base_url: str, path: str, secret: str, body: dict[str, Any]) -> Req:
    """A JSON POST to the SMS API, its secret header masked wherever the request is shown."""
    headers = {"secret": secret, "Content-Type": JSON}
    return Req(
        "POST", join_url(base_url, path), headers=headers, json=body, masked_headers=("secret",)
    )


# --------------------------------------------------------------------------- templates


def _build_template_request(base_url: str, auth: str, template_code: str) -> Req:
    body = {"pageNum": "1", "pageSize": "15", "templateCode": template_code}
    return alimtalk_request(base_url, "/api/template/", auth, body)


def _items(body: Any) -> list[dict[str, Any]]:
    """The list in an IWINV answer; the key is not documented, so take the first list of objects."""
    if isinstance(body, list):
        return [i for i in body if isinstance(i, dict)]
    if not isinstance(body, dict):
        return []
    for key in ("list", "data", "templateList", "result"):
        value = body.get(key)
        if isinstance(value, list):
            return [i for i in value if isinstance(i, dict)]
        if isinstance(value, dict) and isinstance(value.get("list"), list):
            return [i for i in value["list"] if isinstance(i, dict)]
    return []


def template_params(m: Message, order: Sequence[str], provider_id: str) -> list[str]:
    """Positional ``templateParam`` in the template's own order, never the caller's dict order."""
    missing = [n for n in order if n not in m.variables]
    if missing:
        raise InvalidRequest(
            f"{provider_id}: template {m.template_id} needs variable(s) {', '.join(missing)}",
            provider_id=provider_id,
        )
    return [str(m.variables[n]) for n in order]


# --------------------------------------------------------------------------- AlimTalk send


def _build_alimtalk_request(
    m: Message, *, base_url: str, auth: str, params: list[str], sender: str | None
) -> Req:
    """One recipient per call: the answer's success/fail counts cannot say *which* row failed."""
    row: dict[str, Any] = {"phone": m.to}
    if params:
        row["templateParam"] = params
    body: dict[str, Any] = {"templateCode": m.template_id, "reserve": "N"}
    if m.scheduled_at is not None:
        body.update(reserve="Y", sendDate=kst(m.scheduled_at))
    body.update(_resend_fields(m, sender))
    body["list"] = [row]
    return alimtalk_request(base_url, "/api/v2/send/", auth, body)


def _resend_fields(m: Message, sender: str | None) -> dict[str, str]:
    """``reSend`` is always explicit and "Y" only for native failover (FO-13).
    ``resendType`` says WHAT to resend: "Y" the AlimTalk text, "N" our ``resendContent``;
    IWINV picks SMS vs LMS by length (docs/providers.md#iwinv-alimtalk)."""
    if m.failover_mode != "native":
        return {"reSend": "N"}
    fields = {"reSend": "Y"}
    if sender:
        fields["resendCallback"] = sender
    fallback = m.failover
    if fallback is not None and fallback.text:
        fields["resendType"] = "N"
        fields["resendContent"] = fallback.text
        if fallback.subject:
            fields["resendTitle"] = fallback.subject
    else:
        fields["resendType"] = "Y"
    return fields


def _parse_alimtalk_response(body: Any, m: Message, provider_id: str) -> SendResult:
    code, text = codes.body_code(body, "code")
    if code != codes.ALIMTALK_OK:
        raise codes.alimtalk_error(code, text, send=True, provider_id=provider_id)
    body = body if isinstance(body, dict) else {}
    seq = as_str(body.get("seqNo")).strip()  # may be absent: status falls back to TRK-7 lookup
    if int(body.get("fail") or 0) > 0 and int(body.get("success") or 0) == 0:
        return SendResult(
            m.message_id,
            Status.FAILED,
            provider_message_id=seq,
            code="fail",
            error=f"{provider_id}: the provider refused the recipient",
            error_class="invalid",
        )
    return SendResult(m.message_id, Status.PENDING, provider_message_id=seq, group_id=seq or None)


# --------------------------------------------------------------------------- SMS send


def _build_sms_request(
    group: Sequence[Message],
    *,
    base_url: str,
    secret: str,
    sender: str | None,
    image: tuple[str, bytes, str] | None = None,
) -> Req:
    """SMS/LMS as JSON to up to 1000 recipients of the same text; MMS as multipart (one)."""
    m = group[0]
    fields: dict[str, Any] = {
        "version": "1.0",
        "from": m.sender or sender,
        "to": [x.to for x in group],
        "text": m.text,
        "msgType": m.type.value,
    }
    if m.subject and m.type is not MessageType.SMS:
        fields["title"] = m.subject
    if m.scheduled_at is not None:
        fields["date"] = kst(m.scheduled_at)
    if image is None:
        return sms_request(base_url, "/api/v2/send/", secret, fields)
    data = {k: (",".join(v) if isinstance(v, list) else str(v)) for k, v in fields.items() if v}
    return Req(
        "POST",
        join_url(base_url, "/api/v2/send/"),
        headers={"secret": secret},
        data=data,
        files={"image": image},
        masked_headers=("secret",),
    )


def _parse_sms_response(body: Any, group: Sequence[Message], provider_id: str) -> list[SendResult]:
    code, text = codes.body_code(body, "resultCode")
    if code != codes.SMS_OK:
        raise codes.sms_error(code, text, send=True, provider_id=provider_id)
    request_no = as_str(body.get("requestNo")) if isinstance(body, dict) else ""  # int or str
    return [SendResult(m.message_id, Status.PENDING, provider_message_id=request_no) for m in group]


# --------------------------------------------------------------------------- status


def _build_alimtalk_history_request(
    q: StatusQuery, *, base_url: str, auth: str, now_ms: int, offset_ms: int | None = None
) -> Req:
    body: dict[str, Any] = {"pageNum": "1", "pageSize": "15"}
    if q.provider_message_id:
        body["seqNo"] = q.provider_message_id
    else:  # TRK-7: no seqNo came back, find the row by recipient and time window
        # IWINV's requestDate is on its clock: widen by any skew (providers.skew), both sides
        start, end = window(q.requested_at, max(now_ms, q.requested_at), offset_ms, IWINV_MARGIN_MS)
        body.update(pageSize="100", phone=q.to, startDate=kst(start), endDate=kst(end))
    return alimtalk_request(base_url, "/api/history/", auth, body)


def _pick_alimtalk_item(
    items: list[dict[str, Any]], q: StatusQuery, offset_ms: int | None = None
) -> dict[str, Any] | None:
    if q.provider_message_id:
        return next(
            (i for i in items if as_str(i.get("seqNo")) == q.provider_message_id),
            items[0] if len(items) == 1 else None,
        )
    mine = [i for i in items if as_str(i.get("phone")) == q.to]
    expected = q.requested_at + (offset_ms or 0)  # when IWINV's clock said we asked
    return min(
        mine,
        key=lambda i: abs((parse_kst(i.get("requestDate")) or 0) - expected),
        default=None,
    )


def _parse_alimtalk_history(
    body: Any,
    q: StatusQuery,
    provider_id: str,
    pending: frozenset[str] = codes.ALIMTALK_PENDING,
    offset_ms: int | None = None,
) -> StatusReport:
    code, text = codes.body_code(body, "code")
    if code is not None and code != codes.ALIMTALK_OK:
        raise codes.alimtalk_error(code, text, send=False, provider_id=provider_id)
    item = _pick_alimtalk_item(_items(body), q, offset_ms)
    if item is None:
        return StatusReport(q.message_id, None, message="not found at the provider yet")
    name = scrub(item.get("statusCodeName") or "")
    resend = as_str(item.get("resendStatusName") or item.get("resendStatus"))
    message = f"{name} (resend: {scrub(resend)})" if resend else name
    at = parse_kst(item.get("receiveDate")) or parse_kst(item.get("sendDate"))
    return StatusReport(
        q.message_id,
        codes.alimtalk_item_status(item, pending),
        as_str(item.get("statusCode")) or None,
        message,
        at,
    )


def _build_sms_history_request(
    q: StatusQuery,
    *,
    base_url: str,
    secret: str,
    company_id: str,
    now_ms: int,
    offset_ms: int | None = None,
) -> Req:
    """Dates are KST days on IWINV's clock (near midnight a skew changes the day: widen by it,
    ``providers.skew``); the window may not exceed 90 days."""
    start, end = window(q.requested_at, max(now_ms, q.requested_at), offset_ms, IWINV_MARGIN_MS)
    end = min(end, start + 89 * DAY_MS)
    body = {
        "version": "1.0",
        "companyid": company_id,
        "startDate": kst(start, "%Y-%m-%d"),
        "endDate": kst(end, "%Y-%m-%d"),
        "requestNo": q.provider_message_id,
        "phone": q.to,
    }
    return sms_request(base_url, "/api/history/", secret, body)


def _parse_sms_history(
    body: Any, q: StatusQuery, provider_id: str, pending: frozenset[str] = codes.SMS_PENDING
) -> StatusReport:
    code, text = codes.body_code(body, "resultCode")
    if code is not None and code != codes.SMS_OK:
        raise codes.sms_error(code, text, send=False, provider_id=provider_id)
    items = [
        i
        for i in _items(body)
        if as_str(i.get("phone")) in ("", q.to)
        and as_str(i.get("requestNo")) in ("", q.provider_message_id)
    ]
    if not items:
        return StatusReport(q.message_id, None, message="not found at the provider yet")
    item = items[0]
    message = scrub(item.get("sendStatusMsg") or item.get("sendStatus") or "")
    return StatusReport(
        q.message_id,
        codes.sms_item_status(item, pending),
        as_str(item.get("sendStatusCode")) or None,
        message,
        parse_kst(item.get("sendDate")),
    )


def _parse_charge(body: Any, ok: int, provider_id: str) -> float:
    code, text = codes.body_code(body, "code")
    if code != ok:
        raise (codes.alimtalk_error if ok == codes.ALIMTALK_OK else codes.sms_error)(
            code, text, send=False, provider_id=provider_id
        )
    return float(body.get("charge") or 0) if isinstance(body, dict) else 0.0
