"""Aligo requests and responses as pure functions, tested on JSON fixtures.

Wire facts: docs/providers.md#aligo.

Credentials are form fields, so every builder takes them as arguments; ``preview`` passes ``****``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kmsg_cli.core.models import (
    Button,
    Message,
    MessageType,
    SendResult,
    Status,
    StatusQuery,
    StatusReport,
)
from kmsg_cli.errors import ProviderError
from kmsg_cli.providers.base import as_str, error_for, int_code
from kmsg_cli.providers.http import Req, join_url
from kmsg_cli.providers.http_outcomes import no_auto_retry
from kmsg_cli.providers.kst import kst, parse_kst
from kmsg_cli.providers.scrub import scrub

SMS_URL = "https://apis.aligo.in"
KAKAO_URL = "https://kakaoapi.aligo.in"
SMS_OK = 1
KAKAO_OK = 0
# SMS result_code -> class; other negatives are "invalid" [unverified]
# (docs/providers.md#aligo-result-codes)
_SMS_CODES = {
    -100: "auth",
    -101: "auth",
    -102: "insufficient_balance",
    -201: "insufficient_balance",
    -103: "invalid",
    -105: "invalid",
    -501: "template_not_found",
}
_KAKAO_CODES = {-101: "auth", 509: "invalid"}
# Kakao -99 is generic; its text decides (auth / balance / parameters)
_KAKAO_99_TEXT = (("인증오류", "auth"), ("포인트가 부족", "insufficient_balance"))
# the types sent (and looked up) through the Kakao host
KAKAO_TYPES = frozenset({MessageType.ALIMTALK, MessageType.FRIENDTALK})
FRIENDTALK_SUBJECT = "친구톡"  # subject_N: a label in Aligo's history, never shown [unverified]
# no verified status vocabulary (docs/providers.md#aligo-delivery-status): nothing maps to a
# status until an entry is added here
STATUS_TABLE: dict[str, Status] = {}


@dataclass(frozen=True)
class SmsCreds:
    key: str
    user_id: str


@dataclass(frozen=True)
class KakaoCreds:
    apikey: str
    userid: str
    senderkey: str
    token: str | None = None

    def fields(self) -> dict[str, str]:
        doc = {"apikey": self.apikey, "userid": self.userid, "senderkey": self.senderkey}
        return doc | ({"token": self.token} if self.token else {})


def _schedule_sms(m: Message) -> dict[str, str]:
    if m.scheduled_at is None:
        return {}
    return {"rdate": kst(m.scheduled_at, "%Y%m%d"), "rtime": kst(m.scheduled_at, "%H%M")}


def _build_sms_request(
    group: Sequence[Message],
    *,
    base_url: str,
    creds: SmsCreds,
    sender: str,
    test_mode: bool,
    image: tuple[str, bytes, str] | None = None,
) -> Req:
    """One message: ``/send/`` (multipart when an image is attached); several: ``/send_mass/``."""
    first = group[0]
    data = {
        "key": creds.key,
        "user_id": creds.user_id,
        "sender": sender,
        "msg_type": first.type.value,
    }
    if first.subject and first.type is not MessageType.SMS:
        data["title"] = first.subject
    data.update(_schedule_sms(first))
    if len(group) == 1:
        data.update(receiver=first.to, msg=first.text)
        path = "/send/"
    else:
        for n, m in enumerate(group, start=1):
            data[f"rec_{n}"] = m.to
            data[f"msg_{n}"] = m.text
        data["cnt"] = str(len(group))
        path = "/send_mass/"
    if test_mode:  # off unless configured: test sends are accepted and never delivered (CFG-9)
        data["testmode_yn"] = "Y"
    files = {"image": image} if image is not None else None
    return Req("POST", join_url(base_url, path), data=data, files=files)


def sms_error(code: int | None, text: object, *, send: bool, provider_id: str) -> ProviderError:
    cls_name = _SMS_CODES.get(code) if code is not None else None
    if cls_name is None and code is not None and code < 0:
        cls_name = "invalid"
    if cls_name is None:
        fallback = "unknown_outcome" if send else "unavailable"
        return no_auto_retry(_error(fallback, "result_code", code, text, provider_id))
    return _error(cls_name, "result_code", code, text, provider_id)


def kakao_error(code: int | None, text: object, *, send: bool, provider_id: str) -> ProviderError:
    cls_name = _KAKAO_CODES.get(code) if code is not None else None
    if code == -99:
        cls_name = next((c for word, c in _KAKAO_99_TEXT if word in as_str(text)), "invalid")
    if cls_name is None:
        fallback = "unknown_outcome" if send else "unavailable"
        return no_auto_retry(_error(fallback, "code", code, text, provider_id))
    return _error(cls_name, "code", code, text, provider_id)


def _error(cls_name: str, label: str, code: int | None, text: object, pid: str) -> ProviderError:
    detail = f": {scrub(text, limit=80)}" if text else ""
    suffix = " (the message may have been accepted)" if cls_name == "unknown_outcome" else ""
    return error_for(
        cls_name,
        f"{pid}: {label} {code}{detail}{suffix}",
        provider_id=pid,
        http_status=200,
        vendor_code=None if code is None else str(code),
    )


def _parse_sms_response(body: Any, group: Sequence[Message], provider_id: str) -> list[SendResult]:
    doc = body if isinstance(body, dict) else {}
    code = int_code(doc.get("result_code"))
    if code != SMS_OK:
        raise sms_error(code, doc.get("message"), send=True, provider_id=provider_id)
    mid = as_str(doc.get("msg_id"))
    if int_code(doc.get("success_cnt")) == 0 and (int_code(doc.get("error_cnt")) or 0) > 0:
        return [
            SendResult(
                m.message_id,
                Status.FAILED,
                provider_message_id=mid,
                code="error_cnt",
                error=f"{provider_id}: every recipient was refused",
                error_class="invalid",
            )
            for m in group
        ]
    return [
        SendResult(
            m.message_id,
            Status.PENDING,
            provider_message_id=mid,
            group_id=f"sms:{mid}" if mid else None,
        )
        for m in group
    ]


def _build_alimtalk_request(
    group: Sequence[Message],
    *,
    base_url: str,
    creds: KakaoCreds,
    sender: str | None,
    test_mode: bool,
) -> Req:
    """≤ 500 messages of one template; ``message_N`` is the fully rendered text (Aligo substitutes
    nothing)."""
    first = group[0]
    data = creds.fields() | {"tpl_code": as_str(first.template_id)}
    if sender:
        data["sender"] = sender
    if first.scheduled_at is not None:
        data["senddate"] = kst(first.scheduled_at, "%Y%m%d%H%M%S")
    native = first.failover_mode == "native"
    data["failover"] = "Y" if native else "N"  # always explicit: one failover path (FO-5)
    for n, m in enumerate(group, start=1):
        data[f"receiver_{n}"] = m.to
        data[f"subject_{n}"] = m.subject or as_str(m.template_id)
        data[f"message_{n}"] = m.text
        if m.buttons:
            data[f"button_{n}"] = buttons_json(m.buttons)
        if native and m.failover is not None and m.failover.text:
            data[f"fmessage_{n}"] = m.failover.text
            data[f"fsubject_{n}"] = m.failover.subject or m.subject or ""
    if test_mode:
        data["testMode"] = "Y"
    return Req("POST", join_url(base_url, "/akv10/alimtalk/send/"), data=data)


def buttons_json(buttons: Sequence[Button]) -> str:
    """``button_N``: ``{"button": [...]}`` with Aligo's keys (docs/providers.md#aligo-sending)."""
    rows = []
    for b in buttons:
        links = {
            "linkMo": b.link_mo,
            "linkPc": b.link_pc,
            "linkIos": b.link_ios,
            "linkAnd": b.link_and,
        }
        rows.append({"name": b.name, "linkType": b.type} | {k: v for k, v in links.items() if v})
    return json.dumps({"button": rows}, ensure_ascii=False)


def _build_friendtalk_request(
    group: Sequence[Message],
    *,
    base_url: str,
    creds: KakaoCreds,
    sender: str | None,
    test_mode: bool,
    image: tuple[str, bytes, str] | None = None,
) -> Req:
    """≤ 500 FriendTalks sharing a time and an image: ``/akv10/friend/send/``, always as
    advertising and never failing over to SMS (docs/providers.md#brand-messages)."""
    first = group[0]
    data = creds.fields() | {"advert": "Y", "failover": "N"}
    if sender:
        data["sender"] = sender
    if first.scheduled_at is not None:
        data["senddate"] = kst(first.scheduled_at, "%Y%m%d%H%M%S")
    for n, m in enumerate(group, start=1):
        data[f"receiver_{n}"] = m.to
        data[f"subject_{n}"] = FRIENDTALK_SUBJECT
        data[f"message_{n}"] = m.text
        if m.buttons:
            data[f"button_{n}"] = buttons_json(m.buttons)
    if test_mode:
        data["testMode"] = "Y"
    files = {"image": image} if image is not None else None
    return Req("POST", join_url(base_url, "/akv10/friend/send/"), data=data, files=files)


def _parse_alimtalk_response(
    body: Any, group: Sequence[Message], provider_id: str
) -> list[SendResult]:
    """Success is ``code == 0`` with ``info.mid`` — not ``result_code`` (k-msg's bug)."""
    doc = body if isinstance(body, dict) else {}
    code = int_code(doc.get("code"))
    if code != KAKAO_OK:
        raise kakao_error(code, doc.get("message"), send=True, provider_id=provider_id)
    info = doc.get("info")
    mid = as_str(info.get("mid")) if isinstance(info, dict) else ""
    return [
        SendResult(
            m.message_id,
            Status.PENDING,
            provider_message_id=mid,
            group_id=f"kakao:{mid}" if mid else None,
        )
        for m in group
    ]


def _build_status_request(
    q: StatusQuery, *, base_url: str, kakao_url: str, sms: SmsCreds | None, kakao: KakaoCreds | None
) -> Req:
    if q.type in KAKAO_TYPES:
        assert kakao is not None
        data = kakao.fields() | {"mid": q.provider_message_id, "page": "1", "limit": "500"}
        return Req("POST", join_url(kakao_url, "/akv10/history/detail/"), data=data)
    assert sms is not None
    data = {
        "key": sms.key,
        "user_id": sms.user_id,
        "userid": sms.user_id,
        "mid": q.provider_message_id,
        "page": "1",
        "page_size": "500",
    }
    return Req("POST", join_url(base_url, "/sms_list/"), data=data)


def _parse_status_response(body: Any, q: StatusQuery, provider_id: str) -> StatusReport:
    """Raw codes are kept; the status is None (keep polling) unless STATUS_TABLE knows it
    (docs/providers.md#aligo-delivery-status)."""
    doc = body if isinstance(body, dict) else {}
    if q.type in KAKAO_TYPES:
        code = int_code(doc.get("code"))
        if code != KAKAO_OK:
            raise kakao_error(code, doc.get("message"), send=False, provider_id=provider_id)
    else:
        code = int_code(doc.get("result_code"))
        if code != SMS_OK:
            raise sms_error(code, doc.get("message"), send=False, provider_id=provider_id)
    rows = [r for r in doc.get("list") or [] if isinstance(r, dict)]
    row = next((r for r in rows if as_str(r.get("phone") or r.get("receiver")) == q.to), None)
    if row is None:
        return StatusReport(q.message_id, None, message="not found at the provider yet")
    raw = next(
        (as_str(row[k]) for k in ("rslt", "sms_state", "status") if row.get(k) not in (None, "")),
        None,
    )
    text = scrub(row.get("rslt_message") or row.get("sms_state") or "")
    at = next(
        (
            t
            for k in ("rsltdate", "reportdate", "sentdate", "send_date")
            if (t := parse_kst(row.get(k))) is not None
        ),
        None,
    )
    return StatusReport(q.message_id, STATUS_TABLE.get(raw or ""), raw, text, at)


def _parse_remain(body: Any, provider_id: str) -> tuple[float, dict[str, Any]]:
    doc = body if isinstance(body, dict) else {}
    code = int_code(doc.get("result_code"))
    if code != SMS_OK:
        raise sms_error(code, doc.get("message"), send=False, provider_id=provider_id)
    detail = {k: int_code(doc.get(k)) for k in ("SMS_CNT", "LMS_CNT", "MMS_CNT") if k in doc}
    return float(detail.get("SMS_CNT") or 0), detail
