"""SOLAPI adapter (PROVIDERS.md §3): HMAC-SHA256 per attempt, send-many/detail, list, cash, cancel.

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

from kmsg_cli.config import SolapiConfig
from kmsg_cli.core.models import (
    Balance,
    Message,
    MessageType,
    SendResult,
    Status,
    StatusQuery,
    StatusReport,
)
from kmsg_cli.core.ports import Clock
from kmsg_cli.errors import AuthError, Unavailable, UnknownOutcome
from kmsg_cli.providers.base import Secrets, as_str, chunks, in_order, read_image, run_calls
from kmsg_cli.providers.http import MASK, Req, Transport, join_url, json_body, scrub
from kmsg_cli.providers.kst import iso_kst, iso_utc, parse_iso_utc
from kmsg_cli.providers.registry import Deps

BASE_URL = "https://api.solapi.com"
ID_FIELD = "kmsgId"
STATUS_CHUNK = 100
WIRE_TYPE = {
    MessageType.SMS: "SMS",
    MessageType.LMS: "LMS",
    MessageType.MMS: "MMS",
    MessageType.ALIMTALK: "ATA",
}

# §3.6 / §7.2: the class of a per-row rejection code; any other 1xxx/2xxx code is "invalid"
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


def normalize_status(code: object) -> Status | None:
    """§3.6: 2000 PENDING, 3000 SENT, 4000 DELIVERED, other 1xxx/2xxx/3xxx FAILED (3104 and 3107
    included, TRK-21), anything else unrecognized -> None (keep polling, TRK-15)."""
    text = as_str(code).strip()
    fixed = {"2000": Status.PENDING, "3000": Status.SENT, "4000": Status.DELIVERED}
    if text in fixed:
        return fixed[text]
    return Status.FAILED if _FAILURE_CODE.match(text) else None


def row_error_class(code: str) -> str:
    return ROW_CLASS.get(code, "invalid")


class SolapiAuth(httpx.Auth):
    """``Authorization: HMAC-SHA256 apiKey=…, date=…, salt=…, signature=…`` with a fresh date and
    salt on every attempt: a signature may not be reused (DuplicatedSignature, §3.1)."""

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
    """Wire keys are ``#{name}`` (§3.4)."""
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
        # (§3.9 #7). disableSms is ALWAYS explicit: SOLAPI's default is to fail over itself (FO-5).
        doc["kakaoOptions"] = {
            "pfId": pf_id,
            "templateId": m.template_id,
            "variables": _variables(m.variables),
            "disableSms": m.failover_mode != "native",
        }
        return doc
    doc["text"] = m.text
    if m.subject and m.type in (MessageType.LMS, MessageType.MMS):
        doc["subject"] = m.subject
    if m.type is MessageType.MMS:
        doc["imageId"] = image_id
    return doc


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
    url = join_url(base_url, "/messages/v4/send-many/detail")
    return Req("POST", url, headers={"Content-Type": "application/json"}, json=body, auth=auth)


def _build_upload_request(name: str, data: bytes, *, base_url: str, auth: httpx.Auth | None) -> Req:
    body = {"file": base64.b64encode(data).decode(), "type": "MMS", "name": name}
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


def _build_status_request(
    queries: Sequence[StatusQuery], *, base_url: str, auth: httpx.Auth | None
) -> Req:
    """By message ids when known; else by group; else by recipient + time window (TRK-7)."""
    url = join_url(base_url, "/messages/v4/list")
    ids = [q.provider_message_id for q in queries if q.provider_message_id]
    params: dict[str, Any]
    if len(ids) == 1:
        params = {"messageId": ids[0], "limit": 1}
    elif ids:
        params = {"messageIds": ids, "limit": len(ids)}
    elif queries[0].group_id:
        params = {"groupId": queries[0].group_id, "limit": 500}
    else:
        q = queries[0]
        params = {
            "to": q.to,
            "dateType": "CREATED",
            "limit": 100,
            "startDate": iso_utc(q.requested_at - 60_000),
        }
    return Req("GET", url, params=params, auth=auth)


def _report(q: StatusQuery, row: dict[str, Any] | None) -> StatusReport:
    if row is None:
        return StatusReport(q.message_id, None, message="not found at the provider yet")
    code = as_str(row.get("statusCode")) or None
    at = next(
        (
            t
            for k in ("dateReceived", "dateReported", "dateProcessed")
            if (t := parse_iso_utc(row.get(k))) is not None
        ),
        None,
    )
    return StatusReport(
        q.message_id,
        normalize_status(code),
        code,
        scrub(row.get("statusMessage") or row.get("reason") or ""),
        at,
    )


def _parse_status_response(body: Any, queries: Sequence[StatusQuery]) -> list[StatusReport]:
    rows = _rows(body.get("messageList")) if isinstance(body, dict) else []
    by_mid = {as_str(r.get("messageId")): r for r in rows}
    by_own = {own: r for r in rows if (own := _row_id(r))}
    return [
        _report(
            q,
            by_mid.get(q.provider_message_id)
            if q.provider_message_id
            else by_own.get(q.message_id),
        )
        for q in queries
    ]


def _parse_balance(body: Any, provider_id: str = "solapi") -> Balance:
    if not isinstance(body, dict) or "balance" not in body:
        raise Unavailable(f"{provider_id}: unexpected balance answer", provider_id=provider_id)
    detail = {k: body[k] for k in ("point", "deposit") if k in body}
    return Balance(float(body["balance"]), "KRW", detail)


# --------------------------------------------------------------------------- adapter


class SolapiProvider:
    TYPES = frozenset(WIRE_TYPE)
    kind = "solapi"
    native_failover = True
    native_schedule = True

    def __init__(self, provider_id: str, config: SolapiConfig, deps: Deps) -> None:
        self.id = provider_id
        self.types = self.TYPES
        self.config = config
        self.clock = deps.clock
        self.max_batch = config.max_batch or 10_000
        self.base_url = config.base_url or BASE_URL
        self.transport = Transport(
            provider_id,
            deps.http,
            deps.clock,
            timeout_seconds=config.timeout_seconds,
            rate_per_second=config.rate_per_second,
            describe=describe_error,
        )
        self.secrets = Secrets(provider_id, config, self.transport)
        self._auth: SolapiAuth | None = None
        self._uploaded: dict[str, str] = {}

    def auth(self) -> SolapiAuth:
        if self._auth is None:
            key, secret = self.secrets.get("api_key"), self.secrets.get("api_secret")
            self._auth = SolapiAuth(key, secret, self.clock)
        return self._auth

    def _pf_id(self, messages: Sequence[Message], masked: bool) -> str | None:
        if not any(m.type is MessageType.ALIMTALK for m in messages):
            return None
        return self.secrets.get("kakao_pf_id", masked=masked)

    def _groups(self, messages: Sequence[Message]) -> list[list[Message]]:
        by_time: dict[int | None, list[Message]] = {}
        for m in messages:
            by_time.setdefault(m.scheduled_at, []).append(m)
        return [c for group in by_time.values() for c in chunks(group, self.max_batch)]

    def _call(self, req: Req, *, send: bool) -> Any:
        try:
            return self.transport.call(
                req, send=send, parse=lambda r: json_body(r, send=send, provider_id=self.id)
            )
        except AuthError as err:
            if err.vendor_code == "RequestTimeTooSkewed":
                err.hint = "the system clock is off by more than 15 minutes: sync it (NTP)"
            raise

    def _upload(self, m: Message) -> str:
        path = m.image or ""
        if path not in self._uploaded:
            name, data, _ = read_image(m)
            req = _build_upload_request(name, data, base_url=self.base_url, auth=self.auth())
            body = self._call(req, send=False)
            file_id = as_str(body.get("fileId")) if isinstance(body, dict) else ""
            if not file_id:
                raise UnknownOutcome(
                    "solapi: image upload answered without fileId", provider_id=self.id
                )
            self._uploaded[path] = file_id
        return self._uploaded[path]

    def _send_group(self, group: Sequence[Message]) -> list[SendResult]:
        image_ids = {m.message_id: self._upload(m) for m in group if m.type is MessageType.MMS}
        req = _build_send_request(
            group,
            base_url=self.base_url,
            default_from=self.config.default_from,
            pf_id=self._pf_id(group, False),
            image_ids=image_ids,
            auth=self.auth(),
        )
        body = self._call(req, send=True)
        return _parse_send_response(body, group, self.id)

    def send(self, messages: Sequence[Message]) -> list[SendResult]:
        return in_order(messages, run_calls(self._groups(messages), self._send_group))

    def preview(self, messages: Sequence[Message]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for group in self._groups(messages):
            image_ids: dict[str, str] = {}
            for m in group:
                if m.type is MessageType.MMS:
                    name, data, _ = read_image(m)
                    upload = _build_upload_request(name, data, base_url=self.base_url, auth=None)
                    doc = upload.preview(self.id)
                    doc["headers"]["Authorization"] = MASK
                    doc["body"]["file"] = f"<base64 of {name}, {len(data)} bytes>"
                    out.append(doc)
                    image_ids[m.message_id] = "<fileId from the upload>"
            req = _build_send_request(
                group,
                base_url=self.base_url,
                default_from=self.config.default_from,
                pf_id=self._pf_id(group, True),
                image_ids=image_ids,
                auth=None,
            )
            doc = req.preview(self.id)
            doc["headers"]["Authorization"] = MASK
            out.append(doc)
        return out

    def status(self, queries: Sequence[StatusQuery]) -> list[StatusReport]:
        reports: dict[str, StatusReport] = {}
        with_id = [q for q in queries if q.provider_message_id]
        batches: list[list[StatusQuery]] = [
            with_id[i : i + STATUS_CHUNK] for i in range(0, len(with_id), STATUS_CHUNK)
        ]
        by_group: dict[str, list[StatusQuery]] = {}
        for q in queries:
            if not q.provider_message_id and q.group_id:
                by_group.setdefault(q.group_id, []).append(q)
        batches.extend(by_group.values())
        batches.extend([q] for q in queries if not q.provider_message_id and not q.group_id)
        for batch in batches:
            req = _build_status_request(batch, base_url=self.base_url, auth=self.auth())
            for report in _parse_status_response(self._call(req, send=False), batch):
                reports[report.message_id] = report
        return [reports[q.message_id] for q in queries]

    def balance(self) -> Balance:
        req = Req("GET", join_url(self.base_url, "/cash/v1/balance"), auth=self.auth())
        return _parse_balance(self._call(req, send=False), self.id)

    def cancel(self, group_id: str) -> None:
        url = join_url(self.base_url, f"/messages/v4/groups/{group_id}/schedule")
        self.transport.call(Req("DELETE", url, auth=self.auth()), send=False, parse=lambda r: None)

    def check(self) -> None:
        self.balance()
