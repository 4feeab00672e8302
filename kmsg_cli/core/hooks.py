"""Delivery events out (docs/hooks.md): what an event says, how a webhook body is signed, and the
delivery step that runs after a tracking pass.

An event is written by the store in the transaction that records its state change (a final status,
a finished failover), one row per target, under an id made of its kind and message id: it exists
iff the change does, and can never be enqueued twice. Delivery claims one event at a time with a
lease a little longer than one delivery may take, so a killed process's event comes back; a
delivery that fails is retried with backoff. A receiver may see an event twice (the process died
after the receiver had it, before kmsg recorded that), never two events for one change: it drops
a repeat by ``event_id``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kmsg_cli.core.models import Record
from kmsg_cli.core.ports import Clock
from kmsg_cli.core.times import iso

VERSION = 1
FINAL, FAILOVER = "final", "failover"
COMMAND, WEBHOOK = "command", "webhook"
# which targets get which kinds: the command is on_final, the webhook gets every event
KINDS = {COMMAND: frozenset({FINAL}), WEBHOOK: frozenset({FINAL, FAILOVER})}
# event states: pending -> sending -> delivered | failed (gave up after max_attempts)
PENDING, SENDING, DELIVERED, GAVE_UP = "pending", "sending", "delivered", "failed"
LEASE_MARGIN_MS = 2_000  # beyond the delivery timeout, before another process may take it over
SIGNATURE_HEADER = "X-Kmsg-Signature"
EVENT_ID_HEADER = "X-Kmsg-Event-Id"
TIMESTAMP_HEADER = "X-Kmsg-Timestamp"


def event_id(kind: str, message_id: str) -> str:
    """Deterministic: the same change always has the same id, which is what a receiver dedupes by."""
    return f"{kind}:{message_id}"


def targets_for(kind: str, configured: Sequence[str]) -> list[str]:
    return [t for t in configured if kind in KINDS.get(t, frozenset())]


def _message(r: Record) -> dict[str, Any]:
    # the recipient in full: the receiver is the user's own system (docs/hooks.md#privacy)
    return {
        "id": r.message_id,
        "provider": r.provider_id,
        "provider_message_id": r.provider_message_id or None,
        "type": r.type.value,
        "to": r.to,
        "from": r.sender,
        "status": r.status.value,
        "code": r.provider_status_code,
        "status_message": r.provider_status_message,
        "requested_at": iso(r.requested_at),
        "delivered_at": iso(r.delivered_at),
        "failed_at": iso(r.failed_at),
        "idempotency_key": r.idempotency_key,
        "job_id": r.job_id,
        "fallback_of": r.fallback_of,
    }


def _envelope(kind: str, message_id: str, at: int) -> dict[str, Any]:
    return {
        "version": VERSION,
        "event_id": event_id(kind, message_id),
        "kind": kind,
        "occurred_at": iso(at),
        "occurred_at_ms": at,
    }


def final_event(record: Record, at: int, *, failover_pending: bool = False) -> dict[str, Any]:
    """The message reached DELIVERED, FAILED, UNKNOWN (tracking gave up) or CANCELLED."""
    doc = _envelope(FINAL, record.message_id, at)
    doc["message"] = _message(record)
    doc["failover_pending"] = failover_pending
    return doc


def failover_event(
    original: Record, fallback_id: str, state: str, error: str | None, at: int
) -> dict[str, Any]:
    """The failover of ``original`` finished: ``state`` sent (the fallback is on its way; its own
    final event follows), failed or skipped."""
    doc = _envelope(FAILOVER, original.message_id, at)
    doc["message"] = _message(original)
    doc["fallback"] = {"id": fallback_id, "state": state, "error": error}
    return doc


def body(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def signature(secret: str, raw: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the raw body, as the receiver recomputes it."""
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def webhook_headers(secret: str, eid: str, raw: bytes, now_ms: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        SIGNATURE_HEADER: signature(secret, raw),
        EVENT_ID_HEADER: eid,
        TIMESTAMP_HEADER: str(now_ms // 1000),
    }


@dataclass(frozen=True)
class HookEvent:
    """One row of kmsg_hook_events: one event for one target."""

    event_id: str
    target: str
    kind: str
    message_id: str
    payload: str
    state: str
    attempts: int
    created_at: int
    next_attempt_at: int
    delivered_at: int | None = None
    exit_status: int | None = None
    last_error: str | None = None


class HookFailed(Exception):
    """A delivery did not succeed; ``exit_status`` is the command's, when it ran."""

    def __init__(self, message: str, exit_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_status = exit_status


class Sink(Protocol):
    """Delivers one event (its JSON body) to one target; raises HookFailed. Returns the command's
    exit status (0), or None for a webhook."""

    def deliver(self, event_id: str, raw: bytes) -> int | None: ...


class HookStore(Protocol):
    def claim_hook_event(
        self, owner: str, targets: Sequence[str], due_by: int, now: int, lease_until: int
    ) -> HookEvent | None:
        """The oldest event for one of ``targets`` that is pending and due by ``due_by`` (or
        sending, its lease expired), its attempts counted; None when there is none."""
        ...

    def finish_hook_event(
        self,
        owner: str,
        event: HookEvent,
        state: str,
        now: int,
        *,
        next_attempt_at: int,
        exit_status: int | None,
        error: str | None,
    ) -> bool: ...

    def hook_events_due_now(self, targets: Sequence[str], now: int) -> int:
        """Every undelivered event (given up ones too) pending and due at ``now``."""
        ...


@dataclass(frozen=True)
class Policy:
    timeout_ms: int = 10_000
    backoff_s: tuple[int, ...] = (10, 60, 300, 1800, 7200)
    max_attempts: int = 20


@dataclass
class HookSummary:
    delivered: int = 0
    retrying: int = 0
    gave_up: int = 0
    errors: list[str] = field(default_factory=list)  # one line per failed delivery


def retry_at(policy: Policy, attempts: int, now: int) -> int:
    """After the ``attempts``-th failure: the backoff's step for it, the last step repeated."""
    steps = policy.backoff_s
    return now + steps[min(attempts, len(steps)) - 1] * 1000


def deliver_due(
    store: HookStore,
    sinks: Mapping[str, Sink],
    clock: Clock,
    owner: str,
    policy: Policy,
    *,
    everything: bool = False,
    limit: int = 1000,
) -> HookSummary:
    """Deliver the events due when this starts, one claimed at a time (or up to ``limit``). One
    that fails is due again later, never again in this run, and its target is not tried again in
    this run either: a receiver that is down costs one timeout per pass, not one per event.
    ``everything``: every undelivered event, whatever its schedule, given up ones too."""
    summary = HookSummary()
    targets = sorted(sinks)
    if not targets:
        return summary
    start = clock.now_ms()
    if everything:
        store.hook_events_due_now(targets, start)
    for _ in range(limit):
        if not targets:
            break
        now = clock.now_ms()
        lease = now + policy.timeout_ms + LEASE_MARGIN_MS
        event = store.claim_hook_event(owner, targets, start, now, lease)
        if event is None:
            break
        try:
            status = sinks[event.target].deliver(event.event_id, event.payload.encode())
        except HookFailed as exc:
            _failed(store, owner, event, clock, policy, exc, summary)
            targets.remove(event.target)
            continue
        store.finish_hook_event(
            owner,
            event,
            DELIVERED,
            clock.now_ms(),
            next_attempt_at=event.next_attempt_at,
            exit_status=status,
            error=None,
        )
        summary.delivered += 1
    return summary


def _failed(
    store: HookStore,
    owner: str,
    event: HookEvent,
    clock: Clock,
    policy: Policy,
    exc: HookFailed,
    summary: HookSummary,
) -> None:
    now = clock.now_ms()
    gave_up = event.attempts >= policy.max_attempts
    store.finish_hook_event(
        owner,
        event,
        GAVE_UP if gave_up else PENDING,
        now,
        next_attempt_at=retry_at(policy, event.attempts, now),
        exit_status=exc.exit_status,
        error=exc.message,
    )
    summary.gave_up += gave_up
    summary.retrying += not gave_up
    summary.errors.append(
        f"{event.target}: event {event.event_id} not delivered (attempt {event.attempts}): "
        f"{exc.message}" + ("; given up" if gave_up else "")
    )
