"""SOLAPI wire format as pure functions (docs/providers.md#solapi).

Our message id travels in ``customFields.kmsgId`` so every row of a batch maps back to its input and
an unknown outcome can be reconciled by group or recipient (NET-9)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Generator, Sequence
from typing import Any

import httpx

from kmsg_cli.core.models import (
    Balance,
    Button,
    Message,
    MessageType,
    SendResult,
    Status,
)
from kmsg_cli.core.ports import Clock
from kmsg_cli.errors import Unavailable, UnknownOutcome
from kmsg_cli.providers.base import as_str
from kmsg_cli.providers.http import Req, join_url
from kmsg_cli.providers.kst import iso_kst, iso_utc
from kmsg_cli.providers.scrub import scrub

BASE_URL = "https://api.solapi.com"
ID_FIELD = "kmsgId"
WIRE_TYPE = {
    MessageType.SMS: "SMS",
    MessageType.LMS: "LMS",
    MessageType.MMS: "MMS",
    MessageType.ALIMTALK: "ATA",
    MessageType.BRAND: "BMS_FREE",  # free-form brand message (docs/providers.md#brand-messages)
}
# the storage ``type`` an image is uploaded as, by message type
UPLOAD_TYPE = {MessageType.MMS: "MMS", MessageType.BRAND: "BMS"}

# the class of a per-row rejection code; any other 1xxx/2xxx code is "invalid"
# (docs/providers.md#solapi-status-codes)
ROW_CLASS = {
    "1020": "auth",
    "2063": "auth",
    "1042": "template_not_found",
    "3105": "template_not_found",
    "1030": "insufficient_balance",
    "2230": "insufficient_balance",
    "1024": "unavailable",
    "2024": "unavailable",
}
_FAILURE_CODE = re.compile(r"^[123]\d{3}$")
_FIXED = {"2000": Status.PENDING, "3000": Status.SENT, "4000": Status.DELIVERED}


def normalize_status(code: object) -> Status | None:
    """2000 PENDING, 3000 SENT, 4000 DELIVERED, other 1xxx/2xxx/3xxx FAILED (3104 and 3107
    included, TRK-21), anything else unrecognized -> None (keep polling, TRK-15;
    docs/providers.md#solapi-status-codes)."""
    text = as_str(code).strip()
    if text in _FIXED:
        return _FIXED[text]
    return Status.FAILED if _FAILURE_CODE.match(text) else None


def row_error_class(code: str) -> str:
    return ROW_CLASS.get(code, "invalid")


class SolapiAuth(httpx.Auth):
    """``Authorization: HMAC-SHA256 apiKey=…, date=…, salt=…, signature=…`` with a fresh date and
    salt on every attempt: a signature may not be reused (DuplicatedSignature)."""

    def __init__(self, api_key: str, api_secret: str, clock: Clock) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.clock = clock

    def header(self, date: str, salt: str) -> str:
        signature = sign(self.api_secret, date, salt)
        return f"HMAC-SHA256 apiKey={self.api_key}, date={date}, salt={salt}, signature={signature}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        salt = secrets.token_hex(16)  # 32 chars of [0-9a-f]: within the 12-64 byte rule
        request.headers["Authorization"] = self.header(iso_utc(self.clock.now_ms()), salt)
        yield request


def sign(api_secret: str, date: str, salt: str) -> str:
    return hmac.new(api_secret.encode(), (date + salt).encode(), hashlib.sha256).hexdigest()


def describe_error(response: httpx.Response) -> tuple[str | None, str | None]:
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return None, None
    if not isinstance(body, dict):
        return None, None
    code = body.get("errorCode")
    return (as_str(code) or None), (as_str(body.get("errorMessage")) or None)


# --------------------------------------------------------------------------- pure builders


def _variables(values: dict[str, str]) -> dict[str, str]:
    """Wire keys are ``#{name}``."""
    return {(k if k.startswith("#{") else f"#{{{k}}}"): str(v) for k, v in values.items()}


def _message_payload(
    m: Message, *, default_from: str | None, pf_id: str | None, image_id: str | None
) -> dict[str, Any]:
    sender = m.sender or default_from
    doc: dict[str, Any] = {"to": m.to, "type": WIRE_TYPE[m.type], "autoTypeDetect": False}
    if sender:
        doc["from"] = sender
    doc["customFields"] = {ID_FIELD: m.message_id}
    if m.type is MessageType.ALIMTALK:
        # the ATA body comes from the template + variables; fallback text never goes in `text`
        # (docs/providers.md#solapi-sending). disableSms is ALWAYS explicit: SOLAPI's default is
        # to fail over itself (FO-5).
        doc["kakaoOptions"] = {
            "pfId": pf_id,
            "templateId": m.template_id,
            "variables": _variables(m.variables),
            "disableSms": m.failover_mode != "native",
        }
        if m.buttons:
            doc["kakaoOptions"]["buttons"] = [_ata_button(b) for b in m.buttons]
        return doc
    doc["text"] = m.text
    if m.type is MessageType.BRAND:
        # targeting I: the channel's friends, the one audience every channel may use;
        # SOLAPI sends no SMS in place of a brand message
        bms: dict[str, Any] = {"targeting": "I", "chatBubbleType": "IMAGE" if image_id else "TEXT"}
        if image_id:
            bms["imageId"] = image_id
        if m.buttons:
            bms["buttons"] = [_bms_button(b) for b in m.buttons]
        doc["kakaoOptions"] = {"pfId": pf_id, "bms": bms}
        return doc
    if m.subject and m.type in (MessageType.LMS, MessageType.MMS):
        doc["subject"] = m.subject
    if m.type is MessageType.MMS:
        doc["imageId"] = image_id
    return doc


def _ata_button(b: Button) -> dict[str, str]:
    links = {"linkMo": b.link_mo, "linkPc": b.link_pc, "linkAnd": b.link_and, "linkIos": b.link_ios}
    return {"buttonName": b.name, "buttonType": b.type} | {k: v for k, v in links.items() if v}


def _bms_button(b: Button) -> dict[str, str]:
    links = {
        "linkMobile": b.link_mo,
        "linkPc": b.link_pc,
        "linkAndroid": b.link_and,
        "linkIos": b.link_ios,
    }
    head = {"linkType": b.type} | ({"name": b.name} if b.name else {})
    return head | {k: v for k, v in links.items() if v}


def _build_send_request(
    messages: Sequence[Message],
    *,
    base_url: str,
    default_from: str | None,
    pf_id: str | None,
    image_ids: dict[str, str],
    auth: httpx.Auth | None,
) -> Req:
    """One ``send-many/detail`` call; all ``messages`` share one ``scheduled_at``."""
    body: dict[str, Any] = {
        "messages": [
            _message_payload(
                m, default_from=default_from, pf_id=pf_id, image_id=image_ids.get(m.message_id)
            )
            for m in messages
        ],
        "showMessageList": True,
        "agent": {"sdkVersion": "kmsg/0.1.0", "osPlatform": "python"},
    }
    if messages and messages[0].scheduled_at is not None:
        body["scheduledDate"] = iso_kst(messages[0].scheduled_at)
    if len({m.to for m in messages}) < len(messages):
        # Two messages to one recipient in one call are two logical messages (the ledger keeps
        # them apart); without this flag SOLAPI refuses every repeat with 1026
        # (docs/providers.md#solapi-sending).
        body["allowDuplicates"] = True
    url = join_url(base_url, "/messages/v4/send-many/detail")
    return Req("POST", url, headers={"Content-Type": "application/json"}, json=body, auth=auth)


def _build_upload_request(
    name: str, data: bytes, *, base_url: str, auth: httpx.Auth | None, kind: str = "MMS"
) -> Req:
    body = {"file": base64.b64encode(data).decode(), "type": kind, "name": name}
    return Req("POST", join_url(base_url, "/storage/v1/files"), json=body, auth=auth)


def _rows(value: object) -> list[dict[str, Any]]:
    """``messageList`` is a list in send responses and a dict keyed by id in list responses."""
    if isinstance(value, dict):
        value = list(value.values())
    return [row for row in value if isinstance(row, dict)] if isinstance(value, list) else []


def _row_id(row: dict[str, Any]) -> str | None:
    fields = row.get("customFields")
    return as_str(fields.get(ID_FIELD)) or None if isinstance(fields, dict) else None


def _match(row: dict[str, Any], pending: dict[str, Message], by_to: bool) -> str | None:
    """Our message id for a response row: customFields first, else the first unmatched input (for
    rejected rows: the first unmatched input with the same recipient)."""
    own = _row_id(row)
    if own in pending:
        return own
    for mid, m in pending.items():
        if not by_to or m.to == as_str(row.get("to")):
            return mid
    return None


def _parse_send_response(
    body: Any, messages: Sequence[Message], provider_id: str = "solapi"
) -> list[SendResult]:
    info = body.get("groupInfo") if isinstance(body, dict) else None
    if not isinstance(info, dict):
        raise UnknownOutcome(
            f"{provider_id}: send answered without groupInfo (the messages may have been accepted)",
            provider_id=provider_id,
        )
    group_id = as_str(info.get("groupId") or info.get("_id")) or None
    pending = {m.message_id: m for m in messages}
    out: dict[str, SendResult] = {}
    for row in _rows(body.get("failedMessageList")):
        mid = _match(row, pending, by_to=True)
        if mid is None:
            continue
        code = as_str(row.get("statusCode"))
        out[mid] = SendResult(
            mid,
            Status.FAILED,
            provider_message_id=as_str(row.get("messageId")),
            group_id=group_id,
            code=code,
            error=scrub(row.get("statusMessage")),
            error_class=row_error_class(code),
        )
        del pending[mid]
    for row in _rows(body.get("messageList")):
        mid = _match(row, pending, by_to=False)
        if mid is None:
            continue
        status = normalize_status(row.get("statusCode"))
        if status not in (Status.SENT, Status.PENDING) or pending[mid].scheduled_at:
            status = Status.PENDING
        out[mid] = SendResult(
            mid,
            status,
            provider_message_id=as_str(row.get("messageId")),
            group_id=group_id,
            code=as_str(row.get("statusCode")) or None,
        )
        del pending[mid]
    for mid in pending:  # accepted by the group but not listed: reconcile through customFields
        out[mid] = SendResult(mid, Status.PENDING, group_id=group_id)
    return [out[m.message_id] for m in messages]


def _parse_balance(body: Any, provider_id: str = "solapi") -> Balance:
    if not isinstance(body, dict) or "balance" not in body:
        raise Unavailable(f"{provider_id}: unexpected balance answer", provider_id=provider_id)
    detail = {k: body[k] for k in ("point", "deposit") if k in body}
    return Balance(float(body["balance"]), "KRW", detail)
