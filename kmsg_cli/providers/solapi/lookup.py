"""What SOLAPI says about messages already sent, as pure functions (docs/providers.md#solapi):
status checks for tracking, and the search by ``customFields.kmsgId`` for a send whose answer
was lost (the list endpoint, by date, never by a window a skewed clock could cut)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import httpx

from kmsg_cli.core.models import SendResult, Status, StatusQuery, StatusReport
from kmsg_cli.errors import Unavailable
from kmsg_cli.providers.base import as_str, int_code
from kmsg_cli.providers.http import Req, join_url
from kmsg_cli.providers.kst import iso_utc, parse_iso_utc
from kmsg_cli.providers.scrub import scrub
from kmsg_cli.providers.skew import SOLAPI_MARGIN_MS, window_start
from kmsg_cli.providers.solapi.build import _row_id, _rows, normalize_status, row_error_class

STATUS_CHUNK = 100
LIST_LIMIT = 500  # rows per /messages/v4/list page when reconciling (no documented maximum)


def _build_status_request(
    queries: Sequence[StatusQuery],
    *,
    base_url: str,
    auth: httpx.Auth | None,
    offset_ms: int | None = None,
) -> Req:
    """By message ids when known; else by group; else by recipient + time window (TRK-7), which
    starts early enough for any clock difference SOLAPI accepts (``providers.skew``) and has no
    endDate: it ends at "now" on SOLAPI's clock."""
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
            "startDate": iso_utc(window_start(q.requested_at, offset_ms, SOLAPI_MARGIN_MS)),
        }
    return Req("GET", url, params=params, auth=auth)


REPLACED = "AlimTalk not delivered: SOLAPI sent the replacement SMS/LMS"


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
    message = _status_text(row.get("statusMessage") or row.get("reason") or "")
    if row.get("replacement") is True or int_code(row.get("resendCount")):
        # SOLAPI's own failover sent the replacement SMS/LMS: the row's status is then that
        # message's (docs/providers.md#solapi-status-lookup)
        message = f"{message} ({REPLACED})" if message else REPLACED
    return StatusReport(q.message_id, normalize_status(code), code, message, at)


def _status_text(text: object) -> str:
    """``scrub`` of a status message: a few distinct texts over thousands of rows."""
    return _scrubbed(text) if isinstance(text, str) else scrub(text)


@functools.lru_cache(maxsize=512)
def _scrubbed(text: str) -> str:
    return scrub(text)


def _parse_status_response(body: Any, queries: Sequence[StatusQuery]) -> list[StatusReport]:
    rows = _rows(body.get("messageList")) if isinstance(body, dict) else []
    by_mid = {as_str(r.get("messageId")): r for r in rows}
    by_own = (  # only a query without a provider id is matched by our own id
        {own: r for r in rows if (own := _row_id(r))}
        if not all(q.provider_message_id for q in queries)
        else {}
    )
    return [
        _report(
            q,
            by_mid.get(q.provider_message_id)
            if q.provider_message_id
            else by_own.get(q.message_id),
        )
        for q in queries
    ]


def _build_received_request(
    since_ms: int,
    *,
    base_url: str,
    auth: httpx.Auth | None,
    start_key: str | None = None,
    offset_ms: int | None = None,
) -> Req:
    """One page of every message created since ``since_ms`` on our clock, i.e. since 16 minutes
    earlier on SOLAPI's (its 15-minute signature window plus slack; more when ``offset_ms`` says
    SOLAPI is behind). No endDate: the window ends at "now" on SOLAPI's clock, so a skewed local
    clock cannot cut it."""
    params: dict[str, Any] = {
        "dateType": "CREATED",
        "startDate": iso_utc(window_start(since_ms, offset_ms, SOLAPI_MARGIN_MS)),
        "limit": LIST_LIMIT,
    }
    if start_key:
        params["startKey"] = start_key
    return Req("GET", join_url(base_url, "/messages/v4/list"), params=params, auth=auth)


def _received_result(message_id: str, row: dict[str, Any]) -> SendResult:
    """A stored row as the send result it stands for: FAILED with its class when rejected at
    registration (1xxx), else accepted (SENT once handed to the carrier, PENDING otherwise, as
    ``_parse_send_response``). A 2xxx/3xxx failure came after SOLAPI accepted the message (an
    AlimTalk to a non-KakaoTalk user: 3104): it is accepted, never sent again, and tracking
    records how it ended (and fails it over)."""
    code = as_str(row.get("statusCode"))
    status = normalize_status(code)
    if status is Status.FAILED and not code.startswith("1"):
        status = Status.SENT
    failed = status is Status.FAILED
    error = scrub(row.get("statusMessage") or row.get("reason") or "") if failed else ""
    return SendResult(
        message_id,
        status if status in (Status.FAILED, Status.SENT) else Status.PENDING,
        provider_message_id=as_str(row.get("messageId")),
        group_id=as_str(row.get("groupId")) or None,
        code=code or None,
        error=error or None,
        error_class=row_error_class(code) if failed else None,
    )


def _parse_received_page(
    body: Any, wanted: set[str], provider_id: str = "solapi"
) -> tuple[list[SendResult], str | None]:
    """The rows of one list page that carry one of our ``wanted`` ids, and the next page's key.
    An answer without a message list raises: an empty reading must never pass for absence."""
    rows = body.get("messageList") if isinstance(body, dict) else None
    if not isinstance(rows, dict | list):
        raise Unavailable(f"{provider_id}: unexpected message list answer", provider_id=provider_id)
    found = [_received_result(own, row) for row in _rows(rows) if (own := _row_id(row)) in wanted]
    return found, as_str(body.get("nextKey")) or None
