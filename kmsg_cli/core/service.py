"""The send use case: plan (compose, route, price) then execute (journal, call, record).

Everything that sends — `kmsg send`, bulk, the queue, failover — goes through ``execute`` so the
journal-before-send rule holds everywhere (Q-18): a message is written before its provider is
called, and a message whose idempotency key is already recorded is never sent again.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from kmsg_cli.core import phone
from kmsg_cli.core.compose import Composed, Draft, compose
from kmsg_cli.core.models import Message, MessageType, SendResult, Status
from kmsg_cli.core.ports import Clock, JournalStore, Provider
from kmsg_cli.core.routing import route
from kmsg_cli.core.schedule import Schedule
from kmsg_cli.errors import ConfigError, InputError, KmsgError, ProviderError

ACCEPTED, REJECTED, UNKNOWN = "accepted", "rejected", "unknown"
DUPLICATE, SUPPRESSED = "duplicate", "suppressed"  # never sent: already sent / opted out
QUEUED = "queued"  # held in the local queue (kmsg_jobs) until its time


@dataclass(frozen=True)
class Planned:
    message: Message
    route: tuple[str, ...]
    reason: str
    bytes: int
    warnings: tuple[str, ...] = ()
    cost: float | None = None


@dataclass
class Outcome:
    message: Message
    provider_id: str
    state: str  # accepted | rejected | unknown | duplicate | suppressed
    result: SendResult | None = None
    error: KmsgError | None = None
    existing: Any = None  # the earlier record, for duplicates
    job: Any = None  # the kmsg_jobs row, for queued messages


@dataclass
class Env:
    """What the use cases need from the outside world, injected by the composition root."""

    clock: Clock
    store: Callable[[], JournalStore]
    provider: Callable[[str], Provider]  # builds (and resolves secrets) on first use
    capabilities: Mapping[str, frozenset[MessageType]]
    default_senders: Mapping[str, str | None]
    native_failover: Mapping[str, bool]
    routing_default: str | None = None
    routing_strategy: str = "first"
    routing_by_type: Mapping[str, str | list[str]] = field(default_factory=dict)
    auto_lms_bytes: int = 90
    prices: Mapping[str, float] = field(default_factory=dict)
    schedule: Schedule = field(default_factory=Schedule)
    warn: Callable[[str], None] = lambda _msg: None


def new_message_id(now_ms: int) -> str:
    """Time-ordered, 32 hex characters (fits SOLAPI customFields)."""
    return f"{now_ms:012x}{secrets.token_hex(10)}"


def plan(draft: Draft, recipients: Sequence[str], env: Env) -> list[Planned]:
    """Validate, render and route one draft for each recipient. Nothing is written or sent."""
    if not recipients:
        raise InputError("no recipient", hint="pass --to NUMBER")
    seen: set[str] = set()
    planned = []
    for raw in recipients:
        key = draft.idempotency_key
        if key and len(recipients) > 1:
            key = f"{key}:{raw.strip()}"
        item = plan_one(replace(draft, idempotency_key=key), raw, env)
        if item.message.to in seen:
            raise InputError(
                f"recipient {item.message.to[:3]}-****-{item.message.to[-4:]} is listed twice"
            )
        seen.add(item.message.to)
        planned.append(item)
    return planned


def plan_one(
    draft: Draft, to: str, env: Env, message_id: str | None = None, *, preview: bool = False
) -> Planned:
    """One recipient. ``preview``: for counting only, so a round-robin cursor is not moved."""
    now = env.clock.now_ms()
    composed: Composed = compose(
        draft, to, message_id or new_message_id(now), auto_lms_bytes=env.auto_lms_bytes
    )
    message = composed.message
    ids, reason = route(
        message.type,
        explicit=draft.provider_id,
        by_type=env.routing_by_type,
        default=env.routing_default,
        strategy=env.routing_strategy,
        capabilities=env.capabilities,
        advance=(lambda _k, _n: 0) if preview else lambda k, n: env.store().advance_cursor(k, n),
    )
    message = for_provider(message, ids[0], env)
    price = env.prices.get(message.type.value)
    return Planned(message, tuple(ids), reason, composed.bytes, composed.warnings, price)


def for_provider(message: Message, provider_id: str, env: Env) -> Message:
    """Fill what depends on the provider: its default sender, and the failover path (FO-4, FO-7)."""
    default = env.default_senders.get(provider_id)
    # a configured default sender obeys the same rules as --from (sender-number registration)
    sender = message.sender or (phone.sender(default) if default else None)
    mode = None
    if message.failover is not None:
        mode = "native" if env.native_failover.get(provider_id) else "api"
        if not sender:
            raise ConfigError(
                f"failover needs a sender number and provider {provider_id!r} has no default",
                hint="pass --from NUMBER or set default_from for the provider",
            )
    if sender == message.sender and mode == message.failover_mode:
        return message
    return replace(message, sender=sender, failover_mode=mode)


def execute(planned: Sequence[Planned], env: Env) -> list[Outcome]:
    """Send planned messages through their routes, batching per provider."""
    outcomes: list[Outcome] = []
    groups: dict[tuple[str, ...], list[Planned]] = {}
    for item in planned:
        groups.setdefault(item.route, []).append(item)
    for route_ids, items in groups.items():
        size = max(1, env.provider(route_ids[0]).max_batch)
        for start in range(0, len(items), size):
            outcomes.extend(
                _send_chunk([p.message for p in items[start : start + size]], route_ids, env)
            )
    return outcomes


def _send_chunk(messages: list[Message], route_ids: Sequence[str], env: Env) -> list[Outcome]:
    store = env.store()
    # the opt-out list is read at send time, so a queued or resumed message honours it too
    blocked = store.suppressed(m.to for m in messages)
    suppressed = [
        Outcome(
            m, route_ids[0], SUPPRESSED, error=InputError("recipient is on the suppression list")
        )
        for m in messages
        if m.to in blocked
    ]
    messages = [m for m in messages if m.to not in blocked]
    return suppressed + _journal_and_send(messages, route_ids, env) if messages else suppressed


def _journal_and_send(messages: list[Message], route_ids: Sequence[str], env: Env) -> list[Outcome]:
    store = env.store()
    existing = store.journal([(m, route_ids[0]) for m in messages], env.clock.now_ms())
    outcomes = [
        Outcome(
            m,
            existing[m.idempotency_key].provider_id,
            DUPLICATE,
            existing=existing[m.idempotency_key],
        )
        for m in messages
        if m.idempotency_key and m.idempotency_key in existing
    ]
    pending = [m for m in messages if not (m.idempotency_key and m.idempotency_key in existing)]
    for position, provider_id in enumerate(route_ids):
        if not pending:
            break
        if position:
            pending = [for_provider(m, provider_id, env) for m in pending]
            store.reroute([m.message_id for m in pending], provider_id)
        try:
            results = env.provider(provider_id).send(pending)
        except ProviderError as exc:
            exc.provider_id = exc.provider_id or provider_id
            last = position == len(route_ids) - 1
            if exc.not_accepted and not last:
                env.warn(f"{provider_id}: {exc.message}; trying {route_ids[position + 1]}")
                continue
            _record_error(store, pending, exc, env)
            state = REJECTED if exc.not_accepted else UNKNOWN
            outcomes.extend(Outcome(m, provider_id, state, error=exc) for m in pending)
            return outcomes
        except KmsgError as exc:  # a config problem of this provider (missing secret, ...)
            store.record_call_error([m.message_id for m in pending], exc, env.clock.now_ms(), 0)
            raise
        outcomes.extend(_record_results(store, pending, results, provider_id, env))
        pending = []
    return outcomes


def _record_results(
    store: JournalStore,
    messages: Sequence[Message],
    results: Sequence[SendResult],
    provider_id: str,
    env: Env,
) -> list[Outcome]:
    now = env.clock.now_ms()
    by_id = {r.message_id: r for r in results}
    checks = {m.message_id: env.schedule.first_check(now, m.scheduled_at) for m in messages}
    outcomes = []
    for m in messages:
        r = by_id.get(m.message_id)
        if r is None:  # the provider skipped it: do not assume either way (BULK-8)
            r = SendResult(
                m.message_id,
                Status.PENDING,
                code="missing",
                error="no result for this message",
                error_class="unknown_outcome",
            )
        state = ACCEPTED if r.accepted else REJECTED
        if r.error_class == "unknown_outcome":
            state = UNKNOWN
        outcomes.append(Outcome(m, provider_id, state, result=r))
    try:
        store.record_results([o.result for o in outcomes if o.result], now, checks)
    except Exception as exc:  # the provider accepted: bookkeeping errors never change that (SEND-7)
        env.warn(f"sent, but recording the result failed ({exc}); `kmsg track` will reconcile")
    return outcomes


def _record_error(
    store: JournalStore, messages: Sequence[Message], exc: ProviderError, env: Env
) -> None:
    now = env.clock.now_ms()
    store.record_call_error(
        [m.message_id for m in messages], exc, now, env.schedule.first_check(now, None)
    )


def exit_code(outcomes: Iterable[Outcome]) -> int:
    """0 all accepted; 75 if any outcome is unknown; one shared error's own code; else 1."""
    outcomes = list(outcomes)
    failed = [o for o in outcomes if o.state in (REJECTED, UNKNOWN, SUPPRESSED)]
    if not failed:
        return 0
    if any(o.state == UNKNOWN for o in failed):
        return 75
    codes = {o.error.exit_code if o.error else 1 for o in failed}
    if len(failed) == len(outcomes) and len(codes) == 1:
        return codes.pop()
    return 1
