"""Delivery-tracking rules, pure: what one status check does to a record, when tracking gives up,
and when an ALIMTALK fails over to SMS/LMS through the API (docs/tracking.md). No I/O here: the
pass (core/track.py) feeds these functions and the store applies the result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kmsg_cli.core.compose import fallback_type
from kmsg_cli.core.models import (
    Failover,
    HistoryEntry,
    Message,
    MessageType,
    Record,
    Status,
    StatusReport,
)
from kmsg_cli.core.schedule import Schedule

TIMEOUT_CODE = "TRACKING_TIMEOUT"
FALLBACK_SUFFIX = ":api-fallback"
# intent states (FO-3): pending -> sending -> sent | failed | skipped
PENDING, SENDING, SENT, FAILED, SKIPPED = "pending", "sending", "sent", "failed", "skipped"

# Non-terminal statuses only move forward; a terminal one never moves at all (TRK-3, TRK-20).
_PROGRESS = {Status.PENDING: 0, Status.SENT: 1}


@dataclass(frozen=True)
class NotKakaoRule:
    """One provider type's "recipient is not a KakaoTalk user" rule
    (docs/providers.md#not-a-kakaotalk-user)."""

    codes: frozenset[str] = frozenset()
    any_text: tuple[str, ...] = ()  # the status message contains one of these
    all_text: tuple[str, ...] = ()  # "code name" contains every one of these

    def matches(self, code: str | None, message: str | None) -> bool:
        code, message = code or "", message or ""
        if code in self.codes:
            return True
        if any(t in message for t in self.any_text):
            return True
        both = f"{code} {message}"
        return bool(self.all_text) and all(t in both for t in self.all_text)


BUILTIN_NOT_KAKAO: dict[str, NotKakaoRule] = {
    "solapi": NotKakaoRule(frozenset({"3104", "3107"}), any_text=("미사용자",)),
    "iwinv": NotKakaoRule(all_text=("카카오", "미사용")),
    "aligo": NotKakaoRule(),  # no verified code yet: config adds them
    "mock": NotKakaoRule(frozenset({"MOCK_3104"})),
}


def not_kakao_user(
    kind: str,
    code: str | None,
    message: str | None,
    extra: Mapping[str, Sequence[str]] | None = None,
    provider_id: str | None = None,
) -> bool:
    """The built-in rule for the provider type, plus codes from ``[tracking] not_kakao_user_codes``
    keyed by provider type (or by provider id). Config extends the table, never replaces it (FO-10)."""
    if BUILTIN_NOT_KAKAO.get(kind, NotKakaoRule()).matches(code, message):
        return True
    extra = extra or {}
    added = {*extra.get(kind, ()), *(extra.get(provider_id, ()) if provider_id else ())}
    return code is not None and code in added


def detects_not_kakao(
    kind: str, extra: Mapping[str, Sequence[str]] | None = None, provider_id: str | None = None
) -> bool:
    """Can any status of this provider say "not a KakaoTalk user"? If not, API failover never
    fires for it (docs/providers.md#native-failover-switches)."""
    rule = BUILTIN_NOT_KAKAO.get(kind, NotKakaoRule())
    if rule.codes or rule.any_text or rule.all_text:
        return True
    extra = extra or {}
    return bool(extra.get(kind) or (provider_id and extra.get(provider_id)))


@dataclass(frozen=True)
class Check:
    """What one check does to one claimed record: the final column values and the history rows.

    ``checked_at`` None means it was not a check at all (not yet due, provider paused): no attempt,
    no history (TRK-13)."""

    message_id: str
    previous: Status
    status: Status
    code: str | None
    message: str | None
    attempts: int
    next_check_at: int
    checked_at: int | None
    delivered_at: int | None
    failed_at: int | None
    last_error: dict[str, Any] | None
    history: tuple[HistoryEntry, ...] = ()
    failover: bool = False  # write a failover intent in the same transaction (FO-1)
    timed_out: bool = False

    @property
    def changed(self) -> bool:
        return self.status is not self.previous

    @property
    def finished(self) -> bool:
        return self.status.terminal


Jitter = Callable[[int], int]


def no_jitter(_wait_ms: int) -> int:
    return 0


def merge(current: Status, reported: Status | None) -> Status:
    """The status after a report: terminal is final, SENT never goes back to PENDING, and an
    unrecognized report (None) changes nothing (TRK-3, TRK-15)."""
    if current.terminal or reported is None:
        return current
    if reported.terminal:
        return reported
    return reported if _PROGRESS[reported] >= _PROGRESS[current] else current


def next_check(
    schedule: Schedule, record: Record, attempts: int, now: int, jitter: Jitter = no_jitter
) -> int:
    """The backoff after the ``attempts``-th check, never past the deadline: the last check falls
    just after 24 h, so that final query happens before UNKNOWN (TRK-8, TRK-9)."""
    wait = schedule.next_check(attempts, now) - now
    when = now + wait + max(0, jitter(wait))
    deadline = schedule.tracking_start(record.requested_at, record.scheduled_at)
    deadline += schedule.max_duration_s * 1000 + 1
    return min(when, max(deadline, now + 1))


def not_yet_due(record: Record, now: int, schedule: Schedule) -> Check | None:
    """A scheduled send is not asked about before its time + grace; that is no attempt (TRK-13)."""
    start = schedule.tracking_start(record.requested_at, record.scheduled_at)
    if record.scheduled_at is None or now >= start:
        return None
    return _unchanged(record, next_check_at=start)


def deferred(record: Record, until: int) -> Check:
    """The provider asked us to wait (Retry-After): not a check, just later (TRK-11)."""
    return _unchanged(record, next_check_at=until)


def _unchanged(record: Record, *, next_check_at: int) -> Check:
    return Check(
        record.message_id,
        record.status,
        record.status,
        record.provider_status_code,
        record.provider_status_message,
        0,
        next_check_at,
        None,
        record.delivered_at,
        record.failed_at,
        record.last_error,
    )


@dataclass(frozen=True)
class Rules:
    schedule: Schedule
    kind: str  # the provider's type, for the not-a-KakaoTalk-user table
    extra_not_kakao: Mapping[str, Sequence[str]]
    jitter: Jitter = no_jitter


def apply_report(record: Record, report: StatusReport, now: int, rules: Rules) -> Check:
    """One provider answer applied to one record: monotonic status, the raw code kept, the 24 h
    timeout right after this (final) query, and whether an API failover is due."""
    status = merge(record.status, report.status)
    at = report.at or now
    attempts = record.attempt_count + 1
    history = [HistoryEntry(now, report.status, report.code, report.message, "check")]
    last_error = record.last_error
    timed_out = False
    if not status.terminal and rules.schedule.timed_out(
        record.requested_at, record.scheduled_at, now
    ):
        status, timed_out = Status.UNKNOWN, True
        last_error = {"code": TIMEOUT_CODE, "message": "tracking timeout"}
        history.append(HistoryEntry(now, status, TIMEOUT_CODE, "tracking timeout", "kmsg"))
    failover = status is Status.FAILED and wants_failover(record, report, rules)
    return Check(
        record.message_id,
        record.status,
        status,
        report.code,
        report.message,
        1,
        next_check(rules.schedule, record, attempts, now, rules.jitter),
        now,
        at if status is Status.DELIVERED and record.delivered_at is None else record.delivered_at,
        at if status is Status.FAILED and record.failed_at is None else record.failed_at,
        last_error,
        tuple(history),
        failover=failover,
        timed_out=timed_out,
    )


def apply_error(record: Record, code: str, message: str, now: int, rules: Rules) -> Check:
    """A failed lookup: the record stays as it is and is asked again later; a lookup error never
    finalizes a record, not even past 24 h (TRK-1, TRK-10)."""
    attempts = record.attempt_count + 1
    return Check(
        record.message_id,
        record.status,
        record.status,
        record.provider_status_code,
        record.provider_status_message,
        1,
        next_check(rules.schedule, record, attempts, now, rules.jitter),
        now,
        record.delivered_at,
        record.failed_at,
        {"code": code, "message": message},
        (HistoryEntry(now, None, code, message, "check"),),
    )


def wants_failover(record: Record, report: StatusReport, rules: Rules) -> bool:
    """API failover: ALIMTALK, decided "api" at send time (never on top of the provider's own,
    FO-5), turned FAILED now, classified not-a-KakaoTalk-user, with a fallback to send, once."""
    return (
        record.type is MessageType.ALIMTALK
        and record.failover_mode == "api"
        and not record.status.terminal
        and report.status is Status.FAILED
        and record.fallback_message_id is None
        and record.fallback_of is None
        and failover_request(record) is not None
        and not_kakao_user(
            rules.kind, report.code, report.message, rules.extra_not_kakao, record.provider_id
        )
    )


def failover_request(record: Record) -> Failover | None:
    """The fallback asked for at send time (metadata["failover"]), None once cleared (PII-5)."""
    req = record.metadata.get("failover")
    if not isinstance(req, dict) or not req.get("text"):
        return None
    return Failover(True, req.get("text"), req.get("subject"), req.get("channel"))


def fallback_id(original_id: str) -> str:
    """Deterministic (k-msg parity), so a retried failover meets the ledger, never a resend."""
    return original_id + FALLBACK_SUFFIX


class FailoverSkipped(Exception):
    """The fallback cannot be built; the intent ends ``skipped`` with this code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def fallback_message(original: Record) -> Message:
    """The SMS/LMS that replaces a failed ALIMTALK: type by the channel asked for or by bytes
    (FO-6), from the original's recorded sender (FO-7), linked back to the original (FO-9)."""
    fo = failover_request(original)
    if fo is None:
        raise FailoverSkipped("FALLBACK_CONTENT_MISSING", "no fallback text recorded")
    if not original.sender:
        raise FailoverSkipped("API_FAILOVER_SENDER_MISSING", "the original has no sender number")
    kind = fallback_type(fo)
    mid = fallback_id(original.message_id)
    return Message(
        message_id=mid,
        type=kind,
        to=original.to,
        sender=original.sender,
        text=fo.text or "",
        subject=fo.subject if kind is MessageType.LMS else None,
        idempotency_key=mid,
        fallback_of=original.message_id,
    )
