"""Protocols the adapters satisfy. Core and the service depend on these, never on an adapter."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kmsg_cli.core.models import (
    Balance,
    Message,
    MessageType,
    SendResult,
    StatusQuery,
    StatusReport,
)
from kmsg_cli.core.schedule import Schedule
from kmsg_cli.core.templates import Lookup
from kmsg_cli.errors import KmsgError

# An unanswered attempt is settled (its provider asked whether it has it) only once it is this old,
# so a provider still working on a slow or abandoned request is never asked too early.
SETTLE_AFTER_MS = 60_000
# An in-flight attempt older than this belongs to a process that died: no call lasts this long.
IN_FLIGHT_GRACE_MS = 10 * 60 * 1000


class Clock(Protocol):
    def now_ms(self) -> int: ...

    def sleep(self, seconds: float) -> None: ...


class Provider(Protocol):
    """One configured provider. Whole-call failures raise kmsg_cli.errors.ProviderError subclasses;
    per-message rejections come back as FAILED SendResults."""

    id: str
    kind: str  # "mock", "solapi", "iwinv", "aligo"
    types: frozenset[MessageType]
    max_batch: int
    native_failover: bool  # can fail ALIMTALK over to SMS itself
    native_schedule: bool  # accepts scheduled_at

    @property
    def clock_offset_ms(self) -> int | None:
        """The provider's clock minus ours in ms, by the ``Date`` of its latest response (about
        1 s resolution); None until one was seen. Worth storing with an attempt: it says how the
        provider's timestamps relate to ours when that attempt is settled later."""
        ...

    def send(self, messages: Sequence[Message]) -> list[SendResult]:
        """Send up to ``max_batch`` messages in one call; one result per message, same ids."""
        ...

    def preview(self, messages: Sequence[Message]) -> list[dict[str, Any]]:
        """The exact requests ``send`` would make, secrets masked (for --dry-run)."""
        ...

    def status(self, queries: Sequence[StatusQuery]) -> list[StatusReport]: ...

    def balance(self) -> Balance: ...

    def cancel(self, group_id: str) -> None: ...

    def received(self, messages: Sequence[Message], since_ms: int) -> dict[str, SendResult] | None:
        """Which of these messages the provider has, for reconciling sends whose answer was lost
        (the process died or timed out mid-call). message_id -> SendResult for each one it has (the
        provider's id, group, status); messages absent from the dict provably did not reach it.
        None: this provider cannot tell, so the outcome stays unknown."""
        ...

    def check(self) -> None:
        """One authenticated read-only call (providers doctor); raises ProviderError."""
        ...


class JournalStore(Protocol):
    """The part of the store the send use case needs (kmsg_cli.store.Store satisfies it)."""

    def begin_attempts(
        self, routed: Sequence[tuple[Message, str]], now: int, *, state: str = "in_flight"
    ) -> dict[str, Any]:
        """message_id -> the ledger's Decision; the attempts it allows are written."""
        ...

    def reroute(self, message_ids: Sequence[str], provider_id: str) -> None: ...

    def record_results(
        self,
        results: Sequence[SendResult],
        now: int,
        next_checks: dict[str, int],
        offset: int | None = None,
    ) -> None:
        """``offset``: the provider's clock minus ours when it answered, kept with each attempt."""
        ...

    def record_call_error(
        self,
        message_ids: Sequence[str],
        error: KmsgError,
        now: int,
        next_check: int,
        offset: int | None = None,
    ) -> None: ...

    def advance_cursor(self, key: str, size: int) -> int: ...

    def suppressed(self, numbers: Iterable[str]) -> set[str]: ...


@dataclass
class Env:
    """What the use cases need from the outside world, injected by the composition root."""

    clock: Clock
    store: Callable[[], JournalStore]
    provider: Callable[[str], Provider]  # builds (and resolves secrets) on first use
    capabilities: Mapping[str, frozenset[MessageType]]
    default_senders: Mapping[str, str | None]
    native_failover: Mapping[str, bool]
    # provider id -> kmsg can fail over through the API (its status says "not a KakaoTalk user");
    # absent: assumed it can
    api_failover: Mapping[str, bool] = field(default_factory=dict)
    kinds: Mapping[str, str] = field(default_factory=dict)  # provider id -> type ("solapi", ...)
    # provider id -> (min, max) seconds ahead it holds a scheduled send itself; absent: it does not
    schedule_windows: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    routing_default: str | None = None
    routing_strategy: str = "first"
    routing_by_type: Mapping[str, str | list[str]] = field(default_factory=dict)
    auto_lms_bytes: int = 90
    prices: Mapping[str, float] = field(default_factory=dict)
    schedule: Schedule = field(default_factory=Schedule)
    warn: Callable[[str], None] = lambda _msg: None
    # registered templates and senders (cache, else the provider): None checks nothing
    templates: Lookup | None = None
    # settlement timing (core/settle.py): how old an unanswered attempt must be before its
    # provider is asked about it, and how long an in-flight attempt may belong to a live process
    settle_after_ms: int = SETTLE_AFTER_MS
    in_flight_grace_ms: int = IN_FLIGHT_GRACE_MS
