"""The message model (parity with k-msg's SendInput) and the normalized results adapters return."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from kmsg_cli.errors import InputError

T = TypeVar("T")


def evolve(obj: T, **changes: Any) -> T:
    """``dataclasses.replace`` for the per-row path: a copy with ``changes``, without running
    ``__init__`` again (about ten times faster). Only for objects that are already valid and
    fields that need no checking."""
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__, **changes)
    return new


class MessageType(StrEnum):
    SMS = "SMS"
    LMS = "LMS"
    MMS = "MMS"
    ALIMTALK = "ALIMTALK"
    BRAND = "BRAND"  # Kakao brand message, FriendTalk's successor (SOLAPI BMS_FREE)
    FRIENDTALK = "FRIENDTALK"  # Kakao's older free-form ad message (Aligo)

    @classmethod
    def parse(cls, value: str) -> MessageType:
        try:
            return cls(value.strip().upper())
        except ValueError:
            valid = ", ".join(t.value for t in cls)
            raise InputError(f"unknown message type {value!r}: use one of {valid}") from None


TEXT_TYPES = frozenset({MessageType.SMS, MessageType.LMS, MessageType.MMS})
# free-form KakaoTalk messages: advertising by nature, sent only 08:00-20:50 KST
# (docs/providers.md#brand-messages)
KAKAO_AD_TYPES = frozenset({MessageType.BRAND, MessageType.FRIENDTALK})
# the types that carry buttons (docs/providers.md#buttons)
BUTTON_TYPES = KAKAO_AD_TYPES | {MessageType.ALIMTALK}


@dataclass(frozen=True)
class Button:
    """A KakaoTalk button: ``type`` is Kakao's link type (WL web link, AL app link, AC add channel,
    BK bot keyword, MD message delivery, DS delivery tracking, BC/BT consultation/bot, BF form)."""

    name: str
    type: str = ""
    link_mo: str = ""
    link_pc: str = ""
    link_ios: str = ""
    link_and: str = ""

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}


class Status(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    UNKNOWN = "UNKNOWN"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({Status.DELIVERED, Status.FAILED, Status.CANCELLED, Status.UNKNOWN})


class SendState(StrEnum):
    """Where one send attempt stands (``kmsg_delivery_tracking.send_state``); the delivery ledger
    (core/ledger.py) holds the allowed transitions and decides from these."""

    PLANNED = "planned"  # held in the local queue for a later time; not handed to a provider
    IN_FLIGHT = "in_flight"  # written before the provider call; if it stays so, its process died
    ACCEPTED = "accepted"
    REFUSED = "refused"  # provably not accepted: never left, connection refused, 429, 503, auth
    REJECTED = "rejected"  # the provider answered no for this message
    UNKNOWN = "unknown"  # the request may have arrived: only settlement moves it on


@dataclass(frozen=True)
class Failover:
    """ALIMTALK -> SMS/LMS fallback request. ``channel`` None means: SMS or LMS by bytes."""

    enabled: bool
    text: str | None = None
    subject: str | None = None
    channel: str | None = None

    @classmethod
    def asked(
        cls, enabled: bool, text: str | None, subject: str | None, channel: str | None
    ) -> Failover | None:
        """``--failover``, or any ``--fallback-*`` option: a fallback text is a request for the
        fallback, so it takes effect (FO-7) instead of being dropped without ``--failover``."""
        if not enabled and text is None and subject is None and channel is None:
            return None
        return cls(True, text, subject, channel)


@dataclass(frozen=True)
class Message:
    """A validated, rendered message to exactly one recipient. Times are epoch milliseconds."""

    message_id: str
    type: MessageType
    to: str
    sender: str | None
    text: str
    subject: str | None = None
    image: str | None = None
    template_id: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    scheduled_at: int | None = None
    failover: Failover | None = None
    # "native" when the provider fails over itself, "api" when kmsg's tracking does, None: no failover
    failover_mode: str | None = None
    idempotency_key: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    ad: bool = False
    job_id: str | None = None  # the campaign (send-bulk) or queue job it belongs to
    fallback_of: str | None = None  # for an API-failover SMS: the original ALIMTALK's id
    fingerprint: str | None = None  # what the idempotency key stands for (core/ledger.py)
    buttons: tuple[Button, ...] = ()  # ALIMTALK, BRAND, FRIENDTALK (core/buttons.py)


@dataclass(frozen=True)
class SendResult:
    """The provider's answer for one message of a call. FAILED rows carry code and error class."""

    message_id: str
    status: Status
    provider_message_id: str = ""
    group_id: str | None = None
    code: str | None = None
    error: str | None = None
    error_class: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status is not Status.FAILED


@dataclass(frozen=True)
class StatusQuery:
    message_id: str
    provider_message_id: str
    to: str
    type: MessageType
    requested_at: int
    group_id: str | None = None


@dataclass(frozen=True)
class StatusReport:
    """What the provider says now. ``status`` None: code not recognized, keep polling (TRK-15)."""

    message_id: str
    status: Status | None
    code: str | None = None
    message: str | None = None
    at: int | None = None


@dataclass(frozen=True)
class Balance:
    amount: float
    unit: str  # "KRW" or "messages" (Aligo counts messages)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    """One row of kmsg_delivery_tracking as the rest of kmsg sees it (times in epoch ms): one
    attempt at sending one logical message (``idempotency_key``, ``attempt``; core/ledger.py)."""

    message_id: str
    provider_id: str
    provider_message_id: str
    type: MessageType
    to: str
    sender: str | None
    status: Status
    provider_status_code: str | None
    provider_status_message: str | None
    sent_at: int | None
    delivered_at: int | None
    failed_at: int | None
    requested_at: int
    scheduled_at: int | None
    status_updated_at: int
    attempt_count: int
    last_checked_at: int | None
    next_check_at: int
    last_error: dict[str, Any] | None
    metadata: dict[str, Any]
    idempotency_key: str | None
    send_state: SendState
    group_id: str | None
    failover_mode: str | None
    fallback_of: str | None
    fallback_message_id: str | None
    job_id: str | None
    attempt: int = 1
    fingerprint: str | None = None
    # the provider's clock minus ours when it answered this attempt (its Date header), if known
    provider_clock_offset_ms: int | None = None


@dataclass(frozen=True)
class HistoryEntry:
    at: int
    status: Status | None
    code: str | None
    message: str | None
    source: str  # "send", "check", "failover", "kmsg"


@dataclass(frozen=True)
class Job:
    """A row of kmsg_jobs. ``status``: pending, processing, completed, failed (dead), cancelled."""

    id: str
    type: str
    data: dict[str, Any]
    status: str
    priority: int
    attempts: int
    max_attempts: int
    created_at: int
    process_at: int
    completed_at: int | None = None
    failed_at: int | None = None
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    claimed_by: str | None = None
    lease_until: int | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Campaign:
    """A send-bulk campaign, a row of kmsg_campaigns. ``state``: running, stopped (state saved,
    resumable), refused (nothing sent this time), done."""

    id: str
    source: str  # the CSV path (a copy of stdin is kept beside the database)
    spec: dict[str, Any]
    state: str
    owner: str | None
    heartbeat_at: int | None
    created_at: int
    updated_at: int
    counts: dict[str, int] = field(default_factory=dict)
