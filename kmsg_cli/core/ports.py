"""Protocols the adapters satisfy. Core and the service depend on these, never on an adapter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from kmsg_cli.core.models import (
    Balance,
    Message,
    MessageType,
    SendResult,
    StatusQuery,
    StatusReport,
)


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

    def send(self, messages: Sequence[Message]) -> list[SendResult]:
        """Send up to ``max_batch`` messages in one call; one result per message, same ids."""
        ...

    def preview(self, messages: Sequence[Message]) -> list[dict[str, Any]]:
        """The exact requests ``send`` would make, secrets masked (for --dry-run)."""
        ...

    def status(self, queries: Sequence[StatusQuery]) -> list[StatusReport]: ...

    def balance(self) -> Balance: ...

    def cancel(self, group_id: str) -> None: ...

    def check(self) -> None:
        """One authenticated read-only call (providers doctor); raises ProviderError."""
        ...
