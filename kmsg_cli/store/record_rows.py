"""kmsg_delivery_tracking's rows as the mixins that read and write them share them: the column
list, the terminal statuses, a Message as a new or promoted attempt row, a row back as a Record,
and the WHERE clause of the record filters (``list_records``, ``counts``). No query runs here."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from kmsg_cli.core import jsontext
from kmsg_cli.core.models import Message, MessageType, Record, SendState, Status
from kmsg_cli.core.ports import IN_FLIGHT_GRACE_MS

TERMINAL_SQL = "('DELIVERED','FAILED','CANCELLED','UNKNOWN')"

RECORD_COLUMNS = (
    '"message_id","provider_id","provider_message_id","type","to","from","status",'
    '"provider_status_code","provider_status_message","sent_at","delivered_at","failed_at",'
    '"requested_at","scheduled_at","status_updated_at","attempt_count","last_checked_at",'
    '"next_check_at","last_error","metadata","idempotency_key","send_state","group_id",'
    '"failover_mode","fallback_of","fallback_message_id","job_id","attempt","fingerprint",'
    '"provider_clock_offset_ms"'
)


def filters(
    since: int | None = None,
    status: str | None = None,
    type: str | None = None,
    provider: str | None = None,
    job: str | None = None,
    to: str | None = None,
    until: int | None = None,
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in (
        ('"status"', status),
        ('"type"', type),
        ('"provider_id"', provider),
        ('"job_id"', job),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    if to is not None:  # one number, or several joined by commas (numbers never hold one)
        numbers = to.split(",")
        clauses.append(f'"to" IN ({",".join("?" * len(numbers))})')
        args.extend(numbers)
    if since is not None:
        clauses.append('"requested_at" >= ?')
        args.append(since)
    if until is not None:
        clauses.append('"requested_at" < ?')
        args.append(until)
    return ("WHERE " + " AND ".join(clauses) if clauses else "", args)


def _metadata(m: Message) -> str | None:
    if m.failover is None:
        return jsontext.dumps(m.metadata) if m.metadata else None
    failover = {
        "channel": m.failover.channel,
        "text": m.failover.text,
        "subject": m.failover.subject,
    }
    return jsontext.dumps({**m.metadata, "failover": failover})


def attempt_row(
    m: Message, provider_id: str, now: int, attempt: int, state: str
) -> tuple[Any, ...]:
    # a planned row is not due for tracking: the queue job that sends it sets the real check time
    next_check = now + IN_FLIGHT_GRACE_MS if state == "in_flight" else (m.scheduled_at or now)
    return (
        m.message_id,
        provider_id,
        m.type.value,
        m.to,
        m.sender,
        now,
        m.scheduled_at,
        now,
        next_check,
        _metadata(m),
        m.idempotency_key,
        state,
        m.failover_mode,
        m.fallback_of,
        m.job_id,
        attempt,
        m.fingerprint,
    )


def promote_row(m: Message, provider_id: str, now: int) -> tuple[Any, ...]:
    return (
        provider_id,
        m.type.value,
        m.sender,
        now,
        m.scheduled_at,
        now,
        now + IN_FLIGHT_GRACE_MS,
        _metadata(m),
        m.failover_mode,
        m.message_id,
    )


def record_from_row(row: Sequence[Any]) -> Record:
    """A Record from a row of RECORD_COLUMNS (the Record's own field order). Built without running
    the frozen dataclass's __init__ (a third of the cost of claiming a record to track): a row of
    the table is already a valid Record once its enums and JSON are decoded."""
    values = dict(zip(_RECORD_FIELDS, row, strict=True))
    values["type"] = _TYPES.get(values["type"]) or MessageType(values["type"])
    values["status"] = _STATUSES.get(values["status"]) or Status(values["status"])
    state = values["send_state"]
    values["send_state"] = _SEND_STATES.get(state) or SendState(state)
    last_error, metadata = values["last_error"], values["metadata"]
    values["last_error"] = json.loads(last_error) if last_error else None
    values["metadata"] = json.loads(metadata) if metadata else {}
    record = object.__new__(Record)
    record.__dict__.update(values)
    return record


_RECORD_FIELDS = tuple(f.name for f in fields(Record))
assert len(_RECORD_FIELDS) == RECORD_COLUMNS.count(",") + 1  # one column per field, in order
_TYPES = {t.value: t for t in MessageType}
_STATUSES = {s.value: s for s in Status}
_SEND_STATES = {s.value: s for s in SendState}
